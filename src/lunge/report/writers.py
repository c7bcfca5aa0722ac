"""Writing reports to ``REPORT_DIR``: ``<run name>.<unix time>.<extension>`` as FAST named them.

The JSON report is complete (every baseline's outcome, every finding with its evidence) and is
written as a stream, so a run over 100k baselines never holds them all. The TXT report is brief:
the result, the baseline counts and the findings. The other formats have a module each: ``html``
(:mod:`lunge.report.html`), ``sarif`` (:mod:`lunge.report.sarif`), ``junit``
(:mod:`lunge.report.junit`, written as ``.junit.xml``) and ``md`` (:mod:`lunge.report.markdown`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

from lunge.logs import escape_controls
from lunge.report.document import ReportInput, finding_section, head, run_section, test_set_section
from lunge.report.html import write_html
from lunge.report.junit import write_junit
from lunge.report.markdown import write_markdown
from lunge.report.sarif import write_sarif
from lunge.store.models import Finding, TestSet

# A format's file extension, where it is not the format's name (CI tools look for *.junit.xml / *.xml).
EXTENSIONS = {"junit": "junit.xml"}
_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|]+")
# A file name is at most 255 bytes (NAME_MAX on Linux and macOS); the unix time and the format
# take about 20 of them. A longer run name is cut and keeps a hash of the full name (which stays
# whole inside the report), so two long names sharing their start do not write the same files.
_NAME_BYTES = 160


def report_stem(run_name: str, unix_time: int) -> str:
    """``<run name>.<unix time>`` with characters that cannot be in a file name replaced.

    >>> report_stem("TestRun Nov 23 18:00 UTC", 1763920800)
    'TestRun Nov 23 18_00 UTC.1763920800'
    >>> len(report_stem("é" * 300, 1763920800).encode())
    170
    """
    name = _UNSAFE.sub("_", run_name).strip() or "run"
    if _size(name) > _NAME_BYTES:
        digest = hashlib.sha256(run_name.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        name = _cut(name, _NAME_BYTES - len(digest) - 1).rstrip() + "~" + digest
    return f"{name}.{unix_time}"


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _cut(text: str, limit: int) -> str:
    """The longest start of ``text`` within ``limit`` bytes, never half a character."""
    size = 0
    for at, char in enumerate(text):
        size += _size(char)
        if size > limit:
            return text[:at]
    return text


def write_reports(data: ReportInput, directory: Path, formats: Iterable[str], unix_time: int,
                  test_sets_factory: Callable[[], Iterable[TestSet]] | None = None) -> list[Path]:
    """Write each requested format; returns the paths written. ``test_sets_factory`` gives a fresh
    iterator of the run's test sets for each writer that needs them (they are streamed)."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = report_stem(data.run.name, unix_time)
    written = []
    for fmt in formats:
        path = directory / f"{stem}.{EXTENSIONS.get(fmt, fmt)}"
        sets = test_sets_factory() if test_sets_factory is not None else data.test_sets
        with path.open("w", encoding="utf-8") as out:
            WRITERS[fmt](data, sets, out)
        written.append(path)
    return written


def write_json(data: ReportInput, test_sets: Iterable[TestSet], out: IO[str]) -> None:
    statuses: Counter[str] = Counter()
    out.write('{\n  "test_sets": [')
    first = True
    for test_set in test_sets:
        statuses[test_set.status.value] += 1
        out.write(("\n    " if first else ",\n    ") + _json(test_set_section(test_set)))
        first = False
    out.write("\n  ],\n")
    body = _json(head(data, statuses), indent=2)
    out.write(body[1:].lstrip("\n"))  # the rest of the object, after its opening brace
    out.write("\n")


def _json(value: Any, indent: int | None = None) -> str:
    """JSON text with control characters and bidirectional overrides as JSON escapes: the values
    are unchanged, and none of those characters is raw in the file (a ``cat`` of the report, an
    editor showing reversed evidence)."""
    return escape_controls(json.dumps(value, indent=indent, ensure_ascii=False, default=str), keep="\n")


def write_txt(data: ReportInput, test_sets: Iterable[TestSet], out: IO[str]) -> None:
    statuses: Counter[str] = Counter(t.status.value for t in test_sets)
    run = run_section(data.run)
    lines = [
        "TESTRUN RESULTS",
        f"{data.run.name} ({data.run.label}) result - {data.run.state.value}",
        f"record: {data.record.name} ({data.record.label})   policy: {data.run.policy_name}   "
        f"target: {run['target'] or 'as recorded'}",
    ]
    if data.run.error:
        lines.append(f"error: {data.run.error}")
    if data.comparison is not None:
        c = data.comparison
        lines.append(f"compared with {c.previous.label}: {len(c.new)} new, {len(c.still_present)} still present, "
                     f"{len(c.fixed)} fixed" + ("   (fail_on: new: only new findings fail the build)"
                                                if data.run.stats.get("fail_on_new") else ""))
    coverage = run["replay_coverage"]
    lines += [
        "",
        "BASELINE CHECKS",
        f"  passed: {statuses.get('passed', 0)}   failed: {statuses.get('failed', 0)}   "
        f"not tested: {statuses.get('not_tested', 0)}   errors: {statuses.get('error', 0)}",
        f"  replay coverage: {coverage:.0%}" if isinstance(coverage, float) else "  replay coverage: n/a",
        f"  requests sent: {data.run.requests_sent}   duration: {run['duration_s']} s",
    ]
    if data.run.stats.get("requests_setup"):
        lines.append(f"  of which for attacks: {data.run.stats.get('requests_attack')}   "
                     f"for keeping state (setup, renewed values): {data.run.stats['requests_setup']}")
    if data.run.stats.get("attack_unanswered"):  # the figure the final state's error rules read
        lines.append(f"  attack requests without an answer: {data.run.stats['attack_unanswered']} of "
                     f"{data.run.stats.get('attack_requests', 0)}")
    reasons = data.run.stats.get("not_tested_reasons") or {}
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]):
        lines.append(f"  not tested ({count}): {reason}")
    lines += ["", f"FOUND {len(data.findings)} VULNS:" if data.findings else "NO VULNERABILITIES FOUND"]
    for finding in data.findings:
        lines += _finding_lines(finding)
        if data.comparison is not None:
            lines.append(f"  diff:    {data.comparison.state_of(finding).value.replace('_', ' ')}")
    out.write("\n".join(escape_controls(line) for line in lines) + "\n")


def _finding_lines(finding: Finding) -> list[str]:
    section: dict[str, Any] = finding_section(finding)
    return [
        "",
        f"[{finding.severity.value.upper()}/{finding.confidence.value}] {finding.title} ({finding.check_id}, "
        f"CWE-{finding.cwe})",
        f"  {finding.method} {finding.url}",
        f"  point:   {finding.point}",
        f"  payload: {finding.payload!r}",
        f"  proof:   {finding.proof[:300]!r}",
        f"  how:     {finding.confirmation}",
        f"  id:      {section['label']}   fingerprint: {finding.fingerprint}",
    ]


WRITERS: dict[str, Callable[[ReportInput, Iterable[TestSet], IO[str]], None]] = {
    "json": write_json,
    "txt": write_txt,
    "html": write_html,
    "sarif": write_sarif,
    "junit": write_junit,
    "md": write_markdown,
}
FORMATS = tuple(WRITERS)
