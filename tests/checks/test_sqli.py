"""The sqli check: its data, its techniques on vulnerable apps, its evidence and its request budgets.

The false-positive traps live in test_sqli_traps.py; the fake applications in test_sqli_apps.py.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lunge.checks import registry, sqli, sqli_context, sqli_errors, sqli_probe, sqli_time
from lunge.checks.base import Attack, CheckContext, Confidence, Severity, Verdict
from lunge.checks.sqli import SQLI
from lunge.checks.sqli_errors import load_signatures, signatures
from lunge.checks.testing import Responder, context, drive
from lunge.errors import CheckError
from lunge.http import Request
from tests.checks.test_sqli_apps import (
    QUERY_ID,
    App,
    Place,
    double_quoted,
    like,
    numeric,
    order_by,
    parenthesised,
    string,
)

NAME = Place("query", "name")


def run(app: Responder, place: Place, value: str | int, *, light: bool = False, seed: int = 1,
        time_delay: float = 1.0) -> tuple[list[Verdict], list[Attack]]:
    ctx = context(place.request(value), place.point, app, light=light, seed=seed, time_delay=time_delay)
    sent: list[Attack] = []
    return drive(SQLI, ctx, app, sent=sent), sent


def ctx_for(place: Place, value: str | int, app: Responder) -> CheckContext:
    return context(place.request(value), place.point, app)


@pytest.mark.parametrize("module", [sqli, sqli_context, sqli_errors, sqli_probe, sqli_time])
def test_doctests(module: object) -> None:
    assert doctest.testmod(module).failed == 0  # type: ignore[arg-type]


# ---------------------------------------------------------------- the signature table
def test_the_packaged_table_covers_the_main_dbms_families() -> None:
    table = signatures()
    families = {s.dbms for s in table.entries}
    assert {"SQLite", "MySQL", "PostgreSQL", "Microsoft SQL Server", "Oracle", "IBM DB2"} <= families
    assert {s.kind for s in table.entries} == {"error", "cast"}
    assert len({s.pattern for s in table.entries}) == len(table.entries)  # no duplicates


@pytest.mark.parametrize(("dbms", "message"), [
    ("SQLite", 'sqlite3.OperationalError: unrecognized token: "\'alice\'\'"'),
    ("SQLite", 'near "alice": syntax error'),
    ("MySQL", "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server "
              "version for the right syntax to use near ''' at line 1"),
    ("PostgreSQL", 'ERROR:  syntax error at or near "alice"\nLINE 1: SELECT * FROM users WHERE name = \'\'alice'),
    ("PostgreSQL", "psycopg2.errors.SyntaxError: unterminated quoted string at or near \"'\""),
    ("Microsoft SQL Server", "Unclosed quotation mark after the character string 'alice'."),
    ("Oracle", "ORA-01756: quoted string not properly terminated"),
    ("IBM DB2", "DB2 SQL error: SQLCODE=-104, SQLSTATE=42601"),
])
def test_real_driver_messages_name_their_dbms(dbms: str, message: str) -> None:
    match = signatures().search(f"<pre>{message}</pre>")
    assert match is not None and match.dbms == dbms
    assert match.text in message and message[:20] in match.excerpt


def test_cast_errors_are_not_syntax_errors() -> None:
    text = 'psycopg2.errors.InvalidTextRepresentation: invalid input syntax for type integer: "2abc"'
    assert signatures().search(text) is None
    cast = signatures().search(text, kind="cast")
    assert cast is not None and cast.dbms == "PostgreSQL"


def test_patterns_seen_in_normal_pages_are_excluded() -> None:
    text = "Our tutorial: ORA-00933: SQL command not properly ended"
    present = signatures().present([text])
    assert signatures().search(text) is not None
    assert signatures().search(text, exclude=present) is None


@pytest.mark.parametrize(("content", "problem"), [
    ("signatures:\n  - {dbms: X, pattern: '(unclosed'}\n", "signatures.0.pattern"),
    ("signatures:\n  - {pattern: 'x'}\n", "signatures.0.dbms"),
    ("signatures:\n  - {dbms: X, pattern: 'x', kind: warning}\n", "signatures.0.kind"),
    ("signatures:\n  - {dbms: X, pattern: 'x', flags: i}\n", "signatures.0.flags"),
    ("signatures: []\n", "signatures"),
    ("patterns: [x]\n", "patterns"),
    ("signatures: [\n", "not valid YAML"),
])
def test_an_invalid_table_is_refused_naming_the_file_and_the_entry(tmp_path: Path, content: str,
                                                                     problem: str) -> None:
    path = tmp_path / "errors.yaml"
    path.write_text(content)
    with pytest.raises(CheckError) as caught:
        load_signatures(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and problem in message and "\n" not in message  # one line


def test_a_valid_custom_table_loads(tmp_path: Path) -> None:
    path = tmp_path / "errors.yaml"
    path.write_text("signatures:\n  - {dbms: Acme, pattern: 'ACME-\\d+ parse error'}\n")
    table = load_signatures(path)
    assert table.entries[0].kind == "error"
    assert table.search("acme-42 PARSE ERROR") is not None  # matching ignores case


# ---------------------------------------------------------------- registration and gate
def test_the_check_is_registered_through_its_entry_point() -> None:
    loaded = registry.load()
    assert loaded.get("sqli") is SQLI
    assert "sqli" not in loaded.failures
    assert SQLI.kind == "sqli" and SQLI.cwe == 89 and SQLI.severity is Severity.HIGH


def test_applies_to_plain_values_not_to_names_containers_or_huge_values() -> None:
    def gate(request: Request, point: str) -> bool:
        return SQLI.applies(context(request, point, numeric(), replays=1, timing_samples=1))

    json_body = Request.from_url("http://app.test/u", "POST", headers=[("Content-Type", "application/json")],
                                 body=b'{"user": {"id": 2}}')
    assert gate(json_body, "POST_JSON_DOC_HASH_user_HASH_id_value")
    assert not gate(json_body, "POST_JSON_DOC_HASH_user_name")
    wrapped = Request.from_url("http://app.test/u?d=eyJpZCI6IDJ9")  # base64 of {"id": 2}
    assert not gate(wrapped, "GET_d_value")
    assert gate(wrapped, "GET_d_BASE64_JSON_DOC_HASH_id_value")
    assert not gate(Request.from_url("http://app.test/u?q=" + "a" * 5000), "GET_q_value")


def test_the_heuristic_string_has_one_quote_of_each_kind() -> None:
    ctx = ctx_for(QUERY_ID, 2, numeric())
    for _ in range(20):
        probe = sqli_probe.breaking_string(ctx)
        assert len(probe) == 10 and probe.count("'") == 1 and probe.count('"') == 1
        assert set(probe) <= set("'\"(),.")


# ---------------------------------------------------------------- vulnerable twins
TWINS = [
    # name, app, place, value, technique, context, confidence
    ("error numeric query", numeric(), QUERY_ID, 2, "error", None, Confidence.FIRM),
    ("error string query", string(), NAME, "alice", "error", None, Confidence.CERTAIN),
    ("error string form", string(Place("form", "name")), Place("form", "name"), "alice", "error", None,
     Confidence.CERTAIN),
    ("error numeric json", numeric(Place("json", "id"), render="json"), Place("json", "id"), 2, "error", None,
     Confidence.FIRM),
    ("boolean numeric query", numeric(errors="hide"), QUERY_ID, 2, "boolean", "numeric", Confidence.FIRM),
    ("boolean numeric json", numeric(Place("json", "id"), errors="hide", render="json"), Place("json", "id"), 2,
     "boolean", "numeric", Confidence.FIRM),
    ("boolean string query", string(errors="hide"), NAME, "alice", "boolean", "single-quote", Confidence.FIRM),
    ("boolean string form", string(Place("form", "name"), errors="hide"), Place("form", "name"), "alice", "boolean",
     "single-quote", Confidence.FIRM),
    ("boolean double quote", double_quoted(errors="hide"), NAME, "alice", "boolean", "double-quote", Confidence.FIRM),
    ("boolean parenthesised", parenthesised(errors="hide"), NAME, "alice", "boolean", "single-quote",
     Confidence.FIRM),
    ("boolean like", like(errors="hide"), Place("query", "q"), "al", "boolean", "like", Confidence.FIRM),
    ("boolean order by", order_by(errors="hide"), Place("query", "sort"), "name", "boolean", "order-by",
     Confidence.FIRM),
    ("boolean string header", string(Place("header", "X-User"), errors="hide"), Place("header", "X-User"), "alice",
     "boolean", "single-quote", Confidence.FIRM),
    ("boolean one word", string(Place("form", "username"), errors="hide", render="word"), Place("form", "username"),
     "alice", "boolean", "single-quote", Confidence.FIRM),
    ("time numeric header", numeric(Place("header", "X-User-Id"), errors="hide", blind=True),
     Place("header", "X-User-Id"), 2, "time", "numeric", Confidence.FIRM),
    ("time string query", string(errors="hide", blind=True), NAME, "alice", "time", "single-quote", Confidence.FIRM),
    ("time string form", string(Place("form", "name"), errors="hide", blind=True), Place("form", "name"), "alice",
     "time", "single-quote", Confidence.FIRM),
    ("time numeric json", numeric(Place("json", "id"), errors="hide", blind=True), Place("json", "id"), 2, "time",
     "numeric", Confidence.FIRM),
    ("time numeric cookie", numeric(Place("cookie", "uid"), errors="hide", blind=True), Place("cookie", "uid"), 2,
     "time", "numeric", Confidence.FIRM),
]


@pytest.mark.parametrize(("name", "app", "place", "value", "technique", "where", "confidence"), TWINS,
                         ids=[t[0] for t in TWINS])
def test_vulnerable_twins_are_found(name: str, app: App, place: Place, value: str | int, technique: str,
                                    where: str | None, confidence: Confidence) -> None:
    verdicts, sent = run(app, place, value)
    assert len(verdicts) == 1, f"{name}: {[a.label for a in sent]}"
    (verdict,) = verdicts
    assert verdict.check_id == "sqli" and verdict.cwe == 89 and verdict.point == place.point
    assert verdict.details["technique"] == technique
    assert verdict.details.get("context") == where
    assert verdict.confidence is confidence
    assert verdict.controls and verdict.proof
    assert verdict.details["requests_total"] == len(sent)
    assert verdict.exchange.attack in sent


def test_error_based_evidence() -> None:
    (verdict,), sent = run(string(), NAME, "alice")
    assert "sqlite3.OperationalError: " in verdict.proof
    assert verdict.details["dbms"] == "SQLite" and verdict.details["quote"] == "'"
    assert verdict.details["escaped_twin_clean"] is True
    payloads = [x.attack.payload for x in verdict.controls]
    assert payloads[1:] == ["alice'", "alice''"]  # the neutral control, the lone quote, the escaped twin
    neutral = verdict.controls[0]
    assert re.fullmatch(r"alice[a-z0-9]{6}", neutral.attack.payload) and neutral.status == 200
    assert len(sent) == 4  # probe + neutral, lone quote, escaped twin


def test_error_based_in_a_double_quoted_context_uses_the_double_quote() -> None:
    (verdict,), _ = run(double_quoted(), NAME, "alice")
    assert verdict.details["technique"] == "error" and verdict.details["quote"] == '"'
    assert verdict.confidence is Confidence.CERTAIN


def test_boolean_evidence() -> None:
    (verdict,), sent = run(string(errors="hide"), NAME, "alice")
    assert re.fullmatch(r"TRUE page ratio 1\.00 vs FALSE 0\.\d\d \(floor 1\.00\); \d+ characters differ where "
                        r"normal pages differ by 0", verdict.proof), verdict.proof
    false = verdict.controls[0]
    assert "No users found" in false.text and "alice" in verdict.exchange.text
    battery = [x for x in verdict.controls if x.attack.label.endswith(":battery")]
    conditions = [x.attack.payload.split(" AND ")[1] for x in battery]
    a, c, b = conditions[0].split("=")[0], conditions[1].split("=")[1], conditions[3].split("=")[0]
    assert int(a) < int(b) < int(c)
    assert conditions == [f"{a}={a}", f"{a}={c}", f"{c}={b}", f"{b}={b}", f"{c}>{a}", f"{a}>{b}", f"{b}<{c}",
                          f"{c}<{a}"]
    again = [x.attack.label.rsplit(":", 1)[1] for x in verdict.controls[-2:]]
    assert again == ["false-again", "true-again"]
    assert verdict.details["false_chars"] > 0 and verdict.details["comparison"] == "text"
    assert len(sent) == 14  # heuristic 2 + TRUE + FALSE + battery 8 + reversed pair 2


def test_time_evidence_and_quiet_lane() -> None:
    (verdict,), sent = run(string(errors="hide", blind=True), NAME, "alice")
    assert verdict.proof.startswith("slept 1.010 / 1.010 s and 2.010 / 2.010 s for requested 1 s and 2 s")
    assert "zero-delay 0.010 s" in verdict.proof
    assert "SLEEP(2)" in verdict.exchange.attack.payload
    assert "SLEEP(0)" in verdict.controls[0].attack.payload
    timed = [a for a in sent if a.label.startswith("sqli-time")]
    assert timed and all(a.timeout is not None for a in timed)
    screens = [a for a in timed if ":screen-" in a.label]
    laned = [a for a in timed if ":delay-" in a.label]
    assert screens and not any(a.timing for a in screens)  # negatives never hold up the host
    assert len(laned) == 5 and all(a.timing and a.timeout is not None and a.timeout >= 3.0 for a in laned)
    assert verdict.details["slope"] == pytest.approx(1.0) and verdict.details["dbms"] == "MySQL/SQLite"


def test_time_based_finds_a_target_slow_at_random_by_raising_the_delay() -> None:
    import random

    rng = random.Random(11)
    app = string(errors="hide", blind=True, latency=lambda: rng.uniform(0.0, 1.0))
    (verdict,), _ = run(app, NAME, "alice")
    assert verdict.details["technique"] == "time" and verdict.details["delay"] >= 4


def test_a_dbms_named_by_an_error_limits_the_sleep_payloads() -> None:
    # Quotes are stripped (a home-made sanitiser): the probe's parenthesis breaks the query with a
    # SQLite error, no lone quote reproduces it, and the page never shows data: the time probes
    # use only MySQL/SQLite's SLEEP.
    app = numeric(errors="show", blind=True, strip_quotes=True)
    (verdict,), sent = run(app, QUERY_ID, 2)
    assert verdict.details["technique"] == "time" and verdict.details["dbms"] == "SQLite"
    assert not any("PostgreSQL" in a.label or "Oracle" in a.label for a in sent)


def test_an_error_no_second_payload_reproduces_is_only_tentative() -> None:
    app = numeric(errors="show", blind=True, strip_quotes=True, sleeps=False)
    (verdict,), _ = run(app, QUERY_ID, 2)
    assert verdict.confidence is Confidence.TENTATIVE and verdict.details["technique"] == "error"
    assert "no lone quote reproduced it" in verdict.confirmation


def test_the_check_is_deterministic_for_a_seed() -> None:
    first = [a.payload for a in run(string(safe=True), NAME, "alice", seed=5)[1]]
    again = [a.payload for a in run(string(safe=True), NAME, "alice", seed=5)[1]]
    other = [a.payload for a in run(string(safe=True), NAME, "alice", seed=6)[1]]
    assert first == again != other


def test_a_dead_target_gives_nothing_and_does_not_crash() -> None:
    ctx = ctx_for(QUERY_ID, 2, numeric())
    verdicts = drive(SQLI, ctx, lambda request: None)
    assert verdicts == []


# ---------------------------------------------------------------- light mode
@pytest.mark.parametrize(("app", "place", "value"), [
    (string(), NAME, "alice"),  # DBMS error
    (numeric(errors="hide"), QUERY_ID, 2),  # arithmetic evaluated
    (string(errors="hide"), NAME, "alice"),  # a balanced TRUE condition keeps the page
    (like(errors="generic"), Place("query", "q"), "al"),  # a crash with no DBMS text: quote sensitive
], ids=["error", "expression", "true-keeps-page", "quote-sensitive"])
def test_light_mode_escalates_on_a_signal(app: App, place: Place, value: str | int) -> None:
    verdicts, sent = run(app, place, value, light=True)
    assert len(verdicts) == 1 and verdicts[0].confidence is not Confidence.TENTATIVE
    assert sent[0].label == "sqli:heuristic"


def test_light_mode_does_not_look_for_a_blind_injection() -> None:
    # Known limit of the light audit: a page that never changes shows no signal to escalate on.
    verdicts, sent = run(string(errors="hide", blind=True), NAME, "alice", light=True)
    assert verdicts == [] and len(sent) == 2


# ---------------------------------------------------------------- request budgets (detection.md §16)
BUDGET_CASES = [
    ("string", string(safe=True), NAME, "alice"),
    ("string-form", string(Place("form", "name"), safe=True), Place("form", "name"), "alice smith"),
    ("like", like(safe=True), Place("query", "q"), "al"),
    ("numeric", numeric(safe=True), QUERY_ID, 2),
    ("numeric-json", numeric(Place("json", "id"), safe=True, render="json"), Place("json", "id"), 2),
    ("order-by", order_by(safe=True), Place("query", "sort"), "name"),
    ("one-word-page", string(Place("form", "username"), safe=True, render="word"), Place("form", "username"),
     "alice"),
]


@pytest.mark.parametrize(("name", "app", "place", "value"), BUDGET_CASES, ids=[c[0] for c in BUDGET_CASES])
def test_request_budget_of_a_non_injectable_point(name: str, app: App, place: Place, value: str | int) -> None:
    full_verdicts, full = run(app, place, value)
    light_verdicts, light = run(app, place, value, light=True)
    assert full_verdicts == [] and light_verdicts == []
    calibration = [a for a in full if "calibration" in a.label]
    assert len(full) - len(calibration) <= 15, [a.label for a in full]
    assert len(light) <= 3, [a.label for a in light]


@pytest.mark.parametrize("index", range(len(signatures().entries)))
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_literal_prefilter_never_hides_a_match(index: int, data: st.DataObject) -> None:
    signature = signatures().entries[index]
    text = data.draw(st.from_regex(signature.regex, fullmatch=True))
    assert signature.find(text, text.lower()) is not None, (signature.pattern, signature.literals)


def test_a_true_condition_must_keep_the_page_closer_than_another_value_does() -> None:
    # One word of a big page changes ("taken" / "available"): the ratio of any other value's page
    # is above 0.98, yet it is not the normal page. Each context then costs a single request.
    _, sent = run(string(Place("form", "username"), safe=True, render="word"), Place("form", "username"), "alice")
    assert not any(a.label.endswith(":false") for a in sent)
