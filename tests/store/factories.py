"""Small builders of store inputs for the tests."""

from __future__ import annotations

from lunge.checks.base import Confidence, Severity
from lunge.http import Headers, Request, Response
from lunge.store.models import NewBaseline, NewFinding


def request(n: int = 0, body: bytes = b"") -> Request:
    """A distinct request per ``n`` (its number is in the target)."""
    headers = Headers([("Host", "app.test"), ("Accept", "*/*"), ("Cookie", f"s={n}")])
    return Request("POST" if body else "GET", "http", "app.test", 80, f"/items/{n}?q={n}", "HTTP/1.1", headers, body)


def response(n: int = 0) -> Response:
    return Response(200, "OK", "HTTP/1.1", Headers([("Content-Type", "text/plain")]), f"item {n}".encode())


def baseline(record_id: int, n: int = 0) -> NewBaseline:
    return NewBaseline(record_id, request(n), response(n), elapsed_ms=1.5)


def target_number(target: str) -> int:
    """The ``n`` a :func:`request` put into its target."""
    return int(target.split("/")[2].split("?")[0])


def finding(run_id: int, baseline_id: int, severity: Severity, n: int = 0) -> NewFinding:
    return NewFinding(
        run_id=run_id, baseline_id=baseline_id, check_id="sqli-error", title=f"SQL injection {n}",
        severity=severity, cwe=89, confidence=Confidence.FIRM, method="GET", url=f"http://app.test/items/{n}",
        point="GET_q_value", payload="'\"", attack_request=f"GET /items/{n}?q='\" HTTP/1.1\r\nHost: app.test\r\n\r\n",
        response_status=500, response_excerpt="You have an error in your SQL syntax", proof="SQL syntax",
        confirmation="a second payload gave the same error", fingerprint=f"fp-{n}",
        details={"dbms": "MySQL", "n": n}, controls=[{"payload": "1", "status": 200}],
    )
