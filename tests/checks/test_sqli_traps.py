"""sqlmap's false-positive traps (``--fp-test``) and lunge's additions, each beside a vulnerable twin.

Every trap must give no finding at all (not even a tentative one); every twin must be found. The
random traps run under several seeds: a guard that holds for one draw only is not a guard.
"""

from __future__ import annotations

import hashlib
import random

import pytest

from lunge.checks.base import Attack, Verdict
from lunge.checks.sqli import SQLI
from lunge.checks.testing import Responder, ResponderResult, context, drive
from lunge.http import Headers, Request, Response
from tests.checks.test_sqli_apps import (
    QUERY_ID,
    IntCast,
    Place,
    Waf,
    accept_all,
    lengthrand,
    mysql_warnings,
    numeric,
    reflect,
    seeded,
    sql_tutorial,
    string,
    structrand,
)

NAME = Place("query", "name")
SEEDS = [1, 2, 3, 4]
REPLAYS, TIMING_SAMPLES = 2, 30  # what testing.context() sends before the check starts


def run(app: Responder, place: Place, value: str | int, seed: int = 1) -> tuple[list[Verdict], list[Attack]]:
    ctx = context(place.request(value), place.point, app, seed=seed, time_delay=1.0, replays=REPLAYS,
                  timing_samples=TIMING_SAMPLES)
    sent: list[Attack] = []
    return drive(SQLI, ctx, app, sent=sent), sent


def assert_trap(app: Responder, place: Place, value: str | int, seed: int = 1) -> list[Attack]:
    verdicts, sent = run(app, place, value, seed)
    assert verdicts == [], [(v.details, v.proof) for v in verdicts]
    return sent


def assert_twin(app: Responder, place: Place, value: str | int, seed: int = 1) -> Verdict:
    verdicts, sent = run(app, place, value, seed)
    assert len(verdicts) == 1, [a.label for a in sent]
    return verdicts[0]


# ---------------------------------------------------------------- sqlmap's seven
@pytest.mark.parametrize("leading", [False, True], ids=["int()", "leading-digits"])
def test_intcast(leading: bool) -> None:
    # "2 AND 1=1" finds nothing (int() fails) or the same row as "2" (PHP's cast): never TRUE/FALSE.
    sent = assert_trap(IntCast(leading), QUERY_ID, 2)
    assert len(sent) <= 15
    assert_twin(numeric(errors="hide"), QUERY_ID, 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_structrand(seed: int) -> None:
    assert_trap(string(safe=True, decorate=structrand(seeded(seed))), NAME, "alice", seed)
    twin = assert_twin(string(errors="hide", decorate=structrand(seeded(seed))), NAME, "alice", seed)
    assert twin.details["technique"] == "boolean"  # the random quote is cut, the oracle still works


def test_acceptall() -> None:
    sent = assert_trap(accept_all, NAME, "alice")
    assert not any(":false" in a.label for a in sent)  # a page that never changes gets no boolean test
    assert_twin(string(errors="hide"), NAME, "alice")


def test_reflect() -> None:
    assert_trap(string(safe=True, decorate=reflect()), NAME, "alice")
    twin = assert_twin(string(errors="hide", decorate=reflect()), NAME, "alice")
    assert twin.details["technique"] == "boolean"


def test_errors() -> None:
    # MySQL warning text on any input but the recorded one: the neutral control shows it too.
    assert_trap(numeric(safe=True, decorate=mysql_warnings("2")), QUERY_ID, 2)
    assert_trap(string(safe=True, decorate=mysql_warnings("alice")), NAME, "alice")
    twin = assert_twin(numeric(errors="hide", decorate=mysql_warnings("2")), QUERY_ID, 2)
    assert twin.details["technique"] == "time"  # the warning hides the boolean oracle, not the sleep


@pytest.mark.parametrize("seed", SEEDS)
def test_lengthrand(seed: int) -> None:
    assert_trap(string(safe=True, decorate=lengthrand(seeded(seed))), NAME, "alice", seed)
    twin = assert_twin(string(errors="hide", decorate=lengthrand(seeded(seed))), NAME, "alice", seed)
    assert twin.details["technique"] == "boolean"


@pytest.mark.parametrize("seed", SEEDS)
def test_slowrand(seed: int) -> None:
    rng = random.Random(seed)
    assert_trap(string(safe=True, blind=True, latency=lambda: rng.uniform(0.0, 1.0)), NAME, "alice", seed)
    assert_trap(numeric(safe=True, latency=lambda: rng.uniform(0.0, 1.0)), QUERY_ID, 2, seed)
    twin = assert_twin(string(errors="hide", blind=True, latency=lambda: rng.uniform(0.0, 1.0)), NAME, "alice", seed)
    assert twin.details["technique"] == "time" and twin.details["delay"] >= 4


# ---------------------------------------------------------------- lunge's additions
def test_a_waf_answering_403_to_quotes_and_or() -> None:
    sent = assert_trap(Waf(numeric(safe=True)), QUERY_ID, 2)
    assert any("'" in a.payload for a in sent)  # quoted payloads were sent and blocked: never samples
    assert_trap(Waf(string(safe=True), NAME), NAME, "alice")
    twin = assert_twin(Waf(numeric(errors="hide")), QUERY_ID, 2)
    assert twin.details["context"] == "numeric"  # found through the payloads the WAF lets pass


def test_a_page_about_sql_errors() -> None:
    assert_trap(string(safe=True, decorate=sql_tutorial()), NAME, "alice")
    assert_trap(numeric(safe=True, decorate=sql_tutorial(), errors="show"), QUERY_ID, 2)
    twin = assert_twin(string(decorate=sql_tutorial()), NAME, "alice")
    assert twin.details["dbms"] == "SQLite"  # the tutorial's MySQL and Oracle texts never count


class Alternating:
    """A page that flips between two variants on every request once the check starts (an A/B
    test), whatever the input: the first TRUE/FALSE pair can look like a condition."""

    def __init__(self, warmup: int) -> None:
        self.count = 0
        self.warmup = warmup

    def __call__(self, request: Request) -> ResponderResult:
        self.count += 1
        aside = "<aside>Try our new dashboard!</aside>" if self.count > self.warmup and self.count % 2 else ""
        body = f"<html><body><h1>Users</h1>{aside}<p>Welcome to the users area.</p></body></html>"
        return Response(200, headers=Headers([("Content-Type", "text/html")]), body=body.encode()), 0.01


@pytest.mark.parametrize("warmup", [REPLAYS + TIMING_SAMPLES - 2, REPLAYS + TIMING_SAMPLES - 1])
def test_an_alternating_page_is_rejected_by_the_contradiction_battery(warmup: int) -> None:
    sent = assert_trap(Alternating(warmup), NAME, "alice")
    assert any(a.label.endswith(":battery") for a in sent)  # it got that far: the battery said no
    assert len(sent) <= 20


def bucketed(request: Request) -> ResponderResult:
    """One of two page variants picked by a hash of the input: any TRUE/FALSE pair has one chance
    in four to look like a condition, which only the contradiction battery sees through."""
    def bucket(value: str) -> int:
        return hashlib.sha256(value.encode()).digest()[0] % 2

    variant = "A" if bucket(NAME.read(request) or "") == bucket("alice") else "B"
    body = f"<html><body><h1>Hello</h1><p>Variant {variant}</p></body></html>"
    return Response(200, headers=Headers([("Content-Type", "text/html")]), body=body.encode()), 0.01


def test_a_page_picked_by_a_hash_of_the_input() -> None:
    reached = 0
    for seed in range(1, 13):
        sent = assert_trap(bucketed, NAME, "alice", seed)
        reached += any(a.label.endswith(":battery") for a in sent)
    assert reached >= 3  # several runs got as far as the battery, which rejected them


def test_a_cast_error_is_not_an_sql_error() -> None:
    def typed(request: Request) -> ResponderResult:
        value = QUERY_ID.read(request) or ""
        if not value.isdigit():
            body = f'<pre>invalid input syntax for type integer: "{value}"</pre>'
            return Response(400, headers=Headers([("Content-Type", "text/html")]), body=body.encode()), 0.01
        return numeric(safe=True)(request)

    assert_trap(typed, QUERY_ID, 2)


