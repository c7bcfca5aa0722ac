"""The anomaly fuzzer (``anomaly``): FAST's byte fuzzer, judged against the endpoint's noise.

FAST's fuzzer (fast.md §5, detection.md §12) puts the bytes 0x01–0xFF into a value, packed into
payloads of M bytes (M = 250: all 255 bytes in two requests), inserted at the start, a random
position or the end of the value, or replacing part of it (a random segment, the first or last M
characters, or the whole value). A payload whose response is an *anomaly* is narrowed down to the
bytes that cause it, which the finding lists. Each byte is put in as the character of that code
point and encoded for its place like any payload (a query value percent-encodes it, as UTF-8 above
0x7F; a JSON string escapes what JSON must), so the request stays well-formed.

lunge judges each response against two references, so that a changed value alone is no anomaly:

- the **control**: the same payload shape filled with random letters (a search for ``widgetqzx…``
  finds nothing either way), sent once per payload shape;
- the **noise model** of the fresh replays (status, jitter, latency).

An anomaly (all configurable in the policy's ``fuzzer`` section, :class:`FuzzerConfig`) is a status
of another class than both the control's and the replays' (a 5xx above all), no response where the
control got one, a response slower than the replays by ``time_diff`` seconds, a body matching
``body``, or (only where the control value is not echoed, so an echo of odd bytes cannot pass for
one) a length difference beyond the noise by ``length_diff`` characters or ``dom_diff`` elements.
``ignore_status`` (input rejected: 400, 404, 422, ...) and ``ignore_body`` say what is never one.

Narrowing is a bisection: an anomalous payload is split in halves, each half sent, down to single
bytes; a single byte is sent twice and must be anomalous both times. Requests are capped per point
(``budget``); fuzzing stops after ``max_anomalies`` bytes or ``max_timeouts`` timed-out requests.
An anomaly is a lead, not a confirmed vulnerability: ``tentative``, so it fails the build only when
the policy's ``fail_on`` asks for tentative findings. Off in the ``default`` policy.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from lunge.checks.base import Attack, Check, CheckContext, Confidence, Exchange, Probe, Severity, Verdict
from lunge.http.points import ValueKind

BYTES = "".join(chr(b) for b in range(0x01, 0x100))  # each byte as the character of that code point
_TAGS = re.compile(r"<[A-Za-z]")


@dataclass(frozen=True, slots=True)
class FuzzPayload:
    """One payload shape: ``insert`` M bytes at ``start``/``random``/``end`` of the value, or
    ``replace`` a ``random`` segment, the ``first`` or ``last`` M characters, or ``all`` of it."""

    action: Literal["insert", "replace"] = "insert"
    where: str = "end"
    size: int = 250

    def describe(self) -> str:
        return f"{self.action} {self.size} bytes at {self.where}" if self.action == "insert" else \
            f"replace {self.where} with {self.size} bytes"


@dataclass(frozen=True, slots=True)
class FuzzerConfig:
    """The policy's ``fuzzer`` section (FAST's fuzzer settings, see the module docstring)."""

    payloads: tuple[FuzzPayload, ...] = (FuzzPayload("insert", "end"), FuzzPayload("replace", "all"))
    status_class: bool = True  # a status of another class is an anomaly
    length_diff: int = 100  # characters beyond the replays' jitter
    time_diff: float = 5.0  # seconds slower than the slowest replay
    dom_diff: int = 5  # HTML elements more or fewer than the control's
    body: str = ""  # a regex: a body matching it (and not the control's) is an anomaly
    ignore_status: tuple[int, ...] = (400, 401, 403, 404, 405, 406, 411, 413, 414, 415, 422, 429)
    ignore_body: str = ""  # a regex: a body matching it is never an anomaly
    max_anomalies: int = 3  # stop after this many anomalous bytes
    max_timeouts: int = 3  # stop after this many timed-out requests
    budget: int = 64  # requests per point


@dataclass(slots=True)
class _State:
    config: FuzzerConfig
    sent: int = 0
    timeouts: int = 0
    found: dict[str, tuple[Exchange, str]] = field(default_factory=dict)  # byte -> (exchange, difference)
    trail: list[Exchange] = field(default_factory=list)

    def count_timeout(self, exchange: Exchange) -> None:
        if exchange.response is None and "timeout" in (exchange.error or "").lower():
            self.timeouts += 1

    def room(self, n: int) -> bool:
        c = self.config
        return (self.sent + n <= c.budget and len(self.found) < c.max_anomalies and self.timeouts < c.max_timeouts)


@dataclass(frozen=True, slots=True)
class _Reference:
    """What one payload shape is judged against: its control exchange and the replays."""

    control: Exchange
    echoed: bool  # the control's value came back: length and structure are not judged
    position: int


def place(value: str, payload: FuzzPayload, chunk: str, position: int) -> str:
    """``value`` with ``chunk`` inserted or replacing according to ``payload`` (``position`` is the
    random offset drawn for this shape).

    >>> place("abcdef", FuzzPayload("insert", "start", 2), "XY", 0)
    'XYabcdef'
    >>> place("abcdef", FuzzPayload("replace", "last", 2), "XY", 0)
    'abcdXY'
    >>> place("abcdef", FuzzPayload("replace", "random", 2), "XY", 3)
    'abcXYf'
    >>> place("abc", FuzzPayload("replace", "all"), "XY", 0)
    'XY'
    """
    size = len(chunk)
    if payload.action == "insert":
        at = {"start": 0, "end": len(value)}.get(payload.where, min(position, len(value)))
        return value[:at] + chunk + value[at:]
    if payload.where == "all":
        return chunk
    if payload.where == "first":
        return chunk + value[size:]
    if payload.where == "last":
        return value[: max(0, len(value) - size)] + chunk
    at = min(position, max(0, len(value) - size))
    return value[:at] + chunk + value[at + size :]


def chunks(size: int) -> list[str]:
    """The 255 bytes in payloads of ``size`` (1–255).

    >>> [len(c) for c in chunks(250)]
    [250, 5]
    """
    return [BYTES[i : i + size] for i in range(0, len(BYTES), size)]


def show(byte: str) -> str:
    """A byte as the finding lists it.

    >>> show("'"), show("\\x00\\x0a"[1])
    ("0x27 (')", '0x0a')
    """
    code = ord(byte)
    return f"0x{code:02x} ({byte})" if 0x21 <= code <= 0x7E else f"0x{code:02x}"


# ---------------------------------------------------------------------------- judging
def difference(ctx: CheckContext, config: FuzzerConfig, exchange: Exchange, ref: _Reference) -> str | None:
    """How ``exchange`` differs from the control and the normal replays, or None when it does not
    (see the module docstring for the conditions)."""
    control = ref.control
    response = exchange.response
    if response is None:
        return f"no response ({exchange.error or 'closed'}) where the control was answered"
    if response.status in config.ignore_status:
        return None
    text = exchange.text
    if config.ignore_body and re.search(config.ignore_body, text):
        return None
    normal_status = ctx.noise.status or ctx.normal.status
    if config.status_class and response.status // 100 not in (control.status // 100, normal_status // 100):
        return f"status {response.status} where the control got {control.status} and the replays {normal_status}"
    if config.body and re.search(config.body, text) and not re.search(config.body, control.text):
        return f"body matches {config.body!r}"
    slowest = max((r.elapsed for r in ctx.replays if r.response is not None), default=0.0)
    if exchange.elapsed > max(slowest, control.elapsed) + config.time_diff:
        return f"answered in {exchange.elapsed:.2f} s where the replays took at most {slowest:.2f} s"
    if ref.echoed or response.status != control.status:
        return None
    return _body_difference(ctx, config, text, control.text)


def _body_difference(ctx: CheckContext, config: FuzzerConfig, text: str, control: str) -> str | None:
    changed = ctx.noise.difference(text, other=control)
    if changed > ctx.noise.jitter + config.length_diff:
        return f"{changed} characters differ from the control's body (normal jitter {ctx.noise.jitter})"
    elements, expected = len(_TAGS.findall(text)), len(_TAGS.findall(control))
    if abs(elements - expected) > config.dom_diff:
        return f"{elements} HTML elements where the control's page has {expected}"
    return None


# ---------------------------------------------------------------------------- the fuzzer
def _run(config: FuzzerConfig, ctx: CheckContext) -> Probe:
    state = _State(config)
    value = ctx.point.value
    for payload in config.payloads:
        position = ctx.rng.randint(0, max(0, len(value)))
        if not state.room(1):
            break
        marker = ctx.marker(max(payload.size, 4))
        (control,) = yield [ctx.attack(place(value, payload, marker, position), "control")]
        state.sent += 1
        state.trail.append(control)
        if control.response is None:
            continue
        ref = _Reference(control, _echoed(marker, control), position)
        yield from _fuzz(ctx, state, payload, ref, chunks(payload.size))
    if not state.found:
        return []
    return [_verdict(ctx, state)]


def _echoed(marker: str, control: Exchange) -> bool:
    """Whether any part of the control's random letters came back (an echo, maybe truncated)."""
    text = control.text.lower()
    return any(marker[i : i + 8] in text for i in range(0, max(1, len(marker) - 7), 8))


def _fuzz(ctx: CheckContext, state: _State, payload: FuzzPayload, ref: _Reference,
          pieces: Sequence[str]) -> Generator[list[Attack], list[Exchange], None]:
    """Send ``pieces``; split each anomalous one in halves and go on, down to single bytes."""
    pending = [p for p in pieces if p and not all(ch in state.found for ch in p)]
    if not pending or not state.room(len(pending)):
        return
    attacks = [_attack(ctx, payload, piece, ref.position, "fuzz") for piece in pending]
    exchanges = yield attacks
    state.sent += len(exchanges)
    for piece, exchange in zip(pending, exchanges, strict=True):
        state.trail.append(exchange)
        state.count_timeout(exchange)
        why = difference(ctx, state.config, exchange, ref)
        if why is None:
            continue
        if len(piece) == 1:
            yield from _confirm(ctx, state, payload, ref, piece, why)
        else:
            half = (len(piece) + 1) // 2
            yield from _fuzz(ctx, state, payload, ref, [piece[:half], piece[half:]])


def _confirm(ctx: CheckContext, state: _State, payload: FuzzPayload, ref: _Reference, byte: str,
             first: str) -> Generator[list[Attack], list[Exchange], None]:
    if not state.room(1):
        return
    (again,) = yield [_attack(ctx, payload, byte, ref.position, "confirm")]
    state.sent += 1
    state.count_timeout(again)
    why = difference(ctx, state.config, again, ref)
    if why is not None:
        state.found[byte] = (again, first)
    else:
        state.trail.append(again)


def _attack(ctx: CheckContext, payload: FuzzPayload, piece: str, position: int, label: str) -> Attack:
    return ctx.attack(place(ctx.point.value, payload, piece, position), label)


def _verdict(ctx: CheckContext, state: _State) -> Verdict:
    byte, (exchange, why) = next(iter(state.found.items()))
    response = exchange.response
    proof = f"{response.status} {response.reason}".strip() if response is not None else (exchange.error or "")
    listed = [show(b) for b in state.found]
    details: dict[str, Any] = {
        "bytes": listed, "differences": {show(b): w for b, (_, w) in state.found.items()},
        "payloads": [p.describe() for p in state.config.payloads], "requests": state.sent,
        "timeouts": state.timeouts, "budget": state.config.budget,
    }
    controls = tuple(e for e in state.trail if e.attack.label == "control")
    return ANOMALY.verdict(
        ctx, exchange, proof=proof, confidence=Confidence.TENTATIVE, controls=controls, details=details,
        confirmation=(f"bytes {', '.join(listed)}: narrowed by halving the anomalous payload down to each byte, "
                      f"which was anomalous twice alone ({why}); a control of random letters in the same "
                      f"place was not"),
    )


def _applies(ctx: CheckContext) -> bool:
    return not ctx.light and ctx.point.kind is not ValueKind.BINARY


ANOMALY = Check(
    id="anomaly",
    title="Anomaly (fuzzer)",
    kind="anomaly",
    severity=Severity.LOW,
    cwe=20,
    description="Bytes 0x01-0xFF put into a value make the application answer unlike with a harmless value of "
                "the same size (another status class, a 5xx, no answer, a much slower or different page): "
                "input the code does not handle, a lead for a vulnerability.",
    run=lambda ctx: _run(FuzzerConfig(), ctx),
    applies=_applies,
    remediation="Find the code path the listed bytes reach and make it validate or encode its input.",
)
CHECKS = (ANOMALY,)


def configured(checks: Sequence[Check], config: FuzzerConfig) -> tuple[Check, ...]:
    """``checks`` with the anomaly fuzzer (when selected) set up by the policy's ``fuzzer`` section."""
    return tuple(replace(c, run=lambda ctx: _run(config, ctx)) if c is ANOMALY else c for c in checks)
