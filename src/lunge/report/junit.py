"""The JUnit XML report, for the CI's test tab (GitHub test reporters, GitLab's ``reports: junit``,
Jenkins' ``junit`` step).

One test case per baseline and check family (the checks' kinds: sqli, xss, rce ...): it passes when
the family found nothing there, and each finding is a test case of its own with one ``<failure>``
(so the failure count is the finding count), except, under ``fail_on: new``, a finding already in
the run compared with: it does not fail the build, so its case is ``<skipped>`` saying so. A
baseline that was not tested is a ``<skipped>`` case per family saying why; one whose testing
failed is an ``<error>``. The test cases are written to a
spool file first, since the ``<testsuite>`` element must carry the totals before them: memory stays
flat for any record.
"""

from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO

from lunge.report.document import ReportInput, endpoint, with_baselines
from lunge.report.evidence import curl_line, masked
from lunge.store.models import Baseline, Finding, TestSet, TestSetStatus

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SPOOL_BYTES = 8 * 1024 * 1024


def _x(text: object) -> str:
    """Text safe in XML 1.0 content and in a double-quoted attribute (control bytes become U+FFFD)."""
    cleaned = _NOT_XML.sub("\ufffd", str(text))
    return (cleaned.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
            .replace("\n", "&#10;").replace("\r", "&#13;").replace("\t", "&#9;"))


def _body(text: object) -> str:
    """Element content: line breaks kept as they are."""
    return _NOT_XML.sub("\ufffd", str(text)).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass(slots=True)
class _Totals:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0


def write_junit(data: ReportInput, test_sets: Iterable[TestSet], out: IO[str]) -> None:
    families = sorted({rule.family for rule in data.all_rules()})
    by_baseline: dict[int, list[Finding]] = defaultdict(list)
    for finding in data.findings:
        by_baseline[finding.baseline_id].append(finding)
    totals = _Totals()
    baselines = data.baselines() if data.baselines is not None else None
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES, mode="w+", encoding="utf-8") as spool:
        for test_set, baseline in with_baselines(test_sets, baselines):
            findings = by_baseline.pop(test_set.baseline_id, [])
            _cases(spool, data, test_set, baseline, families, findings, totals)
        for baseline_id, findings in sorted(by_baseline.items()):  # a finding whose test set is missing
            orphan = TestSet(data.run.id, baseline_id, TestSetStatus.FAILED)
            _cases(spool, data, orphan, None, [], findings, totals)
        run = data.run
        if run.error:  # a run in error (low replay coverage, nothing tested) must not read as green
            totals.tests += 1
            totals.errors += 1
            spool.write(f'    <testcase classname="{_x(run.label)}" name="the test run">\n'
                        f'      <error message="{_x(run.error)}" type="{_x(run.state.value)}"/>\n    </testcase>\n')
        seconds = (run.finished_at - run.started_at).total_seconds() if run.finished_at and run.started_at else 0.0
        name = _x(f"lunge {run.name} ({run.label})")
        counts = (f'tests="{totals.tests}" failures="{totals.failures}" errors="{totals.errors}" '
                  f'skipped="{totals.skipped}" time="{seconds:.3f}"')
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(f'<testsuites name="{name}" {counts}>\n')
        stamp = f' timestamp="{run.started_at.replace(tzinfo=None).isoformat(timespec="seconds")}"' \
            if run.started_at else ""
        host = masked(run.target) if run.target else "as recorded"
        out.write(f'  <testsuite name="{name}" {counts}{stamp} hostname="{_x(host)}">\n')
        out.write(f'    <properties><property name="run" value="{_x(run.label)}"/>'
                  f'<property name="state" value="{_x(run.state.value)}"/>'
                  f'<property name="record" value="{_x(data.record.label)}"/>'
                  f'<property name="build_id" value="{_x(run.build_id or "")}"/>{_diff_properties(data)}'
                  '</properties>\n')
        spool.seek(0)
        while chunk := spool.read(1 << 16):
            out.write(chunk)
        out.write("  </testsuite>\n</testsuites>\n")


def _cases(out: IO[str], data: ReportInput, test_set: TestSet, baseline: Baseline | None, families: list[str],
           findings: list[Finding], totals: _Totals) -> None:
    classname = _x(f"bl_{test_set.baseline_id} {masked(endpoint(baseline, test_set.baseline_id))}")
    found = {data.rule_for(f).family for f in findings}
    for finding in findings:
        totals.tests += 1
        name = _x(f"{data.rule_for(finding).family}: {finding.check_id} in {finding.point}")
        message = _x(f"[{finding.severity.value}] {finding.title} in {finding.point} "
                     f"(payload {finding.payload!r}); {finding.label}")
        detail = (f"{finding.method} {finding.url}\npoint: {finding.point}\npayload: {finding.payload}\n"
                  f"proof: {finding.proof}\nconfirmed: {finding.confirmation}\nCWE-{finding.cwe}, "
                  f"{finding.confidence.value} confidence, fingerprint {finding.fingerprint}\n\n"
                  f"attack request:\n{finding.attack_request}\n\nresponse:\n{masked(finding.response_excerpt)}\n\n"
                  f"reproduce:\n{curl_line(finding)}\n")
        if data.excused(finding):  # fail_on: new and already in the run compared with: not a build failure
            totals.skipped += 1
            assert data.comparison is not None
            why = _x(f"still present since {data.comparison.previous.label}; fail_on: new fails the build on "
                     f"new findings only: {finding.title} in {finding.point}; {finding.label}")
            out.write(f'    <testcase classname="{classname}" name="{name}">\n'
                      f'      <skipped message="{why}"/>\n      <system-out>{_body(detail)}</system-out>\n'
                      f"    </testcase>\n")
            continue
        totals.failures += 1
        out.write(f'    <testcase classname="{classname}" name="{name}">\n'
                  f'      <failure message="{message}" type="{_x(finding.check_id)}">{_body(detail)}</failure>\n'
                  f"    </testcase>\n")
    for family in families:
        if family in found:
            continue
        totals.tests += 1
        out.write(f'    <testcase classname="{classname}" name="{_x(family)}"')
        out.write(_outcome(test_set, totals))


def _diff_properties(data: ReportInput) -> str:
    c = data.comparison
    if c is None:
        return ""
    return (f'<property name="compared_with" value="{_x(c.previous.label)}"/>'
            f'<property name="new" value="{len(c.new)}"/>'
            f'<property name="still_present" value="{len(c.still_present)}"/>'
            f'<property name="fixed" value="{len(c.fixed)}"/>')


def _outcome(test_set: TestSet, totals: _Totals) -> str:
    """The end of a family's test case: passed, skipped (not tested, interrupted) or error."""
    status = test_set.status
    if status is TestSetStatus.NOT_TESTED:
        totals.skipped += 1
        return f'>\n      <skipped message="{_x("not tested because " + (test_set.reason or "no reason given"))}"/>' \
               "\n    </testcase>\n"
    if status is TestSetStatus.INTERRUPTED:
        totals.skipped += 1
        return f'>\n      <skipped message="{_x("interrupted: " + (test_set.reason or "the run stopped"))}"/>' \
               "\n    </testcase>\n"
    if status is TestSetStatus.ERROR:
        totals.errors += 1
        return f'>\n      <error message="{_x(test_set.reason or "testing this baseline failed")}"/>\n    </testcase>\n'
    return "/>\n"
