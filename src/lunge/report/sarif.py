"""The SARIF 2.1.0 report (OASIS Static Analysis Results Interchange Format), for GitHub code
scanning and the other tools that read it.

One rule per check (its CWE as a tag and as the help link, the check's description and fix as
help text, GitHub's ``security-severity``), one result per finding. A finding is tracked across
builds by ``partialFingerprints``: its fingerprint (check, method, normalised path, point) does
not change when the payload or the target's host does, so code scanning shows one alert, opened
by the first build that finds it and closed by the first that no longer does. Results carry the
attack as SARIF's ``webRequest`` and the response as ``webResponse`` (SARIF 2.1.0 §3.46, §3.47).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any
from urllib.parse import quote, unquote, urlsplit

from lunge.report.diff import DiffState
from lunge.report.document import ReportInput, Rule, run_section
from lunge.report.evidence import attack_url, curl_line
from lunge.store.models import Finding, RunState, TestSet

SARIF_SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
FINGERPRINT_KEY = "lungeFinding/v1"
_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
# GitHub's scale: 9.0+ critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "0.0"}


def write_sarif(data: ReportInput, test_sets: Iterable[TestSet], out: IO[str]) -> None:
    json.dump(sarif_log(data), out, indent=2, ensure_ascii=False, default=str)
    out.write("\n")


def sarif_log(data: ReportInput) -> dict[str, Any]:
    """The whole SARIF log of a run."""
    rules = data.all_rules()
    index = {rule.id: i for i, rule in enumerate(rules)}
    run = data.run
    invocation: dict[str, Any] = {"executionSuccessful": run.state not in (RunState.ERROR, RunState.INTERRUPTED)}
    if run.started_at:
        invocation["startTimeUtc"] = run.started_at.isoformat()
    if run.finished_at:
        invocation["endTimeUtc"] = run.finished_at.isoformat()
    if run.error:
        invocation["toolExecutionNotifications"] = [{"level": "error", "message": {"text": run.error}}]
    properties: dict[str, Any] = {"run": run_section(run)}
    if data.comparison is not None:
        properties["comparison"] = data.comparison.summary()
    bases = _uri_bases(data.findings)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "lunge", "version": data.tool_version, "semanticVersion": data.tool_version,
                                "rules": [_rule(r) for r in rules]}},
            "automationDetails": {"id": f"lunge/{run.build_id or 'run'}/{run.label}"},
            "invocations": [invocation],
            "originalUriBaseIds": {name: {"uri": origin} for origin, name in bases.items()},
            "results": [_result(data, f, index[f.check_id], bases) for f in data.findings],
            "properties": properties,
        }],
    }


def _rule(rule: Rule) -> dict[str, Any]:
    help_text = rule.description + (f"\n\nFix: {rule.remediation}" if rule.remediation else "")
    cwe_url = f"https://cwe.mitre.org/data/definitions/{rule.cwe}.html"
    return {
        "id": rule.id,
        "name": "".join(word.capitalize() for word in rule.id.split("-")),
        "shortDescription": {"text": rule.title},
        "fullDescription": {"text": rule.description or rule.title},
        "help": {"text": f"{help_text}\n\nCWE-{rule.cwe}: {cwe_url}",
                 "markdown": f"{help_text}\n\n[CWE-{rule.cwe}]({cwe_url})"},
        "helpUri": cwe_url,
        "defaultConfiguration": {"level": _LEVEL.get(rule.severity, "warning")},
        "properties": {"tags": ["security", f"external/cwe/cwe-{rule.cwe}", rule.family],
                       "security-severity": _SECURITY_SEVERITY.get(rule.severity, "5.5"),
                       "precision": "high", "problem.severity": _LEVEL.get(rule.severity, "warning")},
    }


def _uri_bases(findings: list[Finding]) -> dict[str, str]:
    """Each target origin (``http://app:3000/``) and its ``uriBaseId`` (TARGET, TARGET2 ...).

    GitHub code scanning rejects absolute ``http`` URIs in a location ("URI scheme did not match
    the checkout URI scheme"): a result names its endpoint by a path relative to its origin, and
    the origins are kept here (SARIF 2.1.0 §3.14.14)."""
    bases: dict[str, str] = {}
    for finding in findings:
        parts = urlsplit(finding.url)
        origin = f"{parts.scheme}://{parts.netloc}/"
        bases.setdefault(origin, "TARGET" if not bases else f"TARGET{len(bases) + 1}")
    return bases


def _location(finding: Finding, bases: dict[str, str]) -> dict[str, Any]:
    parts = urlsplit(finding.url)
    # the endpoint's path, relative; ':' would make it read as a scheme, so it is escaped
    path = quote(unquote(parts.path).lstrip("/"), safe="/@!$&'()*+,;=-._~") or "index"
    return {"uri": path, "uriBaseId": bases[f"{parts.scheme}://{parts.netloc}/"]}


def _result(data: ReportInput, finding: Finding, rule_index: int, bases: dict[str, str]) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "finding": finding.label, "baseline": f"bl_{finding.baseline_id}", "confidence": finding.confidence.value,
        "severity": finding.severity.value, "cwe": finding.cwe, "payload": finding.payload,
        "proof": finding.proof, "confirmation": finding.confirmation, "curl": curl_line(finding),
    }
    extra: dict[str, Any] = {}
    if data.comparison is not None:
        state = data.comparison.state_of(finding)
        properties["diff"] = state.value
        # SARIF 2.1.0 §3.27.24: the result's state against the baseline run compared with
        extra["baselineState"] = "new" if state is DiffState.NEW else "unchanged"
    return {
        "ruleId": finding.check_id,
        "ruleIndex": rule_index,
        "level": _LEVEL.get(finding.severity.value, "warning"),
        "message": {"text": f"{finding.title} in {finding.point} of {finding.method} {finding.url} "
                            f"(payload {finding.payload!r}). Confirmed: {finding.confirmation}"},
        "locations": [{
            "physicalLocation": {"artifactLocation": _location(finding, bases), "region": {"startLine": 1}},
            "logicalLocations": [{"name": finding.point, "fullyQualifiedName": f"{finding.method} {finding.url} "
                                                                               f"{finding.point}",
                                  "kind": "parameter"}],
        }],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "webRequest": _web_request(finding),
        "webResponse": {"statusCode": finding.response_status, "body": {"text": finding.response_excerpt}},
        "properties": properties,
    } | extra


def _web_request(finding: Finding) -> dict[str, Any]:
    head, _, body = finding.attack_request.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    first = lines[0].split(" ")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if colon:
            headers[name.strip()] = (headers[name.strip()] + ", " if name.strip() in headers else "") + value.strip()
    protocol, _, version = (first[2] if len(first) > 2 else "HTTP/1.1").partition("/")
    request: dict[str, Any] = {"protocol": protocol, "version": version, "method": first[0] or finding.method,
                               "target": attack_url(finding), "headers": headers}
    if body:
        request["body"] = {"text": body}
    return request
