"""``lunge reproduce``: a real loopback target that is vulnerable, then fixed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lunge.checks.base import Attack, Exchange
from lunge.cli import main
from lunge.http import Request, Response
from lunge.node.reproduce import Outcome, judge
from lunge.store import open_store
from lunge.store.models import Confidence, Finding, NewBaseline, NewFinding, RunState, Severity
from tests.fixtures.servers import QuietHandler, reply, threaded_server

PAYLOAD = "<b data-m=lng7k2>x</b>"
SENT = "/search?q=%3Cb%20data-m%3Dlng7k2%3Ex%3C%2Fb%3E"


@dataclass
class Target:
    url: str
    vulnerable: bool = True


@pytest.fixture
def target() -> Iterator[Target]:
    state = Target("")

    class Handler(QuietHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            q = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
            shown = q if state.vulnerable else q.replace("<", "&lt;").replace(">", "&gt;")
            reply(self, f"<p>you searched {shown}</p>".encode())

    with threaded_server(Handler) as state.url:
        yield state


def _stored(tmp_path: Path, url: str) -> str:
    db = f"sqlite:///{tmp_path / 'lunge.db'}"
    store = open_store(db)
    try:
        record = store.create_record("rec")
        store.add_baselines([NewBaseline(record.id, Request.from_url(url + "/search?q=shoe"),
                                         Response(200, body=b"<p>you searched shoe</p>"))])
        run = store.create_run(name="run", record_id=record.id, policy_name="default")
        store.add_findings([NewFinding(
            run.id, 1, "xss-reflected", "Reflected XSS", Severity.MEDIUM, 79, Confidence.FIRM, "GET",
            url + "/search?q=shoe", "GET_q_value", PAYLOAD, f"GET {SENT} HTTP/1.1\r\nHost: app\r\n\r\n", 200,
            f"HTTP/1.1 200 OK\n\n<p>you searched {PAYLOAD}</p>", PAYLOAD, "markup came back unencoded twice",
            "fp1", {"proven_at": f"GET {url}{SENT}"})])
        store.update_run(run.id, state=RunState.FAILED)
    finally:
        store.close()
    return db


def test_reproduce_says_whether_the_finding_still_reproduces(tmp_path: Path, target: Target,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    db = _stored(tmp_path, target.url)
    assert main(["reproduce", "fnd_1", "--db", db, "--json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["outcome"] == "reproduces" and document["baseline"]["status"] == 200
    assert document["curl"] == f"curl --path-as-is -g -X GET '{target.url}{SENT}'"

    target.vulnerable = False  # the developer fixed it
    assert main(["reproduce", "1", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "fnd_1 does not reproduce" in out and "curl --path-as-is" in out


@pytest.mark.parametrize("bad", ["fnd_99", "x"])
def test_reproduce_a_bad_id_exits_2(tmp_path: Path, target: Target, bad: str) -> None:
    db = _stored(tmp_path, target.url)
    assert main(["reproduce", bad, "--db", db]) == 2


def _exchange(body: str, elapsed: float) -> Exchange:
    request = Request.from_url("http://app/p?id=1")
    return Exchange(Attack(request, ""), Response(200, body=body.encode()), elapsed)


def _judged(proof: str, excerpt: str, attack: Exchange, baseline: Exchange, **details: object) -> Outcome:
    finding = Finding(1, 1, "sqli", "SQLi", Severity.HIGH, 89, Confidence.FIRM, "GET", "http://app/p", "GET_id_value",
                      "1", "GET /p HTTP/1.1\r\n\r\n", 200, excerpt, proof, "c", "fp", dict(details), id=1)
    return judge(finding, attack, baseline)[0]


def test_judging_a_delay_and_a_proof_that_one_attack_cannot_show() -> None:
    slept = "slept 3.01 s and 6.02 s for requested 3 s and 6 s; threshold 0.5 s"
    assert _judged(slept, "", _exchange("", 5.9), _exchange("", 0.02), elapsed_s=6.02) is Outcome.REPRODUCES
    assert _judged(slept, "", _exchange("", 0.03), _exchange("", 0.02), elapsed_s=6.02) is Outcome.FIXED
    boolean = "TRUE page ratio 0.99 vs FALSE 0.41 (floor 0.95)"
    assert _judged(boolean, "HTTP/1.1 200\n\n<p>", _exchange("", 0.1), _exchange("", 0.1)) is Outcome.INCONCLUSIVE
    # the proof in the baseline's own response proves nothing
    assert _judged("root:x:0:0", "root:x:0:0", _exchange("root:x:0:0", 0.1),
                   _exchange("root:x:0:0", 0.1)) is Outcome.INCONCLUSIVE


def test_a_stored_finding_is_judged_on_the_page_that_showed_it() -> None:
    from lunge.node.reproduce import _sink

    finding = Finding(1, 1, "xss-stored", "Stored XSS", Severity.HIGH, 79, Confidence.FIRM, "POST", "http://app/c",
                      "POST_FORM_URLENCODED_text_value", "<x>", "GET /c HTTP/1.1\r\n\r\n", 200, "<x>", "<x>", "c", "fp",
                      {"proven_at": "GET http://app/c?page=2"}, id=1)
    planted = Request.from_url("http://app/c", "POST", headers=[("Content-Type", "application/x-www-form-urlencoded")],
                               body=b"text=%3Cx%3E")
    sink = _sink(finding, planted)
    assert sink is not None and (sink.method, sink.target, sink.body) == ("GET", "/c?page=2", b"")
    assert "content-type" not in sink.headers
    reflected = replace(finding, details={"proven_at": "POST http://app/c"})
    assert _sink(reflected, planted) is None
