"""The status-only technique: applications that hide every database error behind a bare 500.

The vulnerable apps run their SQL on a real SQLite database without ``sleep()`` (so time cannot
find them) and answer the same page whatever the query returns (so the boolean comparison cannot);
only the status tells. The traps crash for reasons that are not SQL and must give nothing at all.
"""

from __future__ import annotations

import pytest

from lunge.checks.base import Attack, Confidence, Verdict
from lunge.checks.sqli import SQLI
from lunge.checks.testing import Responder, ResponderResult, context, drive
from lunge.http import Request, Response
from tests.checks.test_sqli_apps import QUERY_ID, App, Place

TEXT = Place("form", "text")
SEEDS = [1, 2, 3]


def bare(sql: str, place: Place = TEXT, **kw: object) -> App:
    """A page that is the same for every query result and a bare 500 for every error."""
    return App(sql, place, errors="generic", blind=True, sleeps=False, **kw)  # type: ignore[arg-type]


def run(app: Responder, place: Place, value: str | int, seed: int = 1) -> tuple[list[Verdict], list[Attack]]:
    ctx = context(place.request(value), place.point, app, seed=seed, time_delay=1.0)
    sent: list[Attack] = []
    return drive(SQLI, ctx, app, sent=sent), sent


@pytest.mark.parametrize("seed", SEEDS)
def test_an_insert_column_value_behind_a_bare_500(seed: int) -> None:
    verdicts, sent = run(bare("INSERT INTO users VALUES (9, '{v}', 'x')"), TEXT, "Great shop", seed)
    assert len(verdicts) == 1, [a.label for a in sent]
    verdict = verdicts[0]
    assert verdict.details["technique"] == "status" and verdict.confidence is Confidence.FIRM
    assert verdict.details["quote"] == "'" and verdict.exchange.status == 500
    assert "ELSE" in verdict.payload and verdict.controls
    assert len(sent) <= 45


def test_an_update_of_a_number() -> None:
    verdicts, sent = run(bare("UPDATE users SET id = {v} WHERE name = 'alice'", QUERY_ID), QUERY_ID, 2)
    assert len(verdicts) == 1, [a.label for a in sent]
    assert verdicts[0].details["context"] == "numeric-plus"
    assert verdicts[0].confidence is Confidence.FIRM


def test_a_double_quoted_select_that_hides_its_errors() -> None:
    verdicts, _ = run(bare('SELECT id FROM users WHERE name = "{v}"', Place("query", "name")),
                      Place("query", "name"), "alice")
    assert len(verdicts) == 1 and verdicts[0].details["quote"] == '"'


def test_the_parametrised_twin_is_silent() -> None:
    verdicts, _ = run(bare("INSERT INTO users VALUES (9, '{v}', 'x')", safe=True), TEXT, "Great shop")
    assert verdicts == []


class Picky:
    """A page that answers 200 for values it likes and a bare 500 for any other: not SQL."""

    def __init__(self, crash: str) -> None:
        self.crash = crash

    def __call__(self, request: Request) -> ResponderResult:
        value = (QUERY_ID if "id=" in request.target else TEXT).read(request) or ""
        bad = {"non-digit": not value.isdigit(), "quote": "'" in value or '"' in value,
               "odd-quotes": value.count("'") % 2 == 1}[self.crash]
        if bad:
            return Response(500, body=b"<h1>Internal Server Error</h1>")
        return Response(200, body=b"<p>Saved.</p>")


@pytest.mark.parametrize("seed", SEEDS)
def test_a_page_that_crashes_on_any_non_digit_is_silent(seed: int) -> None:
    verdicts, sent = run(Picky("non-digit"), QUERY_ID, 1042, seed)
    assert verdicts == []
    assert any(a.label.startswith("sqli-status") for a in sent)  # it was tried, and refused


def test_a_page_that_crashes_on_any_quote_is_silent() -> None:
    assert run(Picky("quote"), TEXT, "hello")[0] == []


def test_a_page_that_crashes_on_an_odd_number_of_quotes_is_at_most_tentative() -> None:
    # The split holds (' crashes, '' does not) but no conditional error does: not enough to fail a build.
    verdicts, _ = run(Picky("odd-quotes"), TEXT, "hello")
    assert [v.confidence for v in verdicts] in ([], [Confidence.TENTATIVE])
