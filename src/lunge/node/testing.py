"""Testing mode (``lunge test``, ``CI_MODE=testing lunge node``): pick the record, create a test run,
run the engine with a live progress bar, write the reports, print the summary, return the exit
code (0 passed, 1 failed or error, 2 bad configuration).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lunge.checks import Registry, load
from lunge.engine.events import BaselineTested, Event, Events, as_json
from lunge.engine.events import Progress as RunProgress
from lunge.engine.lease import Lease, reap
from lunge.engine.runner import RunConfig
from lunge.errors import ConfigError, LungeError, NotFoundError
from lunge.node import parallel, reporting
from lunge.node.display import shown
from lunge.node.exit import ExitCode
from lunge.node.settings import RunSettings, TestingSettings, run_settings
from lunge.policy import TestPolicy, load_policy
from lunge.store import Store, open_store
from lunge.store.models import Finding, RunState, TestRecord, TestRun

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TestOutcome:
    """What ``run_testing`` did, for the CLI and for ``lunge demo``."""

    __test__ = False

    run: TestRun
    record: TestRecord
    findings: list[Finding]
    reports: list[Path]
    exit_code: ExitCode


def exit_code_for(state: RunState) -> ExitCode:
    return ExitCode.PASSED if state is RunState.PASSED else ExitCode.FAILED


def choose_record(store: Store, settings: TestingSettings) -> TestRecord:
    """TEST_RECORD_ID, else the latest record of BUILD_ID, else the latest record."""
    if settings.record_id is not None:
        try:
            return store.get_record(settings.record_id)
        except NotFoundError as exc:
            raise ConfigError(f"no test record rec_{settings.record_id:04d} (TEST_RECORD_ID or --record); "
                              "lunge records lists them") from exc
    record = store.latest_record(settings.build_id)
    if record is None:
        scope = f" for BUILD_ID={settings.build_id}" if settings.build_id else ""
        raise LungeError(f"no test record to test{scope}: record one first (lunge record, or lunge import)")
    return record


def resolve_policy(spec: str | None, registry: Registry) -> TestPolicy:
    known = set(registry.checks) | registry.kinds
    policy = load_policy(spec, known)
    try:
        registry.select(policy.checks)
    except KeyError as exc:
        raise ConfigError(f"TEST_RUN_POLICY_ID={spec!r}: the policy names an unknown check {exc}") from exc
    return policy


def run_testing(flags: Mapping[str, Any] | None = None, *, console: Console | None = None,
                json_output: bool = False) -> TestOutcome:
    """The whole testing mode. Raises ConfigError (exit 2) or LungeError (exit 1) before a run is
    created; once it exists, every problem ends in its state and the reports are still written."""
    settings = run_settings(dict(flags or {}))
    console = console or Console(stderr=json_output)
    registry = load()
    policy = resolve_policy(settings.testing.policy, registry)
    checks = tuple(registry.select(policy.checks))
    store = open_store(settings.store.url)
    try:
        for run_id in reap(store):
            logger.warning("TestRun#run_%04d was abandoned by its node: marked interrupted", run_id)
        testing = settings.testing
        record = choose_record(store, testing)
        # The run compared with is chosen before this one exists: the engine decides the verdict
        # (fail_on: new) once, and a bad --compare-to is refused before a run is made.
        previous = reporting.earlier_run(store, testing.compare_to, policy, testing.build_id or record.build_id)
        run = store.create_run(name=testing.run_name, record_id=record.id, policy_name=policy.name,
                               description=testing.run_desc, build_id=testing.build_id or record.build_id,
                               target=testing.target)
        logger.info("Use TestRecord#%s for creating TestRun", record.label)
        logger.info("TestRun#%s created", run.label)
        if registry.failures:
            for name, problem in registry.failures.items():
                console.print(f"[red]check plugin {name} failed to load:[/] {problem}")
        config = parallel.run_config(testing, policy, checks, reporting.earlier_of(store, previous))
        with Lease(store, run.id):
            try:
                final = _execute(store, run, config, settings, console, quiet=json_output)
            except LungeError:
                _write_reports_anyway(store, run.id, record, testing)
                raise
        findings = list(store.iter_findings(final.id))
        comparison = reporting.comparison_of(store, previous, findings)
        reports = write_run_reports(store, final, record, findings, testing.report_dir, testing.report_formats,
                                    comparison)
        return TestOutcome(final, record, findings, reports, exit_code_for(final.state))
    finally:
        store.close()


def _execute(store: Store, run: TestRun, config: RunConfig, settings: RunSettings, console: Console,
             quiet: bool) -> TestRun:
    """The run, with a live progress bar; any exception marks the run ``error`` (``interrupted``
    for Ctrl-C) with a one-line summary before it leaves, so no run stays ``running``."""
    try:
        if quiet:  # --json: stdout keeps its one document; the events go to stderr as JSON lines
            return parallel.execute(store, run, config, settings, Events(JsonLines(console.file)))
        with _LiveProgress(console, disabled=False) as live:
            return parallel.execute(store, run, config, settings, Events(progress=live.update, finding=live.finding))
    except BaseException as exc:
        summary = one_line(exc)
        state = RunState.INTERRUPTED if isinstance(exc, KeyboardInterrupt) else RunState.ERROR
        try:
            store.update_run(run.id, state=state, error=summary, finished_at=datetime.now(UTC))
        except LungeError as problem:
            logger.error("could not mark TestRun#%s %s: %s", run.label, state.value, problem)
        if isinstance(exc, Exception) and not isinstance(exc, LungeError):
            logger.debug("TestRun#%s failed", run.label, exc_info=exc)
            raise LungeError(f"TestRun#{run.label} ended in error: {summary}") from exc
        raise


def _write_reports_anyway(store: Store, run_id: int, record: TestRecord, testing: TestingSettings) -> None:
    """The reports of a run that ended on an exception (CI keeps them as artifacts); a store or a
    directory that fails too is logged, never in the way of the error that is on its way out."""
    try:
        run = store.get_run(run_id)
        findings = list(store.iter_findings(run_id))
        write_run_reports(store, run, record, findings, testing.report_dir, testing.report_formats)
    except (LungeError, OSError) as problem:
        logger.error("could not write the reports of TestRun#run_%04d: %s", run_id, problem)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and first line; the first leaf of an exception group.

    >>> one_line(ExceptionGroup("unhandled", [RuntimeError("engine fault\\nmore")]))
    'RuntimeError: engine fault'
    """
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


write_run_reports = reporting.write_run_reports


class JsonLines:
    """The JSON stream of a run: one line per event (:func:`lunge.engine.events.as_json`), the
    progress at most once a second. ASCII only: a control character or a right-to-left override
    in recorded data reaches a terminal or a log escaped."""

    def __init__(self, stream: IO[str], every: float = 1.0) -> None:
        self.stream = stream
        self.every = every
        self._last = float("-inf")

    def __call__(self, event: Event) -> None:
        if isinstance(event, BaselineTested):
            now = time.monotonic()
            if now - self._last < self.every and event.progress.done < event.progress.total:
                return
            self._last = now
        self.stream.write(json.dumps(as_json(event), ensure_ascii=True, default=str) + "\n")
        self.stream.flush()


class _LiveProgress:
    """The progress bar: baselines done/total, requests, rps, findings, ETA."""

    def __init__(self, console: Console, disabled: bool) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("[bold]testing"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[requests]} req · {task.fields[rps]:.0f} rps · {task.fields[findings]} findings"),
            TimeRemainingColumn(), console=console, disable=disabled, transient=False,
        )
        self.task = self.progress.add_task("testing", total=None, requests=0, rps=0.0, findings=0)
        self._last = 0.0

    def __enter__(self) -> _LiveProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, p: RunProgress) -> None:
        now = time.monotonic()
        if now - self._last < 0.1 and p.done < p.total:
            return
        self._last = now
        self.progress.update(self.task, total=p.total, completed=p.done, requests=p.requests, rps=p.rps,
                             findings=p.findings)

    def finding(self, finding: Finding) -> None:
        self.progress.console.print(
            f"[bold red]{finding.severity.value.upper()}[/] {shown(finding.title)}: "
            f"{shown(finding.method)} {shown(finding.url)} [dim]({shown(finding.point)})[/]", highlight=False)
