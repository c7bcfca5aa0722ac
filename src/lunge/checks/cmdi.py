"""OS command injection (``cmdi``).

detection.md §3. Output-based first, with a *computed marker* (commix's classic technique): the
injected command prints ``TAG<a+b>TAGTAG`` for random ``a``, ``b`` and ``TAG`` (``$((a+b))`` and
``$(echo TAG)`` collapse only if a shell ran them; Windows ``set /a`` likewise), so neither an echo of
the payload nor a page full of numbers or passwd-like text can satisfy it. The forms
(``data/cmdi_payloads.yaml``) cover the separators ``;`` ``|`` ``||`` ``&`` newline, ``$( )`` and
backticks, in unquoted, ``'...'`` and ``"..."`` contexts (polyglots write the command three times), and
Windows ``&``/``|``. A match is confirmed with fresh operands and a fresh tag.

Time-based next, only where warranted: an output probe made a shell complain ("sh: 1: ...: not
found", "syntax error near unexpected token", ... absent from the normal page), or the value is shaped
like what servers hand to commands (an IP address, a host name, a file name), or the parameter is
named like one (``host``, ``ip``, ``cmd``, ...). The decision is
:func:`lunge.checks.timing.confirm_delay`'s (two delays twice each, a zero-delay control, regression on
the observed times), through ``sleep`` and Windows ``ping -n``. Light mode sends one polyglot output
probe and escalates to the other forms and to time only on a shell error.

Budget: 11 output requests for a point that is not vulnerable, plus 1 per time form (2) when
warranted; 1 in light mode.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

from lunge.checks import datafiles, pointnames, timing
from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.checks.noise import strip_reflections
from lunge.http.points import Point, ValueKind
from lunge.values import quick_init


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Command:
    """A command that prints a computed marker (``output``, judged by ``expect``) or sleeps."""

    name: str
    output: str
    expect: str
    sleep: str


@datafiles.schema
@dataclass(frozen=True, slots=True)
class Form:
    """How a command is placed in the value."""

    name: str
    command: str
    template: str
    tier: Literal["light", "full"]
    time: bool = False


@datafiles.schema
@dataclass(frozen=True, slots=True)
class CmdiTable:
    commands: tuple[Command, ...]
    forms: tuple[Form, ...]
    shell_errors: tuple[str, ...]
    name_words: frozenset[str]

    def command(self, name: str) -> Command:
        return next(c for c in self.commands if c.name == name)


TABLE = datafiles.load("cmdi_payloads.yaml", CmdiTable)
for _form in TABLE.forms:  # a form naming no command is a broken table: fail at import, not mid-run
    TABLE.command(_form.command)
SHELL_ERROR = datafiles.pattern("cmdi_payloads.yaml", "|".join(f"(?:{e})" for e in TABLE.shell_errors))

_IPV4 = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}\Z")
_HOST = re.compile(r"^(?=.{1,253}\Z)[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,62}\.)+[a-zA-Z]{2,63}\.?\Z")
_FILE = re.compile(r"^[\w\-./\\ ]+\.[A-Za-z0-9]{1,5}\Z")
_SPACES = re.compile(r"\s+")


@quick_init
@dataclass(frozen=True, slots=True)
class _Marker:
    """One computed marker: the tag, the operands and the regex its output must match."""

    tag: str
    a: int
    b: int

    def fill(self, command: Command) -> str:
        return command.output.replace("{tag}", self.tag).replace("{a}", str(self.a)).replace("{b}", str(self.b))

    def pattern(self, command: Command) -> re.Pattern[str]:
        regex = command.expect.replace("{tag}", re.escape(self.tag)).replace("{sum}", str(self.a + self.b))
        return re.compile(regex, re.IGNORECASE)


@dataclass(slots=True)
class _Trail:
    controls: list[Exchange] = field(default_factory=list)
    shell_error: bool = False  # some probe made a shell complain: the value reaches one


def _applies(ctx: CheckContext) -> bool:
    return ctx.point.kind is not ValueKind.BINARY


def _run(ctx: CheckContext) -> Probe:
    trail = _Trail()
    tiers = ("light",) if ctx.light else ("light", "full")
    verdict = yield from _output_based(ctx, [f for f in TABLE.forms if f.tier in tiers], trail)
    if verdict is not None:
        return [verdict]
    if ctx.light:
        if not trail.shell_error:
            return []
        verdict = yield from _output_based(ctx, [f for f in TABLE.forms if f.tier == "full"], trail)
        if verdict is not None:
            return [verdict]
    elif not (trail.shell_error or command_shaped(ctx.point.value) or named_like_command(ctx.point)):
        return []
    return (yield from _time_based(ctx, trail))


# ---------------------------------------------------------------------------- output-based
def _output_based(ctx: CheckContext, forms: Sequence[Form],
                  trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    for form in forms:
        command = TABLE.command(form.command)
        marker = _marker(ctx)
        payload = _place(form, ctx.point.value, marker.fill(command))
        (exchange,) = yield [ctx.attack(payload, form.name)]
        proof = _computed(exchange, marker, command, payload)
        if proof is None:
            trail.shell_error = trail.shell_error or _shell_error(ctx, exchange)
            trail.controls.append(exchange)
            continue
        verdict = yield from _confirm(ctx, form, command, exchange, proof, marker, trail)
        if verdict is not None:
            return verdict
    return None


def _confirm(ctx: CheckContext, form: Form, command: Command, hit: Exchange, proof: str, marker: _Marker,
             trail: _Trail) -> Generator[list[Attack], list[Exchange], Verdict | None]:
    fresh = _marker(ctx)
    payload = _place(form, ctx.point.value, fresh.fill(command))
    (again,) = yield [ctx.attack(payload, "confirm")]
    if _computed(again, fresh, command, payload) is None:
        trail.controls.extend((hit, again))
        return None
    return CMDI.verdict(
        ctx, hit, proof=proof, confidence=Confidence.FIRM,
        confirmation=(f"a second payload with fresh operands ({fresh.a}+{fresh.b}) and tag printed their sum "
                      f"{fresh.a + fresh.b} between the tags as well"),
        controls=(ctx.normal, *trail.controls, again),
        details={"technique": "output", "form": form.name, "os": command.name, "tag": marker.tag,
                 "operands": [marker.a, marker.b], "expected": marker.pattern(command).pattern,
                 "confirm_operands": [fresh.a, fresh.b]},
    )


def _computed(exchange: Exchange, marker: _Marker, command: Command, payload: str) -> str | None:
    """The marker's computed output in the response, as found after normalising it, or None."""
    if exchange.response is None:
        return None
    text = exchange.text
    # Most responses cannot hold the output: the sum's digits appear nowhere, not even escaped.
    if str(marker.a + marker.b) not in text and "&#" not in text and "%3" not in text:
        return None
    match = marker.pattern(command).search(normalise(text, payload))
    return match.group(0) if match else None


def normalise(text: str, payload: str) -> str:
    """The response text as the output oracle reads it: the payload's echo (raw, URL- and
    HTML-encoded) removed, HTML entities and percent-escapes decoded, whitespace runs made one space.

    >>> normalise("<b>x&amp;y</b>%41\\n\\nz", "q")
    '<b>x&y</b>A z'
    """
    text = strip_reflections(text, [payload])
    text = html.unescape(text)
    text = strip_reflections(text, [payload])
    if "%" in text:
        text = unquote(text)
    return _SPACES.sub(" ", text)


def _shell_error(ctx: CheckContext, exchange: Exchange) -> bool:
    """Whether the probe's response carries a shell's error message that normal responses do not."""
    if exchange.response is None or not SHELL_ERROR.search(exchange.text):
        return False
    return not any(SHELL_ERROR.search(r.text) for r in ctx.replays if r.response is not None)


# ---------------------------------------------------------------------------- time-based
def _time_based(ctx: CheckContext, trail: _Trail) -> Probe:
    model: timing.LatencyModel | None = None
    for form in (f for f in TABLE.forms if f.time):
        command = TABLE.command(form.command)
        result = yield from timing.confirm_delay(ctx, _sleeper(form, command, ctx.point.value),
                                                 f"time-{form.name}", model=model)
        model = result.model
        if result.confirmed:
            return [CMDI.verdict(
                ctx, result.exchange, proof=result.proof, confirmation=result.confirmation,
                confidence=Confidence.FIRM, controls=(*result.controls, *trail.controls[:3]),
                details={"technique": "time", "form": form.name, "os": command.name, **result.details},
            )]
        if result.decision is timing.TimingDecision.LAGGING:
            break  # the host is too jittery for any delay we may ask for: another form will not help
    return []


def _sleeper(form: Form, command: Command, value: str) -> Callable[[float], str]:
    """The payload asking for ``seconds`` of sleep through ``form``."""

    def payload(seconds: float) -> str:
        # ping -n N waits N-1 seconds between its N echoes
        sleep = command.sleep.replace("{seconds}", timing.seconds(seconds))
        return _place(form, value, sleep.replace("{pings}", str(math.ceil(seconds) + 1)))

    return payload


# ---------------------------------------------------------------------------- helpers
def command_shaped(value: str) -> bool:
    """Values servers commonly hand to a command: IPv4 addresses, host names, file names.

    >>> command_shaped("10.0.0.1"), command_shaped("example.org"), command_shaped("hello")
    (True, True, False)
    """
    value = value.strip()
    return bool(_IPV4.match(value) or _HOST.match(value) or _FILE.match(value))


def named_like_command(point: Point) -> bool:
    """Whether the innermost key of ``point`` reads like a command argument (``host``, ``ip``,
    ``cmd``, ``pingAddress``, ...)."""
    return pointnames.named_like(point, TABLE.name_words)


def _marker(ctx: CheckContext) -> _Marker:
    return _Marker(ctx.marker(6), ctx.number(100, 999), ctx.number(100, 999))


def _place(form: Form, value: str, command: str) -> str:
    return form.template.replace("{value}", value).replace("{cmd}", command)


CMDI = Check(
    id="cmdi",
    title="OS command injection",
    kind="rce",
    severity=Severity.CRITICAL,
    cwe=78,
    description="A value of the request is placed into an operating-system command line, so shell syntax in it "
                "runs further commands on the server.",
    run=_run,
    applies=_applies,
    remediation="Do not build shell command lines from input: call the program directly with an argument list "
                "(no shell), validate the value against a strict pattern, and keep '--' before user arguments.",
)
CHECKS = (CMDI,)
