"""The check contract: what a check is given, what it yields, what it returns.

A check is pure. It never opens a socket, sleeps or reads a clock; it is a generator that *yields*
batches of :class:`Attack` and is *sent back* the :class:`Exchange` of each (same order), as many
rounds as it needs (probe, then context payloads, then confirmation). When it is done it *returns*
the :class:`Verdict` list: only confirmed vulnerabilities, each with its evidence. The engine owns
every byte sent, the rate limits, the concurrency and the clock.

Example: a toy check that reports a point whose payload comes back verbatim::

    def run(ctx: CheckContext) -> Probe:
        marker = ctx.marker()
        (probe,) = yield [ctx.attack(marker, label="probe")]
        if probe.response is None or marker not in probe.response.text():
            return []
        (again,) = yield [ctx.attack(ctx.marker(), label="confirm")]
        ...
        return [ctx.verdict(CHECK, probe, proof=marker, confirmation="reflected twice")]

Drive it in a test with :func:`lunge.checks.testing.drive` and a fake responder; no server needed.
"""

from __future__ import annotations

import hashlib
import math
import random
import string
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from lunge.checks.identity import Identities
from lunge.http import Request, Response
from lunge.http.points import Point, Points
from lunge.values import quick_init

if TYPE_CHECKING:
    from lunge.checks.callbacks import Interaction, OobEndpoint
    from lunge.checks.jwks import RsaKey
    from lunge.checks.noise import NoiseModel


class Severity(StrEnum):
    """How bad a finding is; ``fail_on`` in a policy compares against this order."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


class Confidence(StrEnum):
    """How sure the check is (Burp's scale). The build fails on ``firm`` and above by default;
    ``tentative`` findings are reported with their evidence but do not fail it."""

    TENTATIVE = "tentative"
    FIRM = "firm"
    CERTAIN = "certain"

    @property
    def rank(self) -> int:
        return list(Confidence).index(self)


@quick_init
@dataclass(frozen=True, slots=True)
class Attack:
    """One request a check wants sent.

    - ``payload``: the value placed at the point (for the evidence and the report).
    - ``label``: what the attack is for within the check ("probe", "true", "false", "delay-4").
    - ``timing``: send it in the per-host quiet lane (nothing else in flight to that host) and
      measure its latency precisely; for time-based probes and their controls.
    - ``timeout``: seconds to wait for this one (a time-based probe needs delay + margin).
    - ``token``: the out-of-band token the payload carries (:mod:`lunge.checks.callbacks`); the
      engine attaches the listener's interactions for it to the exchange.
    """

    request: Request
    payload: str
    label: str = ""
    timing: bool = False
    timeout: float | None = None
    token: str = ""


@quick_init
@dataclass(frozen=True, slots=True)
class Exchange:
    """An attack and what came back. ``response`` is None when no response arrived; ``error``
    says why ("timeout", "connection refused", ...). ``elapsed`` is seconds from the request's
    last byte written to the response's first byte, excluding any queueing in the engine."""

    attack: Attack
    response: Response | None
    elapsed: float
    error: str | None = None
    # Callbacks the out-of-band listener received for ``attack.token`` by the time the response
    # came back (see lunge.checks.callbacks).
    interactions: tuple[Interaction, ...] = ()

    @property
    def ok(self) -> bool:
        return self.response is not None

    @property
    def text(self) -> str:
        """The decoded response body ('' when there is none)."""
        return self.response.text() if self.response is not None else ""

    @property
    def status(self) -> int:
        return self.response.status if self.response is not None else 0


@dataclass(frozen=True, slots=True)
class TimingStats:
    """Latency samples (seconds) of normal, unattacked requests to the baseline's host."""

    samples: tuple[float, ...] = ()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else 0.0

    @property
    def stdev(self) -> float:
        n = len(self.samples)
        if n < 2:
            return 0.0
        mean = self.mean
        return math.sqrt(sum((s - mean) ** 2 for s in self.samples) / (n - 1))


@dataclass(frozen=True, slots=True)
class Verdict:
    """A confirmed vulnerability as a check reports it; the engine adds ids and stores it as a
    finding.

    ``exchange`` is the attack that proves it; ``proof`` the exact text in its response that does
    (the excerpt shown around it is cut by the engine); ``confirmation`` says in one sentence how
    the check made sure; ``controls`` are the other exchanges that convinced it (the false
    condition, the zero-delay control, the encoded twin); ``details`` the numbers behind the
    decision (ratios, delays, thresholds).
    """

    check_id: str
    title: str
    severity: Severity
    cwe: int
    confidence: Confidence
    point: str
    payload: str
    exchange: Exchange
    proof: str
    confirmation: str
    controls: tuple[Exchange, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)


# The generator protocol: yield a list of attacks, receive their exchanges, return verdicts.
Probe = Generator[list[Attack], list[Exchange], list[Verdict]]

_ALPHABET = string.ascii_lowercase + string.digits


class SeededRandom(random.Random):
    """A ``random.Random`` whose bits come from BLAKE2b: the seed's digest, then the digests of
    block numbers keyed by it. Seeding is one hash where the Mersenne Twister fills 624 words
    (7-8 µs for a str seed, paid by every context that draws: about 4 % of the engine's CPU).
    Deterministic across processes and runs. For markers and payload choices, not for secrets."""

    def seed(self, a: object = None, version: int = 2) -> None:  # called by Random.__init__
        self._key = hashlib.blake2b(str(a).encode()).digest()
        self._pool = int.from_bytes(self._key, "little")  # unread bits, least significant first
        self._bits = 512
        self._block = 0

    def getrandbits(self, k: int) -> int:
        while self._bits < k:
            self._block += 1
            block = hashlib.blake2b(self._block.to_bytes(8, "little"), key=self._key[:32]).digest()
            self._pool |= int.from_bytes(block, "little") << self._bits
            self._bits += 512
        value = self._pool & ((1 << k) - 1)
        self._pool >>= k
        self._bits -= k
        return value

    def random(self) -> float:
        return self.getrandbits(53) / 9007199254740992  # 2**53


@quick_init
@dataclass(frozen=True, slots=True)
class CheckContext:
    """Everything a check may read about the baseline and the point under attack.

    - ``baseline``: the recorded request (already moved to the run's target).
    - ``recorded``: the response recorded with it (None if it was not kept).
    - ``replays``: fresh replays of the baseline made before any attack (at least one): the
      current normal behaviour.
    - ``noise``: what differs between those normal responses, for differential checks.
    - ``timing``: latency of normal requests to this host, for time-based checks.
    - ``light``: the point was seen many times already; send only a cheap probe and escalate to
      the full check only if it shows server-side processing.
    - ``time_delay``: the delay (seconds) time-based checks should ask for.
    - ``set_cookies``: the ``Set-Cookie`` values the record's responses carried so far, by cookie
      name (for checks that judge cookie attributes, like ``csrf``).
    - ``sinks``: for second-order checks (stored XSS), requests of other baselines whose responses
      showed a value planted at this point; the check yields them (``Attack(sink, ...)``) after
      storing a payload, and judges their responses.
    - ``linked``: other points that carried the same recorded value as ``point`` in this request
      (``password`` and ``password_again``): :meth:`inject` puts the payload in them too, since the
      application checks they are equal before it reaches the code behind them. The engine makes
      such a context in addition to the usual one on the point alone.
    - ``oob``: the out-of-band listener (:mod:`lunge.checks.callbacks`); None when it is off.
    - ``thorough``: the policy asks checks gated on a value's shape to try every point as well
      (the ``full`` policy), with their cheapest payload.
    - ``public_keys``: RSA public keys the baseline's origin publishes (its JWK Set, the
      ``jwks_uri`` of its OpenID metadata, PEM blocks in its recorded responses), for checks that
      declare ``uses_public_keys``; fetched by the engine once per origin per run.
    - ``login_attempts``: how many failed sign-ins a brute-force check may send per sign-in
      (policy ``limits.login_attempts``).
    - ``token_claims``: the values each claim took in the JSON Web Tokens of the record so far
      (requests and recorded responses, in record order; time claims left out), for checks that
      swap one identity for another (``jwt``).
    - ``identities``: the run's identities (:mod:`lunge.checks.identity`) with the one this baseline
      was recorded as; only for a check with ``uses_identities``, on its once-per-baseline run, and
      only when the run knows two identities or more. None otherwise.
    """

    baseline: Request
    recorded: Response | None
    replays: tuple[Exchange, ...]
    point: Point
    points: Points
    noise: NoiseModel
    timing: TimingStats = TimingStats()
    # Any value whose str() is stable across processes (ints, strs, tuples of them): the runner
    # passes (run, baseline, point, check), turned into text only if the check draws.
    seed: int | str | tuple[int | str, ...] = 0
    light: bool = False
    time_delay: float = 3.0
    sinks: tuple[Request, ...] = ()
    linked: tuple[Point, ...] = ()
    # Cookies the record's responses set so far, by name: the raw ``Set-Cookie`` value (for its
    # attributes: SameSite, Secure, HttpOnly). Filled by the engine in record order, so a session
    # cookie set by a login baseline is known when the baselines that carry it are tested.
    set_cookies: Mapping[str, str] = field(default_factory=dict)
    oob: OobEndpoint | None = None
    thorough: bool = False
    public_keys: tuple[RsaKey, ...] = ()
    login_attempts: int = 20
    token_claims: Mapping[str, tuple[str | int, ...]] = field(default_factory=dict)
    identities: Identities | None = None
    # The generator behind ``rng``, made on first use: most probes of a repeated point send one
    # cheap request and never draw a random number, and seeding costs more than that probe.
    _rng: list[SeededRandom] = field(default_factory=list, init=False, repr=False, compare=False)
    # Derived values a check computes several times from the same exchange (its cleaned text),
    # kept for this context's life: see :meth:`remember`.
    _memo: dict[tuple[str, int], tuple[object, Any]] = field(default_factory=dict, init=False, repr=False,
                                                             compare=False)
    # Observations that are not findings, for the baseline's test set (see :meth:`note`).
    _notes: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def rng(self) -> random.Random:
        """This context's random numbers, seeded by ``seed``: the same run, baseline, point and
        check draw the same markers and payloads."""
        if not self._rng:
            self._rng.append(SeededRandom(str(self.seed)))
        return self._rng[0]

    def remember[V](self, kind: str, exchange: Exchange, compute: Callable[[Exchange], V]) -> V:
        """``compute(exchange)``, computed once per exchange for this context: a pure function of
        the exchange (its cleaned text, say) that several judgements read."""
        key = (kind, id(exchange))
        hit = self._memo.get(key)
        if hit is not None and hit[0] is exchange:  # the exchange itself is kept: its id stays its own
            return hit[1]  # type: ignore[no-any-return]
        value = compute(exchange)
        self._memo[key] = (exchange, value)
        return value

    def note(self, text: str) -> None:
        """Record an observation that is not a vulnerability but should not be lost (markup echoed
        raw in a JSON answer, say): the engine adds it to the baseline's test set. Once per text."""
        if text not in self._notes:
            self._notes.append(text)

    @property
    def notes(self) -> tuple[str, ...]:
        """What :meth:`note` recorded, in order."""
        return tuple(self._notes)

    @property
    def normal(self) -> Exchange:
        """The first fresh replay: the reference "normal" exchange."""
        return self.replays[0]

    def marker(self, length: int = 10) -> str:
        """A random lowercase alphanumeric marker, unique per call (starts with a letter)."""
        # One draw of more bits than 26 * 36**(length-1) values need, read as base-36 digits.
        bits, first = divmod(self.rng.getrandbits(6 * length), 26)
        chars = [string.ascii_lowercase[first]]
        for _ in range(length - 1):
            bits, digit = divmod(bits, 36)
            chars.append(_ALPHABET[digit])
        return "".join(chars)

    def number(self, low: int = 1000, high: int = 9999) -> int:
        return self.rng.randint(low, high)

    def inject(self, payload: str, *, raw: bool = False) -> Request:
        """The baseline with this point's value replaced by ``payload`` (encoded for its place)."""
        if self.linked:
            return self.points.replace_many(dict.fromkeys((self.point, *self.linked), payload), raw=raw)
        return self.points.replace(self.point, payload, raw=raw)

    def attack(self, payload: str, label: str = "", *, raw: bool = False, timing: bool = False,
               timeout: float | None = None) -> Attack:
        """An :class:`Attack` carrying ``payload`` at this point."""
        return Attack(self.inject(payload, raw=raw), payload, label, timing, timeout)

    def replay(self, label: str = "replay", *, timing: bool = False, timeout: float | None = None) -> Attack:
        """The baseline itself, unchanged (a control, or a timing sample)."""
        return Attack(self.baseline, self.point.value, label, timing, timeout)


@dataclass(frozen=True, slots=True)
class Check:
    """A detector of one vulnerability class, registered under a stable kebab-case ``id``.

    - ``kind``: FAST's type code (sqli, xss, rce, ptrav, redir, ...), which policies may select.
    - ``applies``: a cheap gate on the point (value shape, kind, location); False = not attacked.
    - ``run``: the generator described in the module docstring.
    - ``second_order``: the check needs ``ctx.sinks`` (pages where a value planted at the point
      shows up later, as stored XSS does): the engine runs it after the first pass, on the points
      whose planted markers it found elsewhere, never in the first pass.
    - ``per_baseline``: the check judges the request as a whole (CSRF: is this state-changing
      request accepted cross-site?), not one value in it. The engine runs it once per baseline, on
      the baseline's first point (``URI_value``), whatever points the policy selects: the policy's
      ``checks`` list alone turns it on or off.
    - ``uses_oob``: part of its detection needs the out-of-band listener; with the listener off
      the run's report says this check ran without it.
    - ``uses_public_keys``: it reads ``ctx.public_keys``; the engine looks them up (one fetch per
      origin per run) only for the baselines such a check is about to test.
    - ``uses_identities``: the check replays baselines as other users (``bola``, ``broken-access``).
      The engine runs it once per baseline on the first point with ``ctx.identities`` set, when the
      run knows two identities or more: a ``per_baseline`` check on its only run, any other in
      addition to its per-point runs (which get no identities).
    """

    id: str
    title: str
    kind: str
    severity: Severity
    cwe: int
    description: str
    run: Callable[[CheckContext], Probe]
    applies: Callable[[CheckContext], bool] = lambda ctx: True
    remediation: str = ""
    second_order: bool = False
    per_baseline: bool = False
    uses_oob: bool = False
    uses_public_keys: bool = False
    uses_identities: bool = False

    def verdict(self, ctx: CheckContext, exchange: Exchange, *, proof: str, confirmation: str,
                confidence: Confidence = Confidence.FIRM, controls: tuple[Exchange, ...] = (),
                details: Mapping[str, Any] | None = None, severity: Severity | None = None) -> Verdict:
        """A :class:`Verdict` of this check for ``ctx``'s point."""
        return Verdict(self.id, self.title, severity or self.severity, self.cwe, confidence, ctx.point.name,
                       exchange.attack.payload, exchange, proof, confirmation, controls, dict(details or {}))
