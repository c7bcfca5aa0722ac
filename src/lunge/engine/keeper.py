"""Keeping the application's state through a run: the one object the runner asks.

It ties :mod:`engine.order` (recorded order, setup prefix, destructive baselines last) and
:mod:`engine.flow` / :mod:`engine.session` (value flows and their renewal) to the runner with a
few calls: :meth:`StateKeeper.learn` before the first baseline, :meth:`place` for each baseline in
order, :meth:`replay` and :meth:`sender` for what is sent, :meth:`setup` before a drifted or
destructive baseline, :meth:`reason` for the test set, and :attr:`requests_setup` for the summary.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Sequence
from functools import partial

from lunge.checks.base import Attack, Exchange
from lunge.engine.flow import FlowMap
from lunge.engine.identities import IdentityBook
from lunge.engine.order import Place, SetupPrefix, SetupStep, classify
from lunge.engine.session import SendAll, Sessions
from lunge.http import Point, Points, Request
from lunge.store.base import Store
from lunge.store.models import Baseline

PAGE = 200


class StateKeeper:
    """What a run knows about the application's state, learned from its record."""

    def __init__(self, store: Store, record_id: int, send_raw: SendAll, moved: Callable[[Request], Request],
                 pins: Sequence[re.Pattern[str]] = (), *, identities: bool = False) -> None:
        self.store = store
        # Who signed in, learned in the same pass as the flows: only when a check replays as other users.
        self.book = IdentityBook() if identities else None
        self.record_id = record_id
        self.pins = tuple(pins)
        self.prefix = SetupPrefix()
        self.flows = FlowMap()
        self._send_raw = send_raw
        self.sessions = Sessions(self.flows, self._send, self._load, moved)
        self._moved = moved
        self._cache: dict[int, Baseline] = {}
        self._setup_used: dict[int, list[str]] = {}
        self._setup_lock = asyncio.Lock()
        self._setup_runs = 0
        self._replayed_at: dict[int, int] = {}  # baseline id -> setup runs when its replay began
        self.learned = False  # learn() ran (the record's flows and setup prefix are known)
        self.learned_seq = 0  # the last baseline learned (a record followed while recorded grows)

    async def _send(self, attacks: list[Attack]) -> list[Exchange]:
        return await self._send_raw(attacks)

    async def _load(self, baseline_id: int) -> Baseline:
        baseline = self._cache.get(baseline_id)
        if baseline is None:
            baseline = await asyncio.to_thread(self.store.get_baseline, baseline_id)
            if len(self._cache) < 256:
                self._cache[baseline_id] = baseline
        return baseline

    async def learn(self, until_seq: int | None = None) -> None:
        """One streamed pass over the record (up to ``until_seq``: nothing later produces a value or
        sets up for a baseline before it): the value flows, the setup prefix (and the identities)."""
        await asyncio.to_thread(self._learn, until_seq)
        self.sessions = Sessions(self.flows, self._send, self._load, self._moved)
        self.learned = True

    def _learn(self, until_seq: int | None) -> None:
        after = 0
        while True:
            page = list(itertools.islice(self.store.iter_baselines(self.record_id, after_seq=after), PAGE))
            if not page or (until_seq is not None and page[0].seq > until_seq):
                return
            after = page[-1].seq
            for baseline in page:
                self.note(baseline)

    def note(self, baseline: Baseline) -> None:
        """Learn one baseline, in seq order (learn() does the record; a record followed while it is
        recorded is learned as its baselines arrive). A baseline already learned is skipped."""
        if baseline.seq <= self.learned_seq:
            return
        self.learned_seq = baseline.seq
        self.flows.learn(baseline.id, baseline.seq, baseline.request, baseline.response)
        if self.book is not None:
            self.book.learn(baseline.id, baseline.seq, baseline.request, baseline.response,
                            self.flows.uses.get(baseline.id, ()))
        if classify(baseline.request, self.pins).role.value == "setup":
            self.prefix.add(SetupStep(baseline.id, baseline.seq, baseline.request))
            self._cache[baseline.id] = baseline

    def place(self, baseline: Baseline) -> Place:
        return classify(baseline.request, self.pins)

    async def replay(self, baseline: Baseline, request: Request, times: int) -> list[Exchange]:
        """The baseline's replays, one after another, with fresh values; what a producer hands out
        in them is kept for its consumers."""
        exchanges = []
        self._replayed_at[baseline.id] = self._setup_runs
        for _ in range(times):
            (exchange,) = await self.sessions.send(baseline, [Attack(request, "", "replay")])
            self.sessions.observe(baseline.id, exchange.response)
            exchanges.append(exchange)
        self.sessions.used(baseline.id)
        return exchanges

    def sender(self, baseline: Baseline) -> SendAll:
        """The send function for the attacks on ``baseline`` (fresh values substituted)."""
        if not self.sessions.uses(baseline.id):
            return self._send_raw
        return partial(self.sessions.send, baseline)

    def protected(self, baseline_id: int) -> set[str]:
        return self.sessions.protected(baseline_id)

    async def setup(self, baseline: Baseline, *, always: bool = False) -> str:
        """Replay the setup prefix recorded before ``baseline``; returns what ran ('' if nothing).

        One at a time: a reset replayed while another runs would leave a half-made state. Unless
        ``always``, a prefix another baseline replayed since this one's replay began counts as done.
        """
        steps = [s for s in self.prefix.before(baseline.seq) if s.baseline_id != baseline.id]
        # The producers of the values it carries (the POST that created the row a DELETE names) run
        # again after the prefix, so what the prefix reset is made again and re-derived.
        in_prefix = {s.baseline_id for s in steps}
        producers = sorted({(u.source.producer_seq, u.source.producer_id) for u in self.sessions.uses(baseline.id)
                            if u.source.producer_id not in in_prefix and not u.source.per_use})
        if not steps and not producers:
            return ""
        described = ", ".join([s.describe() for s in steps] + [f"#{seq} (producer)" for seq, _ in producers])
        async with self._setup_lock:
            if not always and self._setup_runs != self._replayed_at.get(baseline.id, self._setup_runs):
                return described + " (by another baseline, just before)"
            for step in steps:
                producer = await self._load(step.baseline_id)
                (exchange,) = await self.sessions.send(producer, [Attack(self._moved(step.request), "", "setup")])
                self.sessions.observe(producer.id, exchange.response)
                self.sessions.setup_requests += 1
            for _, producer_id in producers:
                await self.sessions.replay_producer(producer_id)
            self._setup_runs += 1
        self._setup_used.setdefault(baseline.id, []).append(described)
        return described

    async def prime(self, seq: int) -> int:
        """Replay the setup prefix recorded before ``seq`` (sign-ins, resets, seeds), for a slice of
        the record that starts there: a shard tested on another node finds the application as the
        baselines before it left it. Returns how many steps ran."""
        steps = list(self.prefix.before(seq))
        async with self._setup_lock:
            for step in steps:
                producer = await self._load(step.baseline_id)
                (exchange,) = await self.sessions.send(producer, [Attack(self._moved(step.request), "", "setup")])
                self.sessions.observe(producer.id, exchange.response)
                self.sessions.setup_requests += 1
            self._setup_runs += 1
        return len(steps)

    def reason(self, baseline_id: int, reason: str) -> str:
        """The test set's reason with the setup steps and value flows used for the baseline."""
        parts = [f"setup replayed first: {s}" for s in self._setup_used.get(baseline_id, [])]
        notes = self.sessions.notes(baseline_id)
        if notes:
            parts.append("values: " + "; ".join(notes))
        if not parts:
            return reason
        return f"{reason}; {'; '.join(parts)}" if reason else "; ".join(parts)

    @property
    def requests_setup(self) -> int:
        return self.sessions.setup_requests


def linked_points(points: Points, selected: list[Point]) -> dict[str, tuple[Point, ...]]:
    """For the first selected point of each group of GET/POST values that carried the same
    recorded value (``password`` and ``password_again``), the other points of the group."""
    groups: dict[str, list[Point]] = {}
    for point in points:
        if point.family in ("GET", "POST") and point.role.value == "value" and len(point.value) >= 3:
            groups.setdefault(point.value, []).append(point)
    chosen = {p.name for p in selected}
    out: dict[str, tuple[Point, ...]] = {}
    for group in groups.values():
        if len(group) > 1 and group[0].name in chosen:
            out[group[0].name] = tuple(group[1:])
    return out


__all__ = ["StateKeeper", "linked_points"]
