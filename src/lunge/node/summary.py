"""Human output of testing mode: the summary table and the findings (rich), and the one JSON
document ``--json`` prints instead."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lunge.node.display import shown
from lunge.report.document import finding_section, record_section, run_section
from lunge.store.models import Finding, Severity, TestRecord, TestRun

_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}
_STATE = {"passed": "bold green", "failed": "bold red", "error": "bold magenta", "interrupted": "yellow"}


def print_summary(console: Console, run: TestRun, record: TestRecord, findings: list[Finding],
                  reports: list[Path]) -> None:
    """The end-of-run summary: state, findings by severity, baselines, reasons, reports."""
    state = run.state.value
    console.print(f"\n[{_STATE.get(state, 'bold')}]TestRun#{run.label} {state}[/]  "
                  f"{shown(run.name)} — record {record.label} '{shown(record.name)}', policy {shown(run.policy_name)}")
    if run.error:
        console.print(f"[magenta]{shown(run.error)}[/]")
    console.print(_totals(run, findings))
    if findings:
        console.print(findings_table(findings))
    for path in reports:
        console.print(f"report: {shown(path)}", highlight=False)


def _totals(run: TestRun, findings: list[Finding]) -> Table:
    table = Table(title="summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("count", justify="right")
    by_severity = Counter(f.severity.value for f in findings)
    for severity in reversed(Severity):
        if by_severity.get(severity.value):
            table.add_row(f"[{_STYLE[severity.value]}]{severity.value} findings[/]", str(by_severity[severity.value]))
    if not findings:
        table.add_row("findings", "0")
    coverage = run.stats.get("replay_coverage")
    table.add_row("baselines", str(run.baselines_total))
    table.add_row("  tested", str(run.baselines_tested))
    table.add_row("  not tested", str(run.baselines_not_tested))
    for reason, count in sorted((run.stats.get("not_tested_reasons") or {}).items(), key=lambda kv: -kv[1]):
        table.add_row(f"    [dim]{shown(reason)}[/]", str(count))
    if isinstance(coverage, float):
        table.add_row("replay coverage", f"{coverage:.0%}")
    table.add_row("requests sent", str(run.requests_sent))
    if run.stats.get("requests_setup"):
        table.add_row("  for attacks", str(run.stats.get("requests_attack")))
        table.add_row("  for keeping state (setup, renewed values)", str(run.stats["requests_setup"]))
    if run.stats.get("attack_unanswered"):
        table.add_row("[magenta]attacks without an answer[/]",
                      f"{run.stats['attack_unanswered']} of {run.stats.get('attack_requests', 0)}")
    if run.stats.get("points_lightened"):
        table.add_row("points attacked lightly (seen before)", str(run.stats["points_lightened"]))
    if run.stats.get("check_failures"):
        table.add_row("[red]check failures[/]", str(run.stats["check_failures"]))
    _oob_rows(table, run.stats.get("oob") or {})
    return table


def _oob_rows(table: Table, oob: dict[str, Any]) -> None:
    """The out-of-band listener: its callbacks, or which checks ran without it and why."""
    if oob.get("enabled"):
        calls = f"{oob.get('http_callbacks', 0)} / {oob.get('dns_queries', 0)}"
        table.add_row("out-of-band callbacks (http / dns)", calls)
    elif oob.get("checks_without_listener"):
        table.add_row(f"[yellow]ran without the out-of-band listener[/] [dim]({oob.get('reason', '')})[/]",
                      ", ".join(oob["checks_without_listener"]))


def findings_table(findings: list[Finding]) -> Table:
    table = Table(title="findings", title_justify="left")
    for column in ("severity", "check", "request", "point", "payload", "confidence"):
        table.add_column(column, overflow="fold")
    for f in findings:
        table.add_row(f"[{_STYLE[f.severity.value]}]{f.severity.value}[/]", shown(f.check_id),
                      shown(f"{f.method} {f.url}"), shown(f.point), shown(repr(f.payload)[:60]), f.confidence.value)
    return table


def summary_document(run: TestRun, record: TestRecord, findings: list[Finding], reports: list[Path],
                     exit_code: int) -> dict[str, Any]:
    """What ``lunge test --json`` prints."""
    return {"run": run_section(run), "record": record_section(record),
            "findings": [finding_section(f) for f in findings], "reports": [str(p) for p in reports],
            "exit_code": exit_code}
