"""The Markdown report, for a pull-request comment or a GitHub job summary
(``cat reports/*.md >> "$GITHUB_STEP_SUMMARY"``).

Short by design: the result, a summary table, the diff against an earlier run, one table row per
finding and, folded, the evidence of the first :data:`DETAILED` findings within :data:`MAX_CHARS` (a PR comment
holds at most 65,536 characters; the HTML report has everything).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import IO

from lunge.report.document import SEVERITY_ORDER, ReportInput, run_section
from lunge.report.evidence import curl_line, masked
from lunge.store.models import Finding, TestSet

DETAILED = 20
MAX_CHARS = 60_000  # a PR comment holds 65,536 characters; the header and the table come first
EXCERPT_CHARS = 1200
_ICON = {"passed": "✅", "failed": "❌", "error": "⚠️", "interrupted": "⏹️"}


def _cell(text: str) -> str:
    """Text for a table cell: one line, pipes escaped.

    >>> _cell("a|b\\nc")
    'a\\\\|b c'
    """
    return " ".join(text.split()).replace("|", "\\|")


def _backticks(text: str) -> int:
    """The longest run of backticks in ``text``."""
    longest = current = 0
    for char in text:
        current = current + 1 if char == "`" else 0
        longest = max(longest, current)
    return longest


def _code(text: str) -> str:
    """An inline code span that survives backticks inside ``text`` (CommonMark 0.31, code spans).

    >>> _code("a`b")
    '``a`b``'
    """
    fence = "`" * (_backticks(text) + 1)
    return f"{fence} {text} {fence}" if text.startswith("`") or text.endswith("`") else f"{fence}{text}{fence}"


def _block(text: str) -> str:
    """A fenced code block longer than any backtick run inside ``text``."""
    fence = "`" * max(3, _backticks(text) + 1)
    return f"{fence}\n{text.rstrip()}\n{fence}"


def write_markdown(data: ReportInput, test_sets: Iterable[TestSet], out: IO[str]) -> None:
    run = run_section(data.run)
    state = data.run.state.value
    by_severity = Counter(f.severity.value for f in data.findings)
    lines = [
        f"## {_ICON.get(state, '')} lunge: {_cell(data.run.name)} — {state}".replace("  ", " "),
        "",
        f"Run `{data.run.label}` on record `{data.record.label}` with policy `{_cell(data.run.policy_name)}`"
        + (f", BUILD_ID `{data.run.build_id}`" if data.run.build_id else "")
        + (f", target {_code(masked(data.run.target))}." if data.run.target else ", target as recorded."),
    ]
    if data.run.error:
        lines += ["", f"> **Error:** {_cell(data.run.error)}"]
    coverage = run["replay_coverage"]
    lines += [
        "",
        "| findings | " + " | ".join(SEVERITY_ORDER)
        + " | baselines | tested | not tested | replay coverage | requests |",
        "|---|" + "---|" * len(SEVERITY_ORDER) + "---|---|---|---|---|",
        f"| **{len(data.findings)}** | " + " | ".join(str(by_severity.get(s, 0)) for s in SEVERITY_ORDER)
        + f" | {data.run.baselines_total} | {data.run.baselines_tested} | {data.run.baselines_not_tested} | "
        + (f"{coverage:.0%}" if isinstance(coverage, float) else "n/a") + f" | {data.run.requests_sent} |",
    ]
    for reason, count in sorted((data.run.stats.get("not_tested_reasons") or {}).items(), key=lambda kv: -kv[1]):
        lines.append(f"\nNot tested ({count}): {_cell(reason)}")
    lines += _diff_lines(data)
    lines += _findings_lines(data)
    out.write("\n".join(lines) + "\n")


def _diff_lines(data: ReportInput) -> list[str]:
    c = data.comparison
    if c is None:
        return []
    lines = ["", f"**Compared with `{c.previous.label}`** ({_cell(c.previous.name)}): "
                 f"{len(c.new)} new, {len(c.still_present)} still present, {len(c.fixed)} fixed."]
    for f in c.fixed[:DETAILED]:
        lines.append(f"- fixed: {_cell(f.title)} — {_code(f'{f.method} {f.url}')} {_code(f.point)}")
    return lines


def _findings_lines(data: ReportInput) -> list[str]:
    if not data.findings:
        return ["", "No vulnerabilities found."]
    with_diff = data.comparison is not None
    lines = ["", "| severity | finding | endpoint | point | confidence |" + (" diff |" if with_diff else ""),
             "|---|---|---|---|---|" + ("---|" if with_diff else "")]
    for f in data.findings:
        diff = f" {data.comparison.state_of(f).value.replace('_', ' ')} |" if data.comparison is not None else ""
        lines.append(f"| {f.severity.value} | {_cell(f.title)} (`{f.check_id}`, CWE-{f.cwe}) | "
                     f"{_code(_cell(f'{f.method} {f.url}'))} | {_code(_cell(f.point))} | {f.confidence.value} |{diff}")
    budget = MAX_CHARS - sum(len(line) + 1 for line in lines)
    shown = 0
    for f in data.findings[:DETAILED]:
        evidence = _evidence(f)
        budget -= sum(len(line) + 1 for line in evidence)
        if budget < 0:
            break
        lines += evidence
        shown += 1
    if shown < len(data.findings):
        lines += ["", f"The evidence of {len(data.findings) - shown} more findings is in the HTML report."]
    return lines


def _evidence(f: Finding) -> list[str]:
    excerpt = masked(f.response_excerpt)
    if len(excerpt) > EXCERPT_CHARS:
        excerpt = excerpt[:EXCERPT_CHARS] + "…"
    return [
        "", f"<details><summary><b>{f.severity.value}</b> {_html(f.title)} — {_html(f.method)} "
            f"{_html(f.url)} ({_html(f.point)})</summary>", "",
        f"Payload {_code(f.payload)}; proof {_code(_cell(f.proof[:300]))}; confirmed: {_cell(f.confirmation)}", "",
        "Attack request:", "", _block(f.attack_request), "",
        f"Response (status {f.response_status}):", "", _block(excerpt), "",
        "Reproduce:", "", _block(curl_line(f)), "", "</details>",
    ]


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
