"""Replay in the recorded order: which baselines change the application's state, and when each may run.

A functional suite is a story: it resets or seeds the application, signs in, creates things, reads
them, and deletes them at the end. Replaying its baselines concurrently and in any order breaks that
story (a ``GET`` answered 500 "no such table" because the reset ran later; a ``DELETE`` replayed
before the ``GET`` that needs the row), and a baseline whose replay broke is not tested. So:

- every baseline gets a :class:`Role`: *setup* (resets, seeds, installs, logins: they make the state
  later requests need), *state-changing* (POST, PUT, PATCH, DELETE), or *safe* (GET, HEAD, OPTIONS);
  a baseline is also *destructive* when attacking or replaying it would take state away from the
  rest (DELETE, logout, reset, password change);
- baselines run in recorded order; only safe ones run concurrently with each other (a safe
  method cannot change what another request sees). A setup or state-changing baseline waits for
  everything before it, and everything after it waits for it (:class:`Gate`);
- destructive baselines are tested last, each after the setup prefix is replayed again
  (:class:`SetupPrefix`), so that attacking a logout never logs the other baselines out;
- a baseline whose replay drifted from its recording is given one more chance after the setup prefix
  runs again (the runner does that, with :meth:`SetupPrefix.before`).

A policy may pin baselines as setup by a regular expression over ``METHOD /path`` (``setup:`` in the
policy), for what the names below do not catch.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from lunge.http import Request

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
MAX_SETUP_STEPS = 32  # a setup prefix longer than this is replayed from its last steps only

# Path words that name state preparation (reset, seed, install, create the database) or a sign-in.
_PREPARE = re.compile(
    r"(?:^|[/_.-])(?:reset(?:db)?|seed(?:s|db)?|setup|init(?:iali[sz]e)?|install|create-?db|createdb|populate|"
    r"fixtures?|bootstrap|prepare|migrate)(?:$|[/_.?-])", re.IGNORECASE)
_SIGN_IN = re.compile(
    r"(?:^|[/_.-])(?:log-?in|sign-?in|auth(?:enticate)?|token|oauth|session|api-?key|keys?)(?:$|[/_.?-])",
    re.IGNORECASE)
# Path words whose request takes state away: logging out, resetting, deleting, changing a password.
_DESTROY = re.compile(
    r"(?:^|[/_.-])(?:log-?out|sign-?out|reset(?:db)?|password|passwd|change-?password|delete|remove|destroy|"
    r"drop|teardown|purge|wipe|revoke|clear)(?:$|[/_.?-])", re.IGNORECASE)


class Role(StrEnum):
    """What replaying a baseline does to the application's state."""

    SETUP = "setup"
    STATE = "state-changing"
    SAFE = "safe"


@dataclass(frozen=True, slots=True)
class Place:
    """A baseline's role and whether it is destructive (attacked last, after the setup prefix)."""

    role: Role
    destructive: bool

    @property
    def exclusive(self) -> bool:
        """Whether it must run alone: anything but a safe baseline may change what others see."""
        return self.role is not Role.SAFE or self.destructive


def classify(request: Request, pins: Sequence[re.Pattern[str]] = ()) -> Place:
    """The :class:`Place` of a baseline's request.

    >>> classify(Request.from_url("http://t.test/createdb")).role.value
    'setup'
    >>> classify(Request("POST", "http", "t.test", 80, "/api/login")).role.value
    'setup'
    >>> p = classify(Request("DELETE", "http", "t.test", 80, "/items/3"))
    >>> p.role.value, p.destructive
    ('state-changing', True)
    >>> classify(Request.from_url("http://t.test/logout")).destructive
    True
    >>> classify(Request.from_url("http://t.test/items?id=1")).role.value
    'safe'
    """
    method = request.method.upper()
    path = request.path
    destructive = method == "DELETE" or bool(_DESTROY.search(path))
    if any(p.search(f"{method} {path}") for p in pins) or _PREPARE.search(path):
        return Place(Role.SETUP, destructive)
    if method not in SAFE_METHODS and _SIGN_IN.search(path) and not destructive:
        return Place(Role.SETUP, False)
    if method in SAFE_METHODS:
        return Place(Role.SAFE, destructive)
    return Place(Role.STATE, destructive)


def pin_patterns(patterns: Sequence[str]) -> tuple[re.Pattern[str], ...]:
    """The policy's ``setup`` patterns, matched (searched) against ``METHOD /path``."""
    return tuple(re.compile(p) for p in patterns)


@dataclass(frozen=True, slots=True)
class SetupStep:
    """One baseline of the setup prefix: replayed again before a drifted or destructive baseline."""

    baseline_id: int
    seq: int
    request: Request

    def describe(self) -> str:
        return f"#{self.seq} {self.request.method} {self.request.path}"


@dataclass(slots=True)
class SetupPrefix:
    """The setup baselines seen so far, in recorded order (kept small: :data:`MAX_SETUP_STEPS`)."""

    steps: list[SetupStep] = field(default_factory=list)

    def add(self, step: SetupStep) -> None:
        self.steps.append(step)
        del self.steps[:-MAX_SETUP_STEPS]

    def before(self, seq: int) -> list[SetupStep]:
        """The steps recorded before the baseline at ``seq``."""
        return [s for s in self.steps if s.seq < seq]


class Gate:
    """Lets baselines start in recorded order: safe ones together, any other one alone.

    The producer calls :meth:`enter` for each baseline in order (it returns when the baseline may
    start) and the consumer calls :meth:`leave` when the baseline is done. An exclusive baseline
    waits until everything before it has left, and blocks everything after it until it leaves.
    """

    def __init__(self) -> None:
        self._running = 0
        self._exclusive = False
        self._changed = asyncio.Condition()

    async def enter(self, exclusive: bool) -> None:
        async with self._changed:
            if exclusive:
                await self._changed.wait_for(lambda: self._running == 0)
                self._exclusive = True
            else:
                await self._changed.wait_for(lambda: not self._exclusive)
            self._running += 1

    async def leave(self) -> None:
        async with self._changed:
            self._running -= 1
            if self._running == 0:
                self._exclusive = False
            self._changed.notify_all()


__all__ = ["Gate", "Place", "Role", "SetupPrefix", "SetupStep", "classify", "pin_patterns"]
