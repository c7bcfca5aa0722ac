"""Fake web applications for the sqli check's tests, over a real in-memory SQLite database.

Each app reads its input the way a web framework would (stdlib parsing of the query, the form, the
JSON body, a header or a cookie), builds its SQL by string formatting (vulnerable) or binds the
value (safe twin), and answers with HTML or JSON. ``sleep(n)`` is registered in SQLite like an app
that exposes one: it *adds* n seconds to the response's latency instead of sleeping, so the timing
tests run instantly. The traps at the end are sqlmap's false-positive battery (``--fp-test``) plus
a WAF, a page about SQL errors and an A/B page. The tests in this module check the apps themselves.
"""

from __future__ import annotations

import html
import json
import random
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

from lunge.checks.testing import Responder, ResponderResult
from lunge.http import Headers, Request, Response

ROWS = [(1, "mallory", "m@x.test"), (2, "alice", "a@x.test"), (3, "trent", "t@x.test"), (4, "bob", "b@x.test"),
        (5, "carol", "c@x.test")]
COLUMNS = ("id", "name", "email")
NAVIGATION = "<nav>" + "".join(f"<a href='/section/{i}'>Section {i}</a>" for i in range(40)) + "</nav>"


# ---------------------------------------------------------------------- where an app reads its input
@dataclass(frozen=True)
class Place:
    """Where the input lives: ``query``, ``form``, ``json``, ``header`` or ``cookie``."""

    where: str
    name: str

    def request(self, value: str | int, path: str = "/users") -> Request:
        """The baseline request carrying ``value`` here."""
        text = str(value)
        if self.where == "query":
            return Request.from_url(f"http://app.test{path}?{self.name}={text}&page=1")
        if self.where == "form":
            return Request.from_url(f"http://app.test{path}", "POST", body=f"{self.name}={text}&page=1".encode(),
                                    headers=[("Content-Type", "application/x-www-form-urlencoded")])
        if self.where == "json":
            body = json.dumps({self.name: value, "page": 1}).encode()
            return Request.from_url(f"http://app.test{path}", "POST", body=body,
                                    headers=[("Content-Type", "application/json")])
        if self.where == "header":
            return Request.from_url(f"http://app.test{path}", headers=[(self.name, text)])
        return Request.from_url(f"http://app.test{path}", headers=[("Cookie", f"sid=s1; {self.name}={text}")])

    @property
    def point(self) -> str:
        """lunge's name for the point."""
        return {"query": f"GET_{self.name}_value", "form": f"POST_FORM_URLENCODED_{self.name}_value",
                "json": f"POST_JSON_DOC_HASH_{self.name}_value", "header": f"HEADER_{self.name.upper()}_value",
                "cookie": f"HEADER_COOKIE_COOKIE_{self.name}_value"}[self.where]

    def read(self, request: Request) -> str | None:
        if self.where == "query":
            values = parse_qs(request.query, keep_blank_values=True).get(self.name)
            return values[-1] if values else None
        if self.where == "form":
            values = parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True).get(self.name)
            return values[-1] if values else None
        if self.where == "json":
            try:
                value = json.loads(request.body).get(self.name)
            except ValueError:
                return None
            return None if value is None else str(value)
        if self.where == "header":
            return request.headers.get(self.name)
        # Lenient, like Starlette's cookie_parser, and percent-decoded like PHP's $_COOKIE.
        for pair in (request.headers.get("cookie") or "").split(";"):
            key, _, value = pair.strip().partition("=")
            if key == self.name:
                return unquote(value)
        return None


QUERY_ID = Place("query", "id")


# ---------------------------------------------------------------------- the SQLite application
@dataclass
class App:
    """A fake application over SQLite.

    ``sql`` has one ``{v}`` where the input goes (``'{v}'``, ``'%{v}%'`` or bare). ``safe`` binds the
    input instead (ORDER BY: an allow-list). ``errors``: ``show`` = 500 with the driver's message,
    ``generic`` = 500 without it, ``hide`` = the empty-result page. ``render``: ``html`` (a table),
    ``json`` or ``word`` (a big page where one word says whether a row matched). ``blind``: the
    page never shows the query's result.
    ``latency`` is the normal response time; ``decorate`` may rewrite the body (traps);
    ``sleeps``: the app registers ``sleep()``; ``strip_quotes``: a home-made sanitiser.
    """

    sql: str
    place: Place = QUERY_ID
    safe: bool = False
    errors: str = "show"
    blind: bool = False
    render: str = "html"
    latency: Callable[[], float] = lambda: 0.01
    decorate: Callable[[str, str | None], str] | None = None
    sleeps: bool = True
    strip_quotes: bool = False
    requests: int = 0
    db: sqlite3.Connection = field(init=False)
    slept: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.execute("CREATE TABLE users (id INTEGER, name TEXT, email TEXT)")
        self.db.executemany("INSERT INTO users VALUES (?, ?, ?)", ROWS)
        if self.sleeps:
            self.db.create_function("sleep", 1, self._sleep)

    def _sleep(self, seconds: object) -> int:
        self.slept += float(seconds)  # type: ignore[arg-type]
        return 0

    def __call__(self, request: Request) -> ResponderResult:
        self.requests += 1
        self.slept = 0.0
        value = self.place.read(request)
        status, body = self.respond(value)
        if self.decorate is not None:
            body = self.decorate(body, value)
        content_type = "application/json" if self.render == "json" else "text/html; charset=utf-8"
        return Response(status, "OK", headers=Headers([("Content-Type", content_type)]),
                        body=body.encode()), self.latency() + self.slept

    def respond(self, value: str | None) -> tuple[int, str]:
        if value is None:
            return 400, "<p>missing input</p>"
        try:
            rows = self.query(value)
        except sqlite3.Error as exc:
            if self.errors == "show":
                message = html.escape(str(exc))
                return 500, f"<h1>Internal Server Error</h1><pre>sqlite3.OperationalError: {message}</pre>"
            if self.errors == "generic":
                return 500, "<h1>Something went wrong</h1>"
            rows = []
        return 200, self.page([] if self.blind else rows)

    def query(self, value: str) -> list[tuple[object, ...]]:
        if self.strip_quotes:  # a home-made "sanitiser"
            value = value.replace("'", "").replace('"', "")
        if not self.safe:
            return self.db.execute(self.sql.format(v=value)).fetchall()
        if "ORDER BY {v}" in self.sql:
            column = value if value in COLUMNS else "id"
            return self.db.execute(self.sql.format(v=column)).fetchall()
        bound = value
        sql = self.sql
        for quoted, wrap in (("'%{v}%'", "%{}%"), ("'{v}'", "{}"), ('"{v}"', "{}"), ("{v}", "{}")):
            if quoted in sql:
                sql, bound = sql.replace(quoted, "?"), wrap.format(value)
                break
        return self.db.execute(sql, (bound,)).fetchall()

    def page(self, rows: list[tuple[object, ...]]) -> str:
        if self.render == "word":  # one word in a big page changes with the result
            answer = "taken" if rows else "available"
            return f"<html><body>{NAVIGATION}<p>This username is {answer}.</p>{NAVIGATION}</body></html>"
        if self.render == "json":
            return json.dumps({"items": [{"id": r[0], "name": r[1]} for r in rows], "count": len(rows)})
        if self.blind:
            return "<html><body><h1>Thanks</h1><p>Your visit was recorded.</p></body></html>"
        cells = "".join(f"<tr><td>{r[0]}</td><td>{html.escape(str(r[1]))}</td></tr>" for r in rows)
        listing = f"<table>{cells}</table>" if rows else "<p>No users found.</p>"
        return f"<html><head><title>Users</title></head><body><h1>Users</h1>{listing}<footer>v1</footer></body></html>"


# ---------------------------------------------------------------------- vulnerable apps (and safe twins)
def numeric(place: Place = QUERY_ID, **kw: object) -> App:
    return App("SELECT id, name FROM users WHERE id = {v}", place, **kw)  # type: ignore[arg-type]


def string(place: Place = Place("query", "name"), **kw: object) -> App:
    return App("SELECT id, name FROM users WHERE name = '{v}'", place, **kw)  # type: ignore[arg-type]


def double_quoted(place: Place = Place("query", "name"), **kw: object) -> App:
    return App('SELECT id, name FROM users WHERE name = "{v}"', place, **kw)  # type: ignore[arg-type]


def parenthesised(place: Place = Place("query", "name"), **kw: object) -> App:
    return App("SELECT id, name FROM users WHERE (name = '{v}')", place, **kw)  # type: ignore[arg-type]


def like(place: Place = Place("query", "q"), **kw: object) -> App:
    return App("SELECT id, name FROM users WHERE name LIKE '%{v}%' ORDER BY id", place, **kw)  # type: ignore[arg-type]


def order_by(place: Place = Place("query", "sort"), **kw: object) -> App:
    return App("SELECT id, name FROM users ORDER BY {v}", place, **kw)  # type: ignore[arg-type]


# ---------------------------------------------------------------------- traps (each wraps an app)
def seeded(seed: int) -> random.Random:
    return random.Random(seed)


def structrand(rng: random.Random) -> Callable[[str, str | None], str]:
    """Random text in a stable structure: a random quote in the same box on every page."""
    words = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor".split()

    def decorate(body: str, value: str | None) -> str:
        quote = " ".join(rng.choices(words, k=rng.randint(3, 15)))
        return body.replace("<h1>Users</h1>", f"<h1>Users</h1><blockquote class='q'>{quote}</blockquote>")
    return decorate


def lengthrand(rng: random.Random) -> Callable[[str, str | None], str]:
    """A random-length block on every page."""
    def decorate(body: str, value: str | None) -> str:
        return body.replace("<footer>", f"<div id='ad'>{'x' * rng.randint(0, 200)}</div><footer>")
    return decorate


def reflect() -> Callable[[str, str | None], str]:
    """The input echoed back, HTML-escaped."""
    def decorate(body: str, value: str | None) -> str:
        return body.replace("<h1>Users</h1>", f"<h1>Users</h1><p>You asked for {html.escape(value or '')}</p>")
    return decorate


def mysql_warnings(baseline: str) -> Callable[[str, str | None], str]:
    """MySQL-looking warning text on every input but the recorded one (sqlmap's ``errors`` trap)."""
    warning = ("<b>Warning</b>: mysql_fetch_array() expects parameter 1 to be resource, boolean given "
               "in <b>/var/www/users.php</b> on line <b>12</b>")

    def decorate(body: str, value: str | None) -> str:
        return body if value == baseline else body.replace("<footer>", warning + "<footer>")
    return decorate


def sql_tutorial() -> Callable[[str, str | None], str]:
    """A page that always shows SQL error text (a tutorial about SQL errors)."""
    lesson = ("<article><h2>Reading SQL errors</h2><p>If you see <code>You have an error in your SQL syntax; check "
              "the manual that corresponds to your MySQL server version</code> or <code>ORA-00933: SQL command "
              "not properly ended</code>, look at your quotes.</p></article>")

    def decorate(body: str, value: str | None) -> str:
        return body.replace("<footer>", lesson + "<footer>")
    return decorate


@dataclass
class Waf:
    """A WAF in front of ``app``: 403 for anything with a quote or an ``OR``."""

    app: Responder
    place: Place = QUERY_ID

    def __call__(self, request: Request) -> ResponderResult:
        value = self.place.read(request) or ""
        if re.search(r"['\"]|\bor\b", value, re.IGNORECASE):
            return Response(403, "Forbidden", body=b"<h1>Request blocked</h1>"), 0.01
        return self.app(request)


def accept_all(request: Request) -> ResponderResult:
    """The same 200 page for anything."""
    return Response(200, body=b"<html><body><h1>Welcome</h1><p>Thanks for visiting.</p></body></html>"), 0.01


def intcast(leading: bool) -> Callable[[str], str | None]:
    """The app's integer parsing: ``int()`` (anything else finds nothing) or PHP's leading digits."""
    def cast(value: str) -> str | None:
        if leading:
            match = re.match(r"\s*-?\d+", value)
            return match.group(0).strip() if match else "0"
        try:
            return str(int(value))
        except ValueError:
            return None
    return cast


@dataclass
class IntCast:
    """An id lookup that casts the input to an integer first, then builds the query with it."""

    leading: bool
    app: App = field(default_factory=numeric)

    def __call__(self, request: Request) -> ResponderResult:
        self.app.requests += 1
        raw = self.app.place.read(request) or ""
        number = intcast(self.leading)(raw)
        _, body = self.app.respond(number) if number is not None else (200, self.app.page([]))
        return Response(200, headers=Headers([("Content-Type", "text/html")]), body=body.encode()), 0.01


@dataclass
class Flip:
    """An A/B test: after ``warmup`` requests the page alternates between two variants on every
    request, whatever the input (a naive TRUE/FALSE pair reads the flip as a condition)."""

    app: App
    warmup: int = 34
    count: int = 0

    def __call__(self, request: Request) -> ResponderResult:
        self.count += 1
        result = self.app(request)
        assert isinstance(result, tuple)
        response, elapsed = result
        if self.count > self.warmup and self.count % 2:
            body = response.body.replace(b"<h1>Users</h1>", b"<h1>Users</h1><aside>Try our new dashboard!</aside>")
            response = Response(response.status, response.reason, response.http_version, response.headers, body)
        return response, elapsed


# ---------------------------------------------------------------------- the apps behave as described
def body_of(result: ResponderResult) -> tuple[int, str, float]:
    assert isinstance(result, tuple)
    response, elapsed = result
    return response.status, response.text(), elapsed


def test_vulnerable_and_safe_numeric_apps() -> None:
    vulnerable, safe = numeric(), numeric(safe=True)
    status, text, _ = body_of(vulnerable(QUERY_ID.request("2 AND 1=1")))
    assert status == 200 and "alice" in text
    assert "alice" not in body_of(vulnerable(QUERY_ID.request("2 AND 1=2")))[1]
    assert body_of(vulnerable(QUERY_ID.request("2'")))[0] == 500
    assert "alice" not in body_of(safe(QUERY_ID.request("2 AND 1=1")))[1]
    assert "alice" in body_of(safe(QUERY_ID.request("2")))[1]


def test_the_sleep_function_adds_latency_once_per_query() -> None:
    app = numeric()
    _, _, elapsed = body_of(app(QUERY_ID.request("2 AND 7=(SELECT 7 FROM (SELECT(SLEEP(2)))q)")))
    assert elapsed == 2.01
    assert body_of(app(QUERY_ID.request("2 AND 7=(SELECT 7 FROM PG_SLEEP(2))")))[2] == 0.01


def test_every_place_reads_its_value() -> None:
    for place in (Place("query", "id"), Place("form", "id"), Place("json", "id"), Place("header", "X-User-Id"),
                  Place("cookie", "uid")):
        request = place.request(2)
        assert place.read(request) == "2", place
        assert "alice" in body_of(numeric(place)(request))[1]


def test_safe_twins_bind_every_kind_of_value() -> None:
    assert "alice" in body_of(like(safe=True)(Place("query", "q").request("ali")))[1]
    ordered = body_of(order_by(safe=True)(Place("query", "sort").request("name")))[1]
    assert ordered.index("alice") < ordered.index("mallory")
    assert body_of(string(safe=True)(Place("query", "name").request("alice' AND 1=1 AND 'a'='a")))[0] == 200


def test_traps_behave() -> None:
    waf = Waf(numeric(safe=True))
    assert body_of(waf(QUERY_ID.request("2 or 1")))[0] == 403
    assert body_of(waf(QUERY_ID.request("2")))[0] == 200
    strict, leading = IntCast(False), IntCast(True)
    assert "alice" in body_of(strict(QUERY_ID.request("2")))[1]
    assert "alice" not in body_of(strict(QUERY_ID.request("2 AND 1=1")))[1]
    assert "alice" in body_of(leading(QUERY_ID.request("2 AND 1=2")))[1]
    warned = numeric(safe=True, decorate=mysql_warnings("2"))
    assert "mysql_fetch_array" not in body_of(warned(QUERY_ID.request("2")))[1]
    assert "mysql_fetch_array" in body_of(warned(QUERY_ID.request("3")))[1]
