"""Fresh values at send time: substitute what the record's producers hand out now, and renew them.

Every request the engine sends for a baseline (its replays, and each attack a check yields) goes
through :meth:`Sessions.send`: where the baseline carried a value learned as a flow
(:mod:`engine.flow`), the value its producer gave most recently in this run is put in its place.
The producer is run again (a *setup* request, counted apart from attacks) when:

- the value is a per-form token (valid once): before every send, under a lock, so the token fetched
  is the one sent;
- the value is a JWT whose ``exp`` has passed, or a cookie whose ``Max-Age`` ran out;
- the consumer answered 401/403 or redirected to a login page although it was recorded answering
  normally: the credential is renewed and the request sent once more.

Checks never see any of this: they build attacks on the recorded baseline and receive the exchanges
of what was really sent (the evidence shows the fresh values).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

from lunge.checks.base import Attack, Exchange
from lunge.engine.flow import FlowMap, Produced, Source, Use, jwt_expiry, read
from lunge.http import Point, Request, Response, parse
from lunge.store.models import Baseline

logger = logging.getLogger(__name__)

SendAll = Callable[[list[Attack]], Awaitable[list[Exchange]]]
LoadBaseline = Callable[[int], Awaitable[Baseline]]
LEEWAY = 1.0  # seconds: renew a value this close to its expiry rather than send it and fail
RENEWALS_PER_BASELINE = 4  # 401-driven renewals before the engine stops trying for a baseline
MAX_DEPTH = 3  # a producer that needs a producer that needs a producer ...
_LOGIN = re.compile(r"(log-?in|sign-?in|auth|sso|session/new)", re.IGNORECASE)


def auth_failure(response: Response | None) -> bool:
    """401/403, or a redirect to a login page."""
    if response is None:
        return False
    if response.status in (401, 403):
        return True
    return 300 <= response.status < 400 and bool(_LOGIN.search(response.headers.get("location") or ""))


@dataclass(slots=True)
class _Fresh:
    value: str
    expires: float | None


@dataclass(slots=True)
class Sessions:
    """The run's current values of every learned source, and the producers' replays that renew them.

    ``send_raw`` sends without substitution; ``load`` reads a producer baseline; ``moved`` points a
    recorded request at the run's target.
    """

    flows: FlowMap
    send_raw: SendAll
    load: LoadBaseline
    moved: Callable[[Request], Request]
    clock: Callable[[], float] = time.time
    setup_requests: int = 0
    _fresh: dict[Source, _Fresh] = field(default_factory=dict)
    _locks: dict[int, asyncio.Lock] = field(default_factory=dict)
    _renewed: dict[int, int] = field(default_factory=dict)  # producer id -> generation
    _budget: dict[int, int] = field(default_factory=dict)
    _notes: dict[int, list[str]] = field(default_factory=dict)
    _producers: dict[int, list[Source]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for uses in self.flows.uses.values():
            for use in uses:
                sources = self._producers.setdefault(use.source.producer_id, [])
                if use.source not in sources:
                    sources.append(use.source)

    # ------------------------------------------------------------------ learning values as they come
    def observe(self, baseline_id: int, response: Response | None) -> None:
        """A replay of ``baseline_id`` came back: keep every value it produces for its consumers."""
        if response is None or baseline_id not in self._producers:
            return
        for source in self._producers[baseline_id]:
            item = read(source, response)
            if item is not None:
                self._keep(item)
                # consumers refused before this value came in renew no more (see :meth:`renew`)
                self._renewed[baseline_id] = self._renewed.get(baseline_id, 0) + 1

    def _keep(self, item: Produced) -> None:
        expires = jwt_expiry(item.value)
        if item.max_age is not None:
            expires = self.clock() + item.max_age
        self._fresh[item.source] = _Fresh(item.value, expires)

    def current(self, source: Source) -> str | None:
        """The value ``source`` handed out most recently in this run (None before any)."""
        fresh = self._fresh.get(source)
        return fresh.value if fresh is not None else None

    # ------------------------------------------------------------------ sending
    def uses(self, baseline_id: int) -> tuple[Use, ...]:
        return self.flows.uses.get(baseline_id, ())

    def protected(self, baseline_id: int) -> set[str]:
        """Points not to attack by default: per-form tokens (attacking one only tests the token check)."""
        return {u.point for u in self.uses(baseline_id) if u.source.per_use}

    def notes(self, baseline_id: int) -> list[str]:
        return self._notes.get(baseline_id, [])

    def note(self, baseline_id: int, text: str) -> None:
        notes = self._notes.setdefault(baseline_id, [])
        if text not in notes and len(notes) < 8:
            notes.append(text)

    async def send(self, baseline: Baseline, attacks: list[Attack], *, depth: int = 0) -> list[Exchange]:
        """Send ``attacks`` for ``baseline`` with fresh values, renewing them as needed."""
        uses = self.uses(baseline.id)
        if not uses:
            return await self.send_raw(attacks)
        await self._renew_expired(baseline, uses, depth)
        if any(u.source.per_use for u in uses):
            return [await self._send_per_use(baseline, attack, uses, depth) for attack in attacks]
        generations = self._generations(uses)
        prepared = [self._substituted(a, uses) for a in attacks]
        exchanges = await self.send_raw([a for a, _ in prepared])
        return await self._retry_refused(baseline, attacks, prepared, exchanges, uses, generations, depth)

    async def _send_per_use(self, baseline: Baseline, attack: Attack, uses: tuple[Use, ...],
                            depth: int) -> Exchange:
        producer = next(u.source.producer_id for u in uses if u.source.per_use)
        async with self._lock(producer):
            await self._replay_producer(producer, depth, baseline)
            prepared, _ = self._substituted(attack, uses)
            (exchange,) = await self.send_raw([prepared])
        return exchange

    async def _renew_expired(self, baseline: Baseline, uses: tuple[Use, ...], depth: int) -> None:
        now = self.clock()
        generations = self._generations(uses)
        for use in uses:
            fresh = self._fresh.get(use.source)
            expires = fresh.expires if fresh is not None else jwt_expiry(use.recorded)
            if expires is not None and expires <= now + LEEWAY:
                self.note(baseline.id, f"{use.point} had expired: renewed from #{use.source.producer_seq}")
                await self.renew(use.source.producer_id, generations, depth, baseline)

    def _generations(self, uses: tuple[Use, ...]) -> dict[int, int]:
        return {u.source.producer_id: self._renewed.get(u.source.producer_id, 0) for u in uses}

    async def _retry_refused(self, baseline: Baseline, attacks: list[Attack], prepared: list[tuple[Attack, bool]],
                             exchanges: list[Exchange], uses: tuple[Use, ...], generations: dict[int, int],
                             depth: int) -> list[Exchange]:
        recorded = baseline.response
        credentials = [u for u in uses if u.credential]
        if not credentials or (recorded is not None and auth_failure(recorded)):
            return exchanges  # no session to blame, or it was recorded refused: a refusal says nothing
        refused = [i for i, (e, (_, intact)) in enumerate(zip(exchanges, prepared, strict=True))
                   if intact and auth_failure(e.response)]
        if not refused or self._budget.get(baseline.id, RENEWALS_PER_BASELINE) <= 0:
            return exchanges
        self._budget[baseline.id] = self._budget.get(baseline.id, RENEWALS_PER_BASELINE) - 1
        status = exchanges[refused[0]].status
        for producer in {u.source.producer_id for u in credentials}:
            await self.renew(producer, generations, depth, baseline)
        again = await self.send_raw([self._substituted(attacks[i], uses)[0] for i in refused])
        out = list(exchanges)
        for i, exchange in zip(refused, again, strict=True):
            out[i] = exchange
        producers = ", ".join(sorted({f"#{u.source.producer_seq}" for u in credentials}))
        if any(auth_failure(e.response) for e in again):
            self.note(baseline.id, f"{status} after renewing values with baseline {producers}")
        else:
            self.note(baseline.id, f"{status} answered: renewed values with baseline {producers}")
        return out

    def _substituted(self, attack: Attack, uses: tuple[Use, ...]) -> tuple[Attack, bool]:
        """The attack with fresh values in place, and whether every credential it carries is
        intact (not the point under attack): only then may a refusal be blamed on the session."""
        values: dict[Point | str, str] = {}
        intact = True
        points = parse(attack.request)
        for use in uses:
            point = points.get(use.point)
            if point is None or use.recorded not in point.value:
                intact = intact and not use.credential
                continue
            if use.credential and point.value != use.carrier:
                intact = False  # the payload went into (or next to) the credential itself
            fresh = self._fresh.get(use.source)
            if fresh is not None and fresh.value != use.recorded and use.point not in values:
                values[use.point] = point.value.replace(use.recorded, fresh.value)
        if not values:
            return attack, intact
        try:
            request = points.replace_many(values)
        except ValueError:  # overlapping carriers: substitute the first only
            key, value = next(iter(values.items()))
            request = points.replace(key, value)
        return replace(attack, request=request), intact

    # ------------------------------------------------------------------ renewing
    def _lock(self, producer: int) -> asyncio.Lock:
        lock = self._locks.get(producer)
        if lock is None:
            lock = self._locks[producer] = asyncio.Lock()
        return lock

    async def renew(self, producer_id: int, generations: dict[int, int], depth: int = 0,
                    consumer: Baseline | None = None) -> None:
        """Replay the producer unless another task renewed it since ``generations`` was taken: many
        attacks refused at once renew a session once (a second login may revoke the first one's key)."""
        async with self._lock(producer_id):
            if self._renewed.get(producer_id, 0) != generations.get(producer_id, 0):
                return
            await self._replay_producer(producer_id, depth, consumer)

    async def replay_producer(self, producer_id: int) -> None:
        """Replay a producer now, whatever its values' state (after a setup prefix reset them)."""
        async with self._lock(producer_id):
            await self._replay_producer(producer_id, 0, None)

    async def _replay_producer(self, producer_id: int, depth: int, consumer: Baseline | None) -> None:
        """Replay the producer baseline (with its own fresh values) and keep what it hands out."""
        if depth >= MAX_DEPTH:
            return
        baseline = await self.load(producer_id)
        request = self.moved(baseline.request)
        (exchange,) = await self.send(baseline, [Attack(request, "", "setup")], depth=depth + 1)
        self.setup_requests += 1
        self._renewed[producer_id] = self._renewed.get(producer_id, 0) + 1
        self.observe(producer_id, exchange.response)
        if consumer is not None:
            for use in self.uses(consumer.id):
                if use.source.producer_id == producer_id:
                    self.note(consumer.id, use.describe())

    def used(self, baseline_id: int) -> None:
        """Note the flows a baseline's requests had substituted (for the report)."""
        for use in self.uses(baseline_id):
            if use.source in self._fresh and self._fresh[use.source].value != use.recorded:
                self.note(baseline_id, use.describe())


__all__ = ["Sessions", "auth_failure"]
