"""The Recorder addon, driven with mitmproxy's own test flows (no sockets): what it stores, counts,
answers itself and refuses."""

from __future__ import annotations

import asyncio

import pytest
from mitmproxy import http as mhttp
from mitmproxy.test import taddons, tflow, tutils

from lunge.errors import StoreError
from lunge.record.addon import Recorder
from lunge.record.ca import generated_ca
from lunge.record.scope import Scope
from lunge.store.models import NewBaseline


class Sink:
    """Collects baselines; fails when told to; can hold them until released (a slow commit)."""

    def __init__(self) -> None:
        self.stored: list[NewBaseline] = []
        self.fail: Exception | None = None
        self.gate: asyncio.Event | None = None

    async def __call__(self, baseline: NewBaseline) -> None:
        if self.gate is not None:
            await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        self.stored.append(baseline)


def _flow(host: str = "t.test", path: bytes = b"/a?x=1", status: int = 200) -> mhttp.HTTPFlow:
    request = tutils.treq(host=host, port=80, path=path,
                          headers=mhttp.Headers([(b"Host", host.encode())]), content=b"")
    return tflow.tflow(req=request, resp=tutils.tresp(status_code=status))


def _recorder(sink: Sink, **kwargs) -> Recorder:
    options = {"scope": Scope.from_settings(None, "png"), "dedup": True, "max_body": 1 << 20}
    options.update(kwargs)
    return Recorder(record_id=3, sink=sink, **options)  # type: ignore[arg-type]


async def _cycle(recorder: Recorder, flow: mhttp.HTTPFlow) -> None:
    with taddons.context(recorder) as context:
        await context.cycle(recorder, flow)


async def test_in_scope_flow_is_stored_once_and_counted():
    sink = Sink()
    recorder = _recorder(sink)
    await _cycle(recorder, _flow())
    await _cycle(recorder, _flow(path=b"/a?x=2"))  # duplicate
    await _cycle(recorder, _flow(path=b"/logo.png"))  # excluded
    assert [b.request.target for b in sink.stored] == ["/a?x=1"]
    assert sink.stored[0].record_id == 3
    stats = recorder.stats.as_dict()
    assert (stats["recorded"], stats["duplicates"], stats["excluded"]) == (1, 1, 1)
    assert stats["hosts"]["t.test"] == {"recorded": 1, "duplicates": 1, "excluded": 1, "out_of_scope": 0,
                                        "tunnelled_connections": 0}
    assert recorder.in_flight == 0


async def test_out_of_scope_is_counted_per_host_and_not_stored():
    sink = Sink()
    recorder = _recorder(sink, scope=Scope.from_settings("app.test", ""))
    await _cycle(recorder, _flow(host="cdn.test"))
    assert sink.stored == [] and recorder.stats.as_dict()["hosts"]["cdn.test"]["out_of_scope"] == 1


async def test_a_store_failure_is_counted_and_the_next_copy_is_kept():
    sink = Sink()
    sink.fail = StoreError("disk full")
    recorder = _recorder(sink)
    await _cycle(recorder, _flow())
    assert recorder.stats["store_errors"] == 1 and recorder.stats["recorded"] == 0
    sink.fail = None
    await _cycle(recorder, _flow(path=b"/a?x=9"))  # would be a duplicate, but the first was never stored
    assert recorder.stats["recorded"] == 1 and len(sink.stored) == 1


async def test_an_unexpected_sink_error_still_counts_as_not_stored():
    sink = Sink()
    sink.fail = RuntimeError("bug below the sink")
    recorder = _recorder(sink)
    with pytest.raises(RuntimeError):
        await recorder.response(_flow())
    assert recorder.stats["store_errors"] == 1 and recorder.in_flight == 0


async def test_response_waits_for_the_store_before_returning():
    sink = Sink()
    sink.gate = asyncio.Event()
    recorder = _recorder(sink)
    flow = _flow()
    recorder.requestheaders(flow)
    pending = asyncio.ensure_future(recorder.response(flow))
    await asyncio.sleep(0.05)
    # mitmproxy sends the response on only when this hook returns: it must still be waiting.
    assert not pending.done() and recorder.in_flight == 1
    sink.gate.set()
    await pending
    assert recorder.in_flight == 0 and len(sink.stored) == 1


async def test_flows_without_response_count_as_no_response():
    recorder = _recorder(Sink())
    flow = tflow.tflow(err=True)
    recorder.requestheaders(flow)
    assert recorder.in_flight == 1
    recorder.error(flow)
    assert recorder.in_flight == 0 and recorder.stats["no_response"] == 1


async def test_websocket_handshakes_are_not_baselines():
    sink = Sink()
    recorder = _recorder(sink)
    await _cycle(recorder, tflow.twebsocketflow())
    assert sink.stored == [] and recorder.stats["websockets"] == 1


async def test_ca_is_served_by_the_addon(tmp_path):
    ca = generated_ca(tmp_path / "ca")
    sink = Sink()
    recorder = _recorder(sink, ca=ca)
    for path, status in ((b"/cert.pem", 200), (b"/cert.der", 200), (b"/", 200), (b"/other", 404)):
        flow = tflow.tflow(req=tutils.treq(host="lunge.ca", port=80, path=path, content=b""))
        recorder.requestheaders(flow)
        recorder.request(flow)
        assert flow.response is not None and flow.response.status_code == status
        await recorder.response(flow)
    pem = tflow.tflow(req=tutils.treq(host="LUNGE.CA", port=80, path=b"/cert.pem", content=b""))
    recorder.request(pem)
    assert pem.response is not None and pem.response.content == ca.cert_pem.read_bytes()
    assert sink.stored == [] and recorder.stats["recorded"] == 0 and recorder.in_flight == 0


async def test_while_stopping_new_requests_are_refused_not_silently_unrecorded():
    sink = Sink()
    recorder = _recorder(sink)
    recorder.stopping = True
    flow = tflow.tflow(req=tutils.treq(content=b""))
    recorder.requestheaders(flow)
    recorder.request(flow)
    assert flow.response is not None and flow.response.status_code == 503
    await recorder.response(flow)
    assert sink.stored == [] and recorder.stats["refused_while_stopping"] == 1


async def test_event_streams_and_huge_responses_are_streamed_with_a_capture():
    recorder = _recorder(Sink(), max_body=4)
    flow = _flow()
    flow.response.headers["content-type"] = "text/event-stream"
    recorder.responseheaders(flow)
    capture = flow.response.stream
    assert callable(capture)
    assert capture(b"abc") == b"abc" and capture(b"defgh") == b"defgh"  # passed through unchanged
    huge = _flow()
    huge.response.headers["content-length"] = str(64 << 20)
    recorder.responseheaders(huge)
    assert callable(huge.response.stream)
    small = _flow()
    recorder.responseheaders(small)
    assert not small.response.stream


async def test_activity_clock_moves_with_requests():
    now = [100.0]
    recorder = _recorder(Sink(), clock=lambda: now[0])
    assert recorder.last_request_at == 100.0
    now[0] = 150.0
    recorder.requestheaders(_flow())
    assert recorder.last_request_at == 150.0


def _signin_flow(user: str, session: str) -> mhttp.HTTPFlow:
    request = tutils.treq(host="t.test", port=80, path=b"/login", method=b"POST",
                          headers=mhttp.Headers([(b"Host", b"t.test"),
                                                 (b"Content-Type", b"application/x-www-form-urlencoded")]),
                          content=f"username={user}&password=pw".encode())
    cookie = f"sid={session}; Path=/".encode()
    response = tutils.tresp(status_code=303, headers=mhttp.Headers([(b"Set-Cookie", cookie)]))
    return tflow.tflow(req=request, resp=response)


def _page_flow(session: str) -> mhttp.HTTPFlow:
    request = tutils.treq(host="t.test", port=80, path=b"/team",
                          headers=mhttp.Headers([(b"Host", b"t.test"), (b"Cookie", f"sid={session}".encode())]),
                          content=b"")
    return tflow.tflow(req=request, resp=tutils.tresp(status_code=200))


async def test_two_users_sign_ins_and_their_pages_survive_de_duplication():
    sink = Sink()
    recorder = _recorder(sink)
    for flow in (_signin_flow("alice", "a1a1a1a1a1"), _page_flow("a1a1a1a1a1"), _signin_flow("bob", "b2b2b2b2b2"),
                 _page_flow("b2b2b2b2b2"), _signin_flow("alice", "a3a3a3a3a3"), _page_flow("a3a3a3a3a3")):
        await _cycle(recorder, flow)
    stored = [(b.request.path, b.request.body, b.request.headers.get("cookie")) for b in sink.stored]
    assert stored == [("/login", b"username=alice&password=pw", None), ("/team", b"", "sid=a1a1a1a1a1"),
                      ("/login", b"username=bob&password=pw", None), ("/team", b"", "sid=b2b2b2b2b2")]
    assert recorder.stats.as_dict()["duplicates"] == 2  # alice signing in again, and her page again


async def test_without_a_record_nothing_is_stored_until_attached_and_after_detached():
    """An API-mode node's proxy: forwarding only until it takes a recording run, storing into that
    run's record with fresh counters and de-duplication while attached, forwarding only again after."""
    sink, later = Sink(), Sink()
    recorder = Recorder(record_id=None, sink=None, scope=Scope.from_settings(None, ""), dedup=True, max_body=1 << 20)
    await _cycle(recorder, _flow())
    assert sink.stored == [] and recorder.stats["recorded"] == 0 and recorder.in_flight == 0
    recorder.attach(7, sink, "rec_0007")
    await _cycle(recorder, _flow())  # the same endpoint as before: not a duplicate of what was not stored
    assert [b.record_id for b in sink.stored] == [7] and recorder.stats["recorded"] == 1
    counted = recorder.detach()
    await _cycle(recorder, _flow(path=b"/b?y=1"))
    assert len(sink.stored) == 1 and counted["recorded"] == 1
    recorder.attach(8, later, "rec_0008")  # the next run: a record of its own, counted afresh
    await _cycle(recorder, _flow())
    assert [b.record_id for b in later.stored] == [8] and recorder.stats["recorded"] == 1
