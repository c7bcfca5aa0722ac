"""The HTML report: one self-contained file (styles and the little script inline, nothing fetched)
that a developer opens from the CI artefacts.

It shows the result and the summary, the diff against an earlier run when there is one, each
finding by severity with its evidence (the attack request, the response excerpt with the proof
highlighted, how it was confirmed, a curl line to reproduce it), which points were attacked and
which were skipped and why, and every baseline's status with the reason when it was not tested.

Rendered with Jinja2 (autoescaping on: everything recorded is hostile text) as a stream, so the
per-baseline table of a 100k-baseline run is never held in memory.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from importlib.resources import files
from typing import IO, Any

import jinja2

from lunge.report.document import SEVERITY_ORDER, ReportInput, endpoint, run_section, with_baselines
from lunge.report.evidence import curl_line, masked, split_proof
from lunge.store.models import Finding, TestSet

OPEN_FIRST = 5
_ENV = jinja2.Environment(
    loader=jinja2.FunctionLoader(lambda name: files("lunge.report").joinpath("templates", name).read_text("utf-8")),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def write_html(data: ReportInput, test_sets: Iterable[TestSet], out: IO[str]) -> None:
    statuses: Counter[str] = Counter()
    context = _context(data, _baseline_rows(data, test_sets, statuses), statuses)
    for chunk in _ENV.get_template("report.html.j2").generate(**context):
        out.write(chunk)


def _context(data: ReportInput, rows: Iterator[dict[str, Any]], statuses: Counter[str]) -> dict[str, Any]:
    run = run_section(data.run)
    by_severity = Counter(f.severity.value for f in data.findings)
    policy = data.run.stats.get("policy") or {}
    return {
        "run": run, "record": data.record, "tool_version": data.tool_version,
        "severities": [(s, by_severity.get(s, 0)) for s in SEVERITY_ORDER],
        "groups": [(s, [_finding(data, f) for f in data.findings if f.severity.value == s])
                   for s in SEVERITY_ORDER if by_severity.get(s)],
        "findings_count": len(data.findings),
        "not_tested_reasons": sorted((data.run.stats.get("not_tested_reasons") or {}).items(), key=lambda kv: -kv[1]),
        "points": {"attacked": data.run.stats.get("points_attacked", 0),
                   "lightened": data.run.stats.get("points_lightened", 0),
                   "include": policy.get("include") or [], "exclude": policy.get("exclude") or [],
                   "attack_names": bool(policy.get("attack_names")),
                   "failed_checks": data.run.stats.get("failed_checks") or {}},
        "rules": data.all_rules(),
        "diff": _diff(data),
        "rows": rows,
        # the evidence of the most severe few is unfolded; the others open from the index
        "open_ids": {f.id for f in data.findings[:OPEN_FIRST]},
        "statuses": statuses,  # filled while the rows stream; read by the template after the table
    }


def _finding(data: ReportInput, finding: Finding) -> dict[str, Any]:
    before, proof, after = split_proof(finding.response_excerpt, finding.proof)
    rule = data.rule_for(finding)
    state = data.comparison.state_of(finding).value if data.comparison is not None else None
    return {
        "f": finding, "rule": rule, "curl": curl_line(finding), "diff_state": state,
        "excerpt": (masked(before), proof, masked(after)),
        "controls": [{"label": c.get("label", ""), "payload": c.get("payload", ""), "status": c.get("status"),
                      "error": c.get("error") or "", "elapsed_s": c.get("elapsed_s", ""),
                      "excerpt": masked(str(c.get("excerpt") or ""))} for c in finding.controls],
    }


def _diff(data: ReportInput) -> dict[str, Any] | None:
    c = data.comparison
    if c is None:
        return None
    return {"previous": c.previous, "new": len(c.new), "still_present": len(c.still_present), "fixed": c.fixed}


def _baseline_rows(data: ReportInput, test_sets: Iterable[TestSet], statuses: Counter[str]
                   ) -> Iterator[dict[str, Any]]:
    baselines = data.baselines() if data.baselines is not None else None
    for test_set, baseline in with_baselines(test_sets, baselines):
        statuses[test_set.status.value] += 1
        yield {"id": f"bl_{test_set.baseline_id}", "endpoint": masked(endpoint(baseline, test_set.baseline_id)),
               "status": test_set.status.value, "reason": test_set.reason, "points": test_set.points_tested,
               "requests": test_set.requests_sent, "findings": test_set.findings_count}
