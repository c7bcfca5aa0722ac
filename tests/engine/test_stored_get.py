"""Stored XSS through a safe-looking GET: a guestbook signed with ``GET /sign?comment=`` shows the
comment, unescaped, on another page. The engine primes GET query parameters as it primes POST fields,
finds the marker on the other page, and attacks the source; the escaping twin stays silent."""

from __future__ import annotations

import dataclasses
import html
from pathlib import Path

from aiohttp import web

from lunge.checks import load
from lunge.engine.runner import RunConfig, RunEngine
from lunge.http import Request
from lunge.policy import BUILTIN
from lunge.store import Store, open_store
from lunge.store.models import NewBaseline, TestRun

PAGE = "<html><body><h1>Guestbook</h1>{}</body></html>"


def _app() -> web.Application:
    books: dict[str, list[str]] = {"": ["Lovely place."], "/safe": ["Lovely place."]}
    app = web.Application()

    def sign(prefix: str) -> web.RouteDef:
        async def handler(request: web.Request) -> web.Response:
            books[prefix].append(request.query.get("comment", ""))
            del books[prefix][:-5]  # the five newest
            return web.Response(text=PAGE.format("<p>Thanks for signing.</p>"), content_type="text/html")
        return web.get(f"{prefix}/sign", handler)

    def view(prefix: str) -> web.RouteDef:
        async def handler(request: web.Request) -> web.Response:
            shown = books[prefix] if not prefix else [html.escape(c) for c in books[prefix]]
            return web.Response(text=PAGE.format("".join(f"<p>{c}</p>" for c in shown)), content_type="text/html")
        return web.get(f"{prefix}/book", handler)

    app.add_routes([sign(""), view(""), sign("/safe"), view("/safe")])
    return app


def _guestbook(store: Store, origin: str, targets: tuple[str, ...], checks: str) -> tuple[TestRun, RunConfig]:
    """A closed record of GETs of ``targets`` on ``origin`` and a run of it by ``checks`` (the
    default policy without passive checks: the tests count the XSS findings)."""
    record = store.create_record("guestbook")
    store.add_baselines([NewBaseline(record.id, Request.from_url(origin + t), None) for t in targets])
    store.close_record(record.id)
    policy = dataclasses.replace(BUILTIN["default"], passive=False)
    run = store.create_run(name="guestbook", record_id=record.id, policy_name=policy.name)
    return run, RunConfig(policy=policy, checks=tuple(load().select([checks])), workers=4)


async def test_a_comment_stored_through_a_get_is_found(tmp_path: Path, loopback) -> None:
    server = await loopback(_app())
    store = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    try:
        targets = ("/sign?comment=hello", "/book", "/safe/sign?comment=hello", "/safe/book")
        run, config = _guestbook(store, server.url, targets, "xss")
        final = await RunEngine(store, run, config).execute()
        findings = list(store.iter_findings(final.id))
    finally:
        store.close()
    found = {(f.url.split(str(server.port), 1)[1].partition("?")[0], f.point, f.check_id) for f in findings}
    assert found == {("/sign", "GET_comment_value", "xss-stored")}


async def test_the_second_order_pass_counts_its_requests_by_check(tmp_path: Path, loopback) -> None:
    server = await loopback(_app())
    store = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    try:
        run, config = _guestbook(store, server.url, ("/sign?comment=hello", "/book"), "xss-stored")
        final = await RunEngine(store, run, config).execute()
        assert [f.check_id for f in store.iter_findings(final.id)] == ["xss-stored"]
    finally:
        store.close()
    # priming, the sink candidates replayed and the stored-XSS attacks: every attack request is a check's
    stats = final.stats
    assert stats["stored_xss_sources"] == 1
    assert stats["requests_by_check"] == {"xss-stored": stats["attack_requests"]}
    assert stats["attack_requests"] > 3


async def test_partitions_plant_distinct_markers_and_the_second_order_pass_sees_them_all(tmp_path: Path,
                                                                                        loopback) -> None:
    """As ``PROCESSES=2`` runs it: each partition primes its own sources, the pass merges them."""
    server = await loopback(_app())
    store = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    try:
        # seq 1 and 3 are partition 1's, seq 2 and 4 partition 0's: each partition primes one source
        targets = ("/sign?comment=hello", "/safe/sign?comment=hello", "/book", "/safe/book")
        run, config = _guestbook(store, server.url, targets, "xss-stored")
        parent = RunEngine(store, run, config)
        await parent.start()
        parts = [await RunEngine(store, run, config.for_partition(i, 2)).run_partition() for i in range(2)]
        assert not set(parts[0].markers) & set(parts[1].markers)
        await parent.second_order(parts)
        final = await parent.finish(parts)
        findings = list(store.iter_findings(final.id))
    finally:
        store.close()
    assert final.stats["stored_xss_sources"] == 2
    assert [(f.url.split(str(server.port), 1)[1].partition("?")[0], f.check_id) for f in findings] == [
        ("/sign", "xss-stored")]
