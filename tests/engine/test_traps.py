"""The false-positive trap battery through the whole engine: a real loopback server whose trap
endpoints must give no finding to any check, next to vulnerable twins that must all be found
(sqlmap's --fp-test generalised, detection.md §15.2)."""

from __future__ import annotations

import asyncio
import html
import random
import sqlite3
from pathlib import Path

import pytest
from aiohttp import web

from lunge.checks import load
from lunge.engine.runner import RunConfig, RunEngine
from lunge.http import Request
from lunge.policy import BUILTIN, Limits
from lunge.store import open_store
from lunge.store.models import NewBaseline, RunState

PAGE = "<html><head><title>shop</title></head><body><h1>Shop</h1>{}</body></html>"
SQL_TUTORIAL = ("<p>Tutorial: when you see <code>You have an error in your SQL syntax; check the manual that "
                "corresponds to your MySQL server version</code>, quote your strings.</p>")
BLOCKED = ("'", '"', "<", ">", ";", "|", "&", "..", "$(", "`", "sleep", " or ", " and ", "//", "\\")


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=PAGE.format(body), status=status, content_type="text/html")


def _trap_routes(rng: random.Random) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/trap/encoded")
    async def encoded(request: web.Request) -> web.Response:
        return _html(f"<p>You searched for {html.escape(request.query.get('q', ''))}</p>"
                     f"<input value=\"{html.escape(request.query.get('q', ''))}\">")

    @routes.get("/trap/generic-error")
    async def generic_error(request: web.Request) -> web.Response:
        return _html("<p>An unexpected error occurred. Please try again later.</p>", 500 if
                     request.query.get("id") != "1" else 200)

    @routes.get("/trap/length-random")
    async def length_random(request: web.Request) -> web.Response:
        return _html("<p>item</p>" + "<!-- pad -->" * rng.randint(0, 200) + "<p>x</p>" * rng.randint(0, 30))

    @routes.get("/trap/slow-random")
    async def slow_random(request: web.Request) -> web.Response:
        await asyncio.sleep(rng.uniform(0, 0.15))
        return _html("<p>item 1</p>")

    @routes.get("/trap/accept-all")
    async def accept_all(request: web.Request) -> web.Response:
        return _html("<p>Thank you, your request was received.</p>")

    @routes.get("/trap/waf")
    async def waf(request: web.Request) -> web.Response:
        value = request.query.get("q", "").lower()
        if any(token in value for token in BLOCKED):
            return _html("<p>Request blocked by the web application firewall.</p>", 403)
        return _html(f"<p>results for {html.escape(value)}</p>")

    @routes.get("/trap/sql-text")
    async def sql_text(request: web.Request) -> web.Response:
        return _html(SQL_TUTORIAL + f"<p>{html.escape(request.query.get('q', ''))}</p>")

    @routes.get("/trap/json-echo")
    async def json_echo(request: web.Request) -> web.Response:
        # Raw reflection on purpose: JSON is not rendered as HTML, so XSS must stay silent here.
        body = '{"q": "' + request.query.get("q", "") + '"}'
        return web.Response(text=body, content_type="application/json")

    @routes.get("/trap/own-redirect")
    async def own_redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/login?next=" + request.query.get("next", "/"))

    @routes.get("/trap/passwd-text")
    async def passwd_text(request: web.Request) -> web.Response:
        return _html("<pre>root:x:0:0:root:/root:/bin/bash</pre><p>" + html.escape(request.query.get("file", "")))
    return routes


def _twin_routes(db: sqlite3.Connection, files: Path) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/vuln/reflect")
    async def reflect(request: web.Request) -> web.Response:
        return _html(f"<p>You searched for {request.query.get('q', '')}</p>")

    @routes.get("/vuln/item")
    async def item(request: web.Request) -> web.Response:
        try:
            rows = db.execute(f"SELECT name FROM items WHERE id = {request.query.get('id', '')}").fetchall()
        except sqlite3.Error as exc:
            return _html(f"<p>database error: {html.escape(str(exc))}</p>", 500)
        return _html("".join(f"<p>{html.escape(r[0])}</p>" for r in rows))

    @routes.get("/vuln/ping")
    async def ping(request: web.Request) -> web.Response:
        proc = await asyncio.create_subprocess_shell(f"echo checking {request.query.get('host', '')}",
                                                     stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await proc.communicate()
        return _html(f"<pre>{html.escape(out.decode(errors='replace'))}</pre>")

    @routes.get("/vuln/file")
    async def read_file(request: web.Request) -> web.Response:
        try:
            text = (files / request.query.get("name", "")).read_text(errors="replace")
        except OSError:
            return _html("<p>no such document</p>", 404)
        return _html(f"<pre>{html.escape(text)}</pre>")

    @routes.get("/vuln/go")
    async def go(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query.get("next", "/"))
    return routes


TRAPS = {
    "/trap/encoded?q=shoes": "GET_q_value", "/trap/generic-error?id=1": "GET_id_value",
    "/trap/length-random?q=shoes": "GET_q_value", "/trap/slow-random?q=shoes": "GET_q_value",
    "/trap/accept-all?q=shoes": "GET_q_value", "/trap/waf?q=shoes": "GET_q_value",
    "/trap/sql-text?q=shoes": "GET_q_value", "/trap/json-echo?q=shoes": "GET_q_value",
    "/trap/own-redirect?next=/home": "GET_next_value", "/trap/passwd-text?file=report.txt": "GET_file_value",
}
TWINS = {
    "/vuln/reflect?q=shoes": ("GET_q_value", "xss-reflected"),
    "/vuln/item?id=1": ("GET_id_value", "sqli"),
    "/vuln/ping?host=localhost": ("GET_host_value", "cmdi"),
    "/vuln/file?name=report.txt": ("GET_name_value", "path-traversal"),
    "/vuln/go?next=/home": ("GET_next_value", "open-redirect"),
}


@pytest.mark.slow
async def test_traps_stay_silent_and_twins_are_found(tmp_path: Path, loopback) -> None:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.executescript("CREATE TABLE items (id INTEGER, name TEXT); INSERT INTO items VALUES (1, 'shoes'), (2, 'hat');")
    files = tmp_path / "docs"
    files.mkdir()
    (files / "report.txt").write_text("quarterly report\n")
    app = web.Application()
    app.add_routes(_trap_routes(random.Random(7)))
    app.add_routes(_twin_routes(db, files))
    server = await loopback(app)

    store = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    try:
        record = store.create_record("traps")
        baselines = []
        for target in (*TRAPS, *TWINS):
            request = Request.from_url(server.url + target)
            baselines.append(NewBaseline(record.id, request, None))
        store.add_baselines(baselines)
        store.close_record(record.id)
        registry = load()
        policy = BUILTIN["default"]
        policy = type(policy)(**{**{f: getattr(policy, f) for f in ("name", "description", "checks", "include",
                                                                      "exclude")},
                                 "limits": Limits(time_delay=1), "passive": False})  # active checks' traps
        run = store.create_run(name="traps", record_id=record.id, policy_name=policy.name)
        config = RunConfig(policy=policy, checks=tuple(registry.select(policy.checks)), workers=8)
        final = await RunEngine(store, run, config).execute()
        findings = list(store.iter_findings(final.id))
    finally:
        store.close()
        db.close()
    found = {(f.url.split(str(server.port), 1)[1], f.point, f.check_id) for f in findings}
    expected = {(path, point, check) for path, (point, check) in TWINS.items()}
    assert found == expected, "\n".join(f"{f.check_id} {f.url} {f.point}: {f.proof!r}" for f in findings)
    assert final.state is RunState.FAILED and final.stats["replay_coverage"] >= 0.9
