"""Testing mode (``lunge test``, ``CI_MODE=testing lunge node``): pick the record, create a test run,
run the engine with a live progress bar, write the reports, print the summary, return the exit
code (0 passed, 1 failed or error, 2 bad configuration).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from lunge import aio
from lunge.checks import Registry, load
from lunge.engine.oob import OobConfig
from lunge.engine.runner import Events, RunConfig, RunEngine
from lunge.engine.runner import Progress as RunProgress
from lunge.errors import ConfigError, LungeError, NotFoundError
from lunge.node import parallel, reporting
from lunge.node.display import shown
from lunge.node.exit import ExitCode
from lunge.node.settings import TestingSettings, store_settings, testing_settings
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
    flags = dict(flags or {})
    settings = testing_settings(flags)
    console = console or Console(stderr=json_output)
    registry = load()
    policy = resolve_policy(settings.policy, registry)
    checks = tuple(registry.select(policy.checks))
    store = open_store(store_settings(flags).url)
    try:
        record = choose_record(store, settings)
        run = store.create_run(name=settings.run_name, record_id=record.id, policy_name=policy.name,
                               description=settings.run_desc, build_id=settings.build_id or record.build_id,
                               target=settings.target)
        logger.info("Use TestRecord#%s for creating TestRun", record.label)
        logger.info("TestRun#%s created", run.label)
        if registry.failures:
            for name, problem in registry.failures.items():
                console.print(f"[red]check plugin {name} failed to load:[/] {problem}")
        config = RunConfig(policy=policy, checks=checks, workers=settings.workers, rps=settings.rps,
                           target=settings.target, verify_tls=settings.verify_tls,
                           stop_on_first_fail=settings.stop_on_first_fail, oob=_oob_config(settings))
        final = _execute(store, run, config, settings, console, quiet=json_output)
        findings = list(store.iter_findings(final.id))
        final, comparison = reporting.compare_run(store, final, findings, policy, flags.get("compare_to"))
        reports = write_run_reports(store, final, record, findings, settings.report_dir, settings.report_formats,
                                    comparison)
        return TestOutcome(final, record, findings, reports, exit_code_for(final.state))
    finally:
        store.close()


def _oob_config(settings: TestingSettings) -> OobConfig:
    if settings.processes > 1 and settings.oob.enabled:
        # Callbacks reach one listener, and the partitions are separate processes.
        return replace(settings.oob, enabled=False,
                       reason="the out-of-band listener runs in single-process runs only (PROCESSES > 1)")
    return settings.oob


def _execute(store: Store, run: TestRun, config: RunConfig, settings: TestingSettings, console: Console,
             quiet: bool) -> TestRun:
    if settings.processes > 1:
        return parallel.run_in_processes(store, run, config, settings.processes, store_url=store_settings().url)
    with _LiveProgress(console, disabled=quiet) as live:
        engine = RunEngine(store, run, config, Events(progress=live.update, finding=live.finding))
        aio.settle_heap()
        return aio.run(_with_signals(engine))


async def _with_signals(engine: RunEngine) -> TestRun:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, engine.interrupt)
    try:
        return await engine.execute()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


write_run_reports = reporting.write_run_reports


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
