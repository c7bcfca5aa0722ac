"""The report document: one plain-data view of a finished run that every writer renders.

Its JSON form is the ``.json`` report; its schema is ``docs/report.schema.json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lunge.logs import mask_secrets
from lunge.report.diff import Comparison, DiffState
from lunge.store.models import Baseline, Finding, Severity, TestRecord, TestRun, TestSet, TestSetStatus

REPORT_VERSION = 1
SEVERITY_ORDER = [s.value for s in reversed(Severity)]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a report says about one check: SARIF's rule, the HTML report's help text.

    ``family`` is the check's kind (FAST's type code): the JUnit report has a test case per
    baseline and family."""

    id: str
    title: str
    family: str
    severity: str
    cwe: int
    description: str
    remediation: str = ""


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What a report is made from (read from the store by the caller).

    ``rules`` are the run's checks; ``baselines`` gives a fresh iterator of the record's baselines
    in id order (the HTML and JUnit reports name each baseline's endpoint; streamed, never all held);
    ``comparison`` is the diff against an earlier run's findings, when one was asked for."""

    run: TestRun
    record: TestRecord
    findings: list[Finding]
    test_sets: Iterable[TestSet]
    tool_version: str
    rules: tuple[Rule, ...] = ()
    baselines: Callable[[], Iterable[Baseline]] | None = None
    comparison: Comparison | None = None

    def excused(self, finding: Finding) -> bool:
        """Whether ``finding`` does not fail the build because it was already in the run compared
        with, under ``fail_on: new`` (the run's verdict was made so: ``stats.fail_on_new``)."""
        return (self.comparison is not None and bool(self.run.stats.get("fail_on_new"))
                and self.comparison.state_of(finding) is DiffState.STILL_PRESENT)

    def rule_for(self, finding: Finding) -> Rule:
        """The finding's check as a rule (made from the finding itself for a check the run no
        longer names, e.g. a plugin that was uninstalled before ``lunge report``)."""
        for rule in self.rules:
            if rule.id == finding.check_id:
                return rule
        return Rule(finding.check_id, finding.title, finding.check_id.split("-")[0], finding.severity.value,
                    finding.cwe, finding.title)

    def all_rules(self) -> list[Rule]:
        """The run's rules and one for each finding's check that is not among them."""
        rules = {rule.id: rule for rule in self.rules}
        for finding in self.findings:
            rules.setdefault(finding.check_id, self.rule_for(finding))
        return list(rules.values())


def endpoint(baseline: Baseline | None, baseline_id: int) -> str:
    """``GET http://app/path?x=1`` of a baseline, or its id when the record no longer has it."""
    if baseline is None:
        return f"bl_{baseline_id}"
    return f"{baseline.request.method} {baseline.request.url}"


def with_baselines(test_sets: Iterable[TestSet], baselines: Iterable[Baseline] | None
                   ) -> Iterator[tuple[TestSet, Baseline | None]]:
    """Each test set with its baseline, by a merge of two id-ordered streams (the store gives test
    sets by baseline id and baselines by seq, which follows id): flat memory for any record."""
    source = iter(baselines) if baselines is not None else iter(())
    current = next(source, None)
    for test_set in test_sets:
        while current is not None and current.id < test_set.baseline_id:
            current = next(source, None)
        yield test_set, current if current is not None and current.id == test_set.baseline_id else None


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_section(run: TestRun) -> dict[str, Any]:
    duration = None
    if run.started_at and run.finished_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 3)
    return {
        "id": run.id, "label": run.label, "name": run.name, "description": run.description,
        "state": run.state.value, "error": run.error, "record_id": run.record_id, "build_id": run.build_id,
        "target": mask_secrets(run.target) if run.target else run.target,
        "policy": run.policy_name, "created_at": _time(run.created_at), "started_at": _time(run.started_at),
        "finished_at": _time(run.finished_at), "duration_s": duration, "requests_sent": run.requests_sent,
        # what keeping the application's state cost (setup prefixes, renewed values), beside the attacks
        "requests_setup": run.stats.get("requests_setup"), "requests_attack": run.stats.get("requests_attack"),
        "baselines_total": run.baselines_total, "baselines_tested": run.baselines_tested,
        "baselines_not_tested": run.baselines_not_tested,
        "replay_coverage": run.stats.get("replay_coverage"), "findings_count": run.findings_count,
        "stats": run.stats,
    }


def record_section(record: TestRecord) -> dict[str, Any]:
    return {"id": record.id, "label": record.label, "name": record.name, "build_id": record.build_id,
            "state": record.state.value, "baseline_count": record.baseline_count,
            "created_at": _time(record.created_at)}


def finding_section(finding: Finding) -> dict[str, Any]:
    return {
        "id": finding.id, "label": finding.label, "check_id": finding.check_id, "title": finding.title,
        "severity": finding.severity.value, "confidence": finding.confidence.value, "cwe": finding.cwe,
        "method": finding.method, "url": finding.url, "point": finding.point, "payload": finding.payload,
        "baseline_id": finding.baseline_id, "fingerprint": finding.fingerprint,
        "confirmation": finding.confirmation,
        "evidence": {"attack_request": finding.attack_request, "response_status": finding.response_status,
                     "response_excerpt": finding.response_excerpt, "proof": finding.proof},
        "controls": finding.controls, "details": finding.details,
    }


def test_set_section(test_set: TestSet) -> dict[str, Any]:
    return {"baseline_id": test_set.baseline_id, "status": test_set.status.value, "reason": test_set.reason,
            "requests_sent": test_set.requests_sent, "findings_count": test_set.findings_count,
            "points_tested": test_set.points_tested}


def summary(findings: list[Finding], statuses: Counter[str]) -> dict[str, Any]:
    by_severity = Counter(f.severity.value for f in findings)
    return {
        "findings_by_severity": {s: by_severity.get(s, 0) for s in SEVERITY_ORDER},
        "baselines": {s.value: statuses.get(s.value, 0) for s in TestSetStatus},
    }


def head(data: ReportInput, statuses: Counter[str]) -> dict[str, Any]:
    """Everything but the per-baseline list (which the JSON writer streams)."""
    return {
        "lunge_report_version": REPORT_VERSION,
        "tool": {"name": "lunge", "version": data.tool_version},
        "run": run_section(data.run),
        "record": record_section(data.record),
        "summary": summary(data.findings, statuses),
        "findings": [finding_section(f) for f in data.findings],
    } | ({"comparison": data.comparison.summary()} if data.comparison is not None else {})
