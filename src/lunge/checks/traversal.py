"""Path traversal and local file inclusion (``path-traversal``).

detection.md §4. Gate: the value looks like a path or a file name, the parameter is named like one
(``file``, ``path``, ``page``, ``doc``, ``template``, ...), or it is a path segment / action name of a
request for a file (``/files/report.pdf``).

The files and the ways to reach them are data (``data/traversal_files.yaml``): known files with a
*content signature* (``root:x:0:0:`` for ``/etc/passwd``, ``[fonts]`` for ``win.ini``, ...), asked for
by absolute path, ``../`` × 10, a filter-stripping ``....//``, backslashes, NUL plus the original
extension, the original directory kept as a prefix; encoded and overlong forms only once the value
has shown it reaches a file API (a "failed to open stream"-like error absent from the normal page).
The server's fingerprint (IIS, ASP.NET) puts the Windows forms first. Light mode sends one absolute
path and escalates on a signature or a file error.

A signature counts only when it is absent from the normal responses (a page that always shows
sample passwd text cannot pass) and still matches after the payload's echo is removed. A hit is
confirmed by reading a *second* file the same way, and by a negative control: the same path with a
random file name must not show the signature (an application that prints passwd-like text for any
traversal attempt fails it).
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from lunge.checks import datafiles, pointnames
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.noise import strip_reflections
from lunge.http.points import Point, ValueKind

Os = Literal["unix", "windows", "any"]


@datafiles.schema
@dataclass(frozen=True, slots=True)
class KnownFile:
    """A file whose content proves it was read."""

    name: str
    os: Os
    path: str
    signature: str
    confirm_with: str

    def pattern(self) -> re.Pattern[str]:
        return SIGNATURES[self.name]


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Technique:
    """A way of asking for a file (see the data file for the placeholders)."""

    name: str
    os: Os
    template: str
    tier: Literal["light", "full", "extra"]
    unit: str = ""
    depth: int = 0


@datafiles.schema
@dataclass(frozen=True, slots=True)
class TraversalTable:
    files: tuple[KnownFile, ...]
    techniques: tuple[Technique, ...]
    file_errors: tuple[str, ...]

    def file(self, name: str) -> KnownFile:
        return next(f for f in self.files if f.name == name)


TABLE = datafiles.load("traversal_files.yaml", TraversalTable)
SIGNATURES = {f.name: datafiles.pattern("traversal_files.yaml", f.signature) for f in TABLE.files}
FILE_ERROR = datafiles.pattern("traversal_files.yaml", "|".join(f"(?:{e})" for e in TABLE.file_errors),
                               re.IGNORECASE)

# Parameter names that usually carry a file or path (nuclei's lfi-keyed list, trimmed of words that
# are as often something else).
NAME_WORDS = frozenset({
    "file", "filename", "filepath", "path", "pathname", "page", "doc", "document", "template", "tpl", "include",
    "inc", "view", "dir", "directory", "folder", "load", "read", "download", "attachment", "lang", "language",
    "locale", "layout", "theme", "style", "module", "conf", "config", "log", "img", "image", "resource",
    "content", "show", "cat", "src", "source", "pdf", "report",
})
MAX_UNCONFIRMED = 2  # signature hits that failed confirmation before the point is given up
# a name with an extension holding a letter ("a.txt", "x.mp3"; not "127.0.0.1" or "1.5")
_FILE_NAME = re.compile(r"^[\w\-. ]+\.(?=[A-Za-z0-9]{0,4}[A-Za-z])[A-Za-z0-9]{1,5}\Z")
_WINDOWS_SERVER = re.compile(r"microsoft-iis|asp\.net|win(?:32|64|dows)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Read:
    """A request for ``file`` through ``technique`` and, once sent, its exchange."""

    file: KnownFile
    technique: Technique
    payload: str


@dataclass(slots=True)
class _Trail:
    controls: list[Exchange] = field(default_factory=list)
    file_error: bool = False
    unconfirmed: int = 0


# ---------------------------------------------------------------------------- gate
def _applies(ctx: CheckContext) -> bool:
    point = ctx.point
    if point.kind not in (ValueKind.STRING, ValueKind.NUMBER) or point.family in ("URI", "ACTION_EXT"):
        return False
    if point.family in ("PATH", "ACTION_NAME"):
        return _file_like_path(ctx)
    value = point.value
    return "/" in value or "\\" in value or bool(_FILE_NAME.match(value)) or named_like_file(point)


def _file_like_path(ctx: CheckContext) -> bool:
    if ctx.point.family == "ACTION_NAME":
        return ctx.points.get("ACTION_EXT_value") is not None
    return bool(_FILE_NAME.match(ctx.point.value))


def named_like_file(point: Point) -> bool:
    """Whether the innermost key of ``point`` reads like a file or path parameter."""
    return pointnames.named_like(point, NAME_WORDS)


# ---------------------------------------------------------------------------- run
def _run(ctx: CheckContext) -> Probe:
    normal = _normal_texts(ctx)
    usable = [f for f in TABLE.files if not any(f.pattern().search(t) for t in normal)]
    if not usable:
        return []
    trail = _Trail()
    tiers = ("light",) if ctx.light else ("light", "full")
    reads = _plan(ctx, usable, tiers)
    verdict = yield from _try_reads(ctx, reads, usable, trail)
    if verdict is not None or not trail.file_error or trail.unconfirmed >= MAX_UNCONFIRMED:
        return [verdict] if verdict is not None else []
    # The value reaches a file API: the remaining forms are worth their cost now.
    more = ("full", "extra") if ctx.light else ("extra",)
    verdict = yield from _try_reads(ctx, _plan(ctx, usable, more), usable, trail)
    return [verdict] if verdict is not None else []


def _try_reads(ctx: CheckContext, reads: Sequence[_Read], usable: Sequence[KnownFile],
               trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    for read in reads:
        (exchange,) = yield [ctx.attack(read.payload, read.technique.name)]
        proof = _signature(exchange, read.file, read.payload)
        if proof is None:
            trail.file_error = trail.file_error or _file_error(ctx, exchange)
            trail.controls.append(exchange)
            continue
        verdict = yield from _confirm(ctx, read, exchange, proof, usable, trail)
        if verdict is not None:
            return verdict
        trail.unconfirmed += 1
        if trail.unconfirmed >= MAX_UNCONFIRMED:
            return None  # the signature shows up for reasons other than a read: more forms will not change that
    return None


def _confirm(ctx: CheckContext, read: _Read, hit: Exchange, proof: str, usable: Sequence[KnownFile],
             trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    """A second file through the same technique (or, when that file is unusable here, the same file
    through an equivalent path), then the random-name control."""
    second = TABLE.file(read.file.confirm_with)
    if second in usable:
        again = _Read(second, read.technique, _payload(ctx, read.technique, second.path))
        how = f"{second.path} was read the same way"
    else:
        again = _Read(read.file, read.technique, _payload(ctx, read.technique, _equivalent(read.file.path)))
        how = f"the same file was read through the equivalent path {_equivalent(read.file.path)!r}"
    (confirm,) = yield [ctx.attack(again.payload, "confirm")]
    if _signature(confirm, again.file, again.payload) is None:
        trail.controls.extend((hit, confirm))
        return None
    missing = _missing_name(ctx, read.file.path)
    control_payload = _payload(ctx, read.technique, missing)
    (control,) = yield [ctx.attack(control_payload, "control")]
    if read.file.pattern().search(_without_echo(control, control_payload)):
        trail.controls.extend((hit, confirm, control))
        return None
    return PATH_TRAVERSAL.verdict(
        ctx, hit, proof=proof, confidence=Confidence.FIRM,
        confirmation=(f"{how}, while the same path with the non-existent file name {missing!r} did not show "
                      f"the {read.file.name} signature"),
        controls=(ctx.normal, *trail.controls, confirm, control),
        details={"file": read.file.path, "signature": read.file.signature, "technique": read.technique.name,
                 "os": read.file.os, "confirm_payload": again.payload, "control_payload": control_payload},
    )


# ---------------------------------------------------------------------------- payloads
def _plan(ctx: CheckContext, usable: Sequence[KnownFile], tiers: Sequence[str]) -> list[_Read]:
    windows_first = _windows_hint(ctx)
    primary = {os: next((f for f in usable if f.os == os), None) for os in ("unix", "windows")}
    reads: list[_Read] = []
    for technique in TABLE.techniques:
        if technique.tier not in tiers or not _fits(technique, ctx.point.value):
            continue
        oses = ("windows", "unix") if windows_first else ("unix", "windows")
        for os in oses:
            known = primary[os]
            if known is not None and technique.os in (os, "any"):
                reads.append(_Read(known, technique, _payload(ctx, technique, known.path)))
                if technique.os == "any":
                    break  # one file per OS-neutral technique: the OS-specific rows cover the other
    rank = {"windows": 0, "unix": 1} if windows_first else {"unix": 0, "windows": 1}
    reads.sort(key=lambda r: (r.technique.tier != "light", rank[r.file.os]))
    return reads[:1] if tiers == ("light",) else reads


def _fits(technique: Technique, value: str) -> bool:
    if "{dir}" in technique.template and not _directory(value):
        return False
    return "{ext}" not in technique.template or bool(_extension(value))


def _payload(ctx: CheckContext, technique: Technique, path: str) -> str:
    value = ctx.point.value
    return (technique.template.replace("{up}", technique.unit * technique.depth)
            .replace("{dir}", _directory(value)).replace("{ext}", _extension(value))
            .replace("{path_bs}", path.replace("/", "\\")).replace("{path}", path))


def _directory(value: str) -> str:
    """The directory part of a relative value (``docs/a.txt`` → ``docs/``), '' when there is none."""
    head, slash, _ = value.replace("\\", "/").rpartition("/")
    return head + slash if slash and head and not head.startswith(("/", ".")) else ""


def _extension(value: str) -> str:
    match = _FILE_NAME.match(value.replace("\\", "/").rpartition("/")[2])
    return match.group(0).rpartition(".")[2] if match else ""


def _equivalent(path: str) -> str:
    head, _, name = path.rpartition("/")
    return f"{head}/./{name}"


def _missing_name(ctx: CheckContext, path: str) -> str:
    head, _, name = path.rpartition("/")
    _, dot, ext = name.partition(".")
    return f"{head}/{ctx.marker(8)}{dot}{ext}"


# ---------------------------------------------------------------------------- oracle
def _signature(exchange: Exchange, known: KnownFile, payload: str) -> str | None:
    """The proving text: the first line matching ``known``'s signature once the payload's echo is
    removed, exactly as it is in the response (or the match itself)."""
    text = _without_echo(exchange, payload)
    match = known.pattern().search(text)
    if match is None:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.end())
    line = text[start : end if end >= 0 else len(text)].strip()
    return line if line and line in exchange.text else match.group(0)


def _without_echo(exchange: Exchange, payload: str) -> str:
    return strip_reflections(exchange.text, [payload, payload.replace("\0", "")])


def _file_error(ctx: CheckContext, exchange: Exchange) -> bool:
    match = FILE_ERROR.search(exchange.text)
    if match is None:
        return False
    return not any(FILE_ERROR.search(t) for t in _normal_texts(ctx))


def _normal_texts(ctx: CheckContext) -> list[str]:
    texts = [r.text for r in ctx.replays if r.response is not None]
    if ctx.recorded is not None:
        texts.append(ctx.recorded.text())
    return texts


def _windows_hint(ctx: CheckContext) -> bool:
    response = ctx.normal.response
    if response is None:
        return False
    banner = " ".join(response.headers.get(h) or "" for h in ("server", "x-powered-by", "x-aspnet-version"))
    return bool(_WINDOWS_SERVER.search(banner)) or "x-aspnet-version" in response.headers


PATH_TRAVERSAL = Check(
    id="path-traversal",
    title="Path traversal",
    kind="ptrav",
    severity=Severity.HIGH,
    cwe=22,
    description="A file name or path taken from the request reaches a file API without being confined to the "
                "intended directory, so other files of the server can be read.",
    run=_run,
    applies=_applies,
    remediation="Map user input to an identifier from a server-side list instead of a path; otherwise resolve "
                "the canonical path and check that it stays inside the intended directory, after decoding.",
)
CHECKS = (PATH_TRAVERSAL,)
