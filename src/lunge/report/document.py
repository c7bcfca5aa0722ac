"""The report document: one plain-data view of a finished run that every writer renders.

Its JSON form is the ``.json`` report; its schema is ``docs/report.schema.json``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lunge.store.models import Finding, Severity, TestRecord, TestRun, TestSet, TestSetStatus

REPORT_VERSION = 1
SEVERITY_ORDER = [s.value for s in reversed(Severity)]


@dataclass(frozen=True, slots=True)
class ReportInput:
    """What a report is made from (read from the store by the caller)."""

    run: TestRun
    record: TestRecord
    findings: list[Finding]
    test_sets: Iterable[TestSet]
    tool_version: str


def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_section(run: TestRun) -> dict[str, Any]:
    duration = None
    if run.started_at and run.finished_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 3)
    return {
        "id": run.id, "label": run.label, "name": run.name, "description": run.description,
        "state": run.state.value, "error": run.error, "record_id": run.record_id, "build_id": run.build_id,
        "target": run.target,
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
    }
