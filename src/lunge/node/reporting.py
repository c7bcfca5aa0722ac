"""Writing a run's reports from the store: what the report writers need besides the run and its
findings (the checks as rules, the record's baselines, the diff against an earlier run), and
choosing that earlier run (``--compare-to RUN_ID|latest|none``) before the run starts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from lunge import __version__
from lunge.checks import load, passive
from lunge.engine.outcome import Earlier
from lunge.errors import ConfigError, NotFoundError, SettingError
from lunge.policy import DEFAULT_CHECKS, TestPolicy
from lunge.report import Comparison, ReportInput, Rule, compare, write_reports
from lunge.store import Store
from lunge.store.models import Baseline, Finding, RunState, TestRecord, TestRun, parse_id

_COMPARABLE = (RunState.PASSED, RunState.FAILED)  # runs that finished testing every baseline


def rules_for(run: TestRun) -> tuple[Rule, ...]:
    """The checks the run's policy named, as report rules (every known check when the policy's
    names no longer resolve, e.g. a plugin was removed)."""
    registry = load()
    names = (run.stats.get("policy") or {}).get("checks") or list(DEFAULT_CHECKS)
    try:
        checks = registry.select(names)
    except KeyError:
        checks = list(registry)
    rules = [Rule(c.id, c.title, c.kind, c.severity.value, c.cwe, c.description, c.remediation) for c in checks]
    if (run.stats.get("policy") or {}).get("passive", True):  # the passive rules ran too
        rules += [Rule(r.id, r.title, r.kind, r.severity.value, r.cwe, r.description, r.remediation)
                  for r in passive.load()]
    return tuple(rules)


def previous_run(store: Store, spec: str, current: TestRun | None, build_id: str | None = None) -> TestRun:
    """The run ``spec`` names (an id such as 7 or run_0007), or for ``latest`` the newest run
    other than ``current`` that finished (passed or failed), of the same BUILD_ID (``current``'s,
    else ``build_id``) when it has one. ``none`` names no run (NotFoundError: every finding new)."""
    if spec.strip().lower() == "none":
        raise NotFoundError("compared with no run")
    if spec.strip().lower() == "latest":
        build_id = current.build_id if current is not None else build_id
        candidates = [r for r in store.list_runs(1000)
                      if (current is None or r.id != current.id) and r.state in _COMPARABLE]
        same_build = [r for r in candidates if build_id and r.build_id == build_id]
        if not candidates:
            raise NotFoundError("no earlier finished run to compare with")
        return (same_build or candidates)[0]
    run_id = parse_id(spec)
    if run_id is None:
        raise SettingError("--compare-to", spec, "a run id such as 7 or run_0007, latest or none")
    try:
        return store.get_run(run_id)
    except NotFoundError as exc:  # bad input (exit 2), as an unknown TEST_RECORD_ID is
        raise ConfigError(f"--compare-to (LUNGE_COMPARE_TO)={spec!r}: no such test run; "
                          "lunge runs lists them") from exc


def comparison_with(store: Store, spec: str | None, run: TestRun, findings: Iterable[Finding]) -> Comparison | None:
    """The diff of ``run`` against the run ``spec`` names; None without ``spec`` or, for ``latest``,
    when no earlier run finished (the first build: every finding is new, as without a diff)."""
    if not spec:
        return None
    try:
        previous = previous_run(store, spec, run)
    except NotFoundError:
        return None
    return compare(previous, store.iter_findings(previous.id), findings)


def write_run_reports(store: Store, run: TestRun, record: TestRecord, findings: list[Finding], directory: Path,
                      formats: tuple[str, ...], comparison: Comparison | None = None) -> list[Path]:
    """Every requested report of ``run``, streaming its test sets and the record's baselines."""

    def baselines() -> Iterable[Baseline]:
        return store.iter_baselines(record.id)

    data = ReportInput(run, record, findings, (), __version__, rules=rules_for(run), baselines=baselines,
                       comparison=comparison)
    stamp = int((run.finished_at or datetime.now(UTC)).timestamp())
    return write_reports(data, directory, formats, stamp, lambda: store.iter_test_sets(run.id))


def earlier_run(store: Store, spec: str | None, policy: TestPolicy, build_id: str | None) -> TestRun | None:
    """The run a new run is compared with, chosen before it starts so that its verdict is decided
    once (:func:`lunge.engine.outcome.decide`): ``spec`` (``--compare-to``), else ``latest`` under
    ``fail_on: new``; None without either, or for ``latest`` when no earlier run finished (the first
    build: every finding is new)."""
    spec = spec or ("latest" if policy.fail_on_new else None)
    if not spec:
        return None
    try:
        return previous_run(store, spec, None, build_id)
    except NotFoundError:
        return None


def earlier_of(store: Store, previous: TestRun | None) -> Earlier | None:
    """What the engine's verdict needs of the run compared with: its findings' fingerprints."""
    if previous is None:
        return None
    return Earlier(previous.id, previous.label, frozenset(f.fingerprint for f in store.iter_findings(previous.id)))


def comparison_of(store: Store, previous: TestRun | None, findings: Iterable[Finding]) -> Comparison | None:
    """The diff of a run's ``findings`` against ``previous`` (for the reports)."""
    return compare(previous, store.iter_findings(previous.id), findings) if previous is not None else None
