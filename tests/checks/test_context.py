"""checks.base: SeededRandom (behind every check's markers and payload choices) and the
context's per-exchange memory."""

from __future__ import annotations

import collections
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from lunge.checks.base import SeededRandom


@given(st.one_of(st.integers(), st.text()), st.integers(min_value=0, max_value=2000))
def test_the_same_seed_draws_the_same_bits_and_draws_stay_in_range(seed: int | str, k: int) -> None:
    a, b = SeededRandom(seed), SeededRandom(seed)
    draws = [a.getrandbits(k) for _ in range(3)]
    assert draws == [b.getrandbits(k) for _ in range(3)]
    assert all(0 <= d < 2**k for d in draws)
    assert 0.0 <= a.random() < 1.0
    assert 3 <= a.randint(3, 9) <= 9


def test_seeds_differ_and_draws_are_spread_evenly() -> None:
    assert SeededRandom("run|1|q").getrandbits(64) != SeededRandom("run|1|r").getrandbits(64)
    rng = SeededRandom("spread")
    counts = collections.Counter(rng.randrange(10) for _ in range(20_000))
    assert set(counts) == set(range(10))
    assert all(1_700 < c < 2_300 for c in counts.values())  # 2,000 expected; 7 sigma is ~290
    bits = sum(bin(rng.getrandbits(1000)).count("1") for _ in range(100))
    assert 48_000 < bits < 52_000  # half of 100,000 bits set


def test_draws_are_the_same_in_another_process() -> None:
    code = "from lunge.checks.base import SeededRandom;print(SeededRandom('x|1').getrandbits(700))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert int(other) == SeededRandom("x|1").getrandbits(700)


def test_a_context_remembers_a_derived_value_per_exchange_for_its_own_life() -> None:
    from lunge.checks.base import Attack, Exchange
    from lunge.checks.testing import context
    from lunge.http import Request, Response

    def app(request: Request) -> Response:
        return Response(200, body=b"page")

    ctx = context(Request.from_url("http://t.test/?q=1"), "GET_q_value", app)
    one = Exchange(Attack(ctx.baseline, "x"), Response(200, body=b"a"), 0.01)
    two = Exchange(Attack(ctx.baseline, "x"), Response(200, body=b"a"), 0.01)  # equal, not the same
    calls: list[Exchange] = []

    def text(e: Exchange) -> str:
        calls.append(e)
        return e.text

    assert ctx.remember("text", one, text) == ctx.remember("text", one, text) == "a"
    assert ctx.remember("text", two, text) == "a"
    assert calls == [one, two]  # once per exchange object
    fresh = context(Request.from_url("http://t.test/?q=1"), "GET_q_value", app)
    fresh.remember("text", one, text)
    assert len(calls) == 3  # another context computes it again
