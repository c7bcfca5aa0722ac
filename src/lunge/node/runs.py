"""The commands around test runs that are not testing itself: re-rendering the reports of a past
run, listing runs, validating policies, listing checks."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from lunge.checks import load, passive
from lunge.engine.lease import reap
from lunge.errors import ConfigError, InputFileError, LungeError, NotFoundError
from lunge.node.display import shown
from lunge.node.reporting import comparison_with, write_run_reports
from lunge.node.settings import store_settings, testing_settings
from lunge.node.testing import resolve_policy
from lunge.policy import BUILTIN, parse_policy
from lunge.report.document import run_section
from lunge.store import Store, open_store
from lunge.store.models import Finding, TestRecord, TestRun, parse_id

logger = logging.getLogger(__name__)


def rerender_reports(run_ref: str | None, flags: Mapping[str, Any]) -> tuple[TestRun, TestRecord, list[Finding],
                                                                             list[Path]]:
    """Write the reports of run ``run_ref`` (default: the latest, of BUILD_ID when set) again."""
    settings = testing_settings(flags)
    store = open_store(store_settings(flags).url)
    try:
        _reap(store)
        if run_ref is not None:
            run_id = parse_id(run_ref)
            if run_id is None:
                raise InputFileError("RUN_ID", "", f"{run_ref!r} is not a run id (e.g. 7 or run_0007)")
            try:
                run = store.get_run(run_id)
            except NotFoundError as exc:
                raise ConfigError(f"RUN_ID: no test run {run_ref}; lunge runs lists them") from exc
        else:
            latest = store.latest_run(settings.build_id)
            if latest is None:
                raise LungeError("no test run yet: run lunge test first")
            run = latest
        record = store.get_record(run.record_id)
        findings = list(store.iter_findings(run.id))
        comparison = comparison_with(store, settings.compare_to, run, findings)
        reports = write_run_reports(store, run, record, findings, settings.report_dir, settings.report_formats,
                                    comparison)
        return run, record, findings, reports
    finally:
        store.close()


def list_runs(flags: Mapping[str, Any], limit: int = 50) -> list[dict[str, Any]]:
    store = open_store(store_settings(flags).url)
    try:
        _reap(store)
        return [run_section(r) for r in store.list_runs(limit)]
    finally:
        store.close()


def _reap(store: Store) -> None:
    """Write down the runs abandoned by their node (readers see them interrupted anyway); a store
    that refuses the write (read-only) is still listed."""
    try:
        reap(store)
    except LungeError as problem:
        logger.warning("could not mark abandoned runs interrupted: %s", problem)


def runs_table(runs: list[dict[str, Any]]) -> Table:
    table = Table(title="test runs", title_justify="left")
    for column in ("id", "name", "state", "record", "BUILD_ID", "baselines", "findings", "requests", "finished"):
        table.add_column(column)
    for r in runs:
        table.add_row(r["label"], shown(r["name"]), r["state"], f"rec_{r['record_id']:04d}", r["build_id"] or "",
                      f"{r['baselines_tested']}/{r['baselines_total']}", str(r["findings_count"]),
                      str(r["requests_sent"]), r["finished_at"] or "")
    return table


def validate_policy(path: Path) -> dict[str, Any]:
    """Parse and check a policy file (line-precise errors); returns the policy as data."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(str(path), "", f"cannot read the policy file: {exc}") from exc
    registry = load()
    policy = parse_policy(text, str(path), set(registry.checks) | registry.kinds)
    resolve_policy(str(path), registry)
    return policy.summary()


def builtin_policies() -> dict[str, dict[str, Any]]:
    return {name: policy.summary() for name, policy in BUILTIN.items()}


def policy_yaml(summary: dict[str, Any]) -> str:
    """A policy's summary as a policy file (``lunge policy show default --yaml > mine.yaml``)."""
    document = {
        "name": summary["name"], "description": summary["description"], "checks": summary["checks"],
        "points": {"include": summary["include"], "exclude": summary["exclude"],
                   "attack_names": summary["attack_names"]},
        "limits": {key: value for key, value in summary["limits"].items() if value is not None},
        "replay_coverage_threshold": summary["replay_coverage_threshold"],
        "max_error_ratio": summary["max_error_ratio"], "unreachable_after": summary["unreachable_after"],
        "fail_on": summary["fail_on"],
        "stop_on_first_fail": summary["stop_on_first_fail"], "light_after": summary["light_after"],
        "thorough": summary.get("thorough", False),
    }
    document |= {key: summary[key] for key in ("passive", "fuzzer") if key in summary}
    text: str = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    return text


def list_checks() -> list[dict[str, Any]]:
    registry = load()
    out = [{"id": c.id, "kind": c.kind, "title": c.title, "severity": c.severity.value, "cwe": c.cwe,
            "description": c.description} for c in registry]
    out += [{"id": name, "kind": "", "title": "failed to load", "severity": "", "cwe": 0, "description": problem}
            for name, problem in registry.failures.items()]
    # Passive rules read normal responses and send nothing (but one CORS probe per host).
    out += [{"id": r.id, "kind": r.kind, "title": r.title, "severity": r.severity.value, "cwe": r.cwe,
             "description": r.description, "passive": True} for r in passive.load()]
    return out


def checks_table(checks: list[dict[str, Any]]) -> Table:
    table = Table(title="checks", title_justify="left")
    for column in ("id", "kind", "severity", "CWE", "title"):
        table.add_column(column)
    for c in checks:
        table.add_row(c["id"], c["kind"], c["severity"], f"CWE-{c['cwe']}" if c["cwe"] else "", c["title"])
    return table


def print_policy(console: Console, summary: dict[str, Any]) -> None:
    console.print(f"[bold]{summary['name']}[/]: {summary['description']}")
    console.print(f"  checks:  {', '.join(summary['checks'])}")
    console.print(f"  include: {', '.join(summary['include'])}")
    console.print(f"  exclude: {', '.join(summary['exclude']) or '-'}")
    limits = summary["limits"]
    console.print(f"  limits:  rps={limits['rps'] or 'unlimited'} workers={limits['workers'] or 'node'} "
                  f"timeout={limits['timeout']}s time_delay={limits['time_delay']}s "
                  f"login_attempts={limits['login_attempts']}")
    console.print(f"  fail on: {summary['fail_on']['severity']} and above, {summary['fail_on']['confidence']} "
                  f"confidence or more; replay coverage ≥ {summary['replay_coverage_threshold']:.0%}")
    if "passive" in summary:
        fails = summary["fail_on"].get("passive")
        console.print(f"  passive: {'on' if summary['passive'] else 'off'}"
                      f"{', fails the build' if fails else ', never fails the build'}")
    console.print(f"  errors:  at most {summary['max_error_ratio']:.0%} of attack requests without an answer; "
                  f"stop when the target refuses connections for {summary['unreachable_after']:g}s")
