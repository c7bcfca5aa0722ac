"""A run's report in any format the report writers know, written to a temporary file that the
response streams and then deletes (a report over a big record is never held in memory)."""

from __future__ import annotations

import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from lunge import __version__
from lunge.checks import load
from lunge.control.context import Control
from lunge.control.services import runs
from lunge.policy import DEFAULT_CHECKS
from lunge.report import FORMATS, Comparison, ReportInput, Rule, compare, write_reports
from lunge.store.models import Finding, TestRun

MEDIA_TYPES = {"txt": "text/plain; charset=utf-8", "json": "application/json", "html": "text/html; charset=utf-8",
               "sarif": "application/sarif+json", "junit": "application/xml", "md": "text/markdown; charset=utf-8"}


def rules_for(run: TestRun) -> tuple[Rule, ...]:
    """The checks the run's policy named, as report rules (as ``lunge report`` does)."""
    registry = load()
    names = (run.stats.get("policy") or {}).get("checks") or list(DEFAULT_CHECKS)
    try:
        checks = registry.select(names)
    except KeyError:
        checks = list(registry)
    return tuple(Rule(c.id, c.title, c.kind, c.severity.value, c.cwe, c.description, c.remediation) for c in checks)


def _comparison(control: Control, run: TestRun, findings: list[Finding]) -> Comparison | None:
    """The diff against the run this one was compared with when it was ordered (``compare_to``)."""
    compare_to = (run.stats.get("order") or {}).get("compare_to")
    if compare_to is None:
        return None
    previous = control.store.get_run(int(compare_to))
    return compare(previous, control.store.iter_findings(previous.id), findings)


def write(control: Control, project_id: int, run_id: int, fmt: str) -> tuple[Path, Path]:
    """(the report file, the temporary directory to delete after sending it)."""
    if fmt not in FORMATS:
        raise ValueError(fmt)
    run = runs.get(control, project_id, run_id)
    store = control.store
    record = store.get_record(run.record_id)
    findings = list(store.iter_findings(run.id))
    data = ReportInput(run, record, findings, (), __version__, rules=rules_for(run),
                       baselines=lambda: store.iter_baselines(record.id),
                       comparison=_comparison(control, run, findings))
    directory = Path(tempfile.mkdtemp(prefix="lunge-report-"))
    try:
        stamp = int((run.finished_at or datetime.now(UTC)).timestamp())
        [path] = write_reports(data, directory, [fmt], stamp, lambda: store.iter_test_sets(run.id))
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return path, directory
