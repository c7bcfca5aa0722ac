"""The out-of-band listener and correlation: real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from lunge import aio
from lunge.checks.base import Attack, Confidence, Exchange, Severity
from lunge.checks.callbacks import Deferred
from lunge.engine.oob import OobConfig, OobService
from lunge.engine.oob_listener import answer, parse_query
from lunge.http import Request


def _query(name: str, qtype: int = 1) -> bytes:
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    return struct.pack(">HHHHHH", 42, 0x0100, 1, 0, 0, 0) + question + struct.pack(">HH", qtype, 1)


async def _http_get(port: int, target: str, host: str = "127.0.0.1") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    return data


async def _dns(port: int, name: str, qtype: int = 1) -> bytes:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        sock.connect(("127.0.0.1", port))
        await loop.sock_sendall(sock, _query(name, qtype))
        return await asyncio.wait_for(loop.sock_recv(sock, 512), 2)


def _exchange(token: str) -> Exchange:
    request = Request.from_url("http://t.test/?u=x")
    return Exchange(Attack(request, "x", "oob", token=token), None, 0.01, "timeout")


async def test_http_callback_is_attached_to_its_attack_and_answered_with_the_token_body():
    service = OobService(OobConfig(dns_port=None))
    async with service.listening():
        endpoint = service.endpoint
        assert endpoint is not None
        tok = endpoint.prefix + "a" * 14
        answer_bytes = await _http_get(endpoint.http_port, f"/{tok}")
        assert endpoint.body(tok).encode() in answer_bytes
        dtd = await _http_get(endpoint.http_port, f"/{tok}.dtd")
        assert b"<!-- " + endpoint.body(tok).encode() + b" -->" in dtd
        stray = await _http_get(endpoint.http_port, "/nothing")
        assert stray.startswith(b"HTTP/1.1 404")
        other = endpoint.prefix + "b" * 14
        (hit, miss) = service.attach([_exchange(tok), _exchange(other)])
    assert [i.protocol for i in hit.interactions] == ["http", "http"]
    assert hit.interactions[0].raw.startswith(f"GET /{tok} HTTP/1.1")
    assert miss.interactions == ()
    summary = service.summary()
    assert summary["enabled"] and summary["http_callbacks"] == 3 and summary["stray_callbacks"] == 1


async def test_a_token_of_another_run_never_matches():
    service = OobService(OobConfig(dns_port=None))
    async with service.listening():
        assert service.endpoint is not None
        foreign = "zzzzzz" + "a" * 14 if not service.endpoint.prefix.startswith("zz") else "yyyyyy" + "a" * 14
        await _http_get(service.endpoint.http_port, f"/{foreign}")
        (exchange,) = service.attach([_exchange(foreign)])
    assert exchange.interactions == ()


@pytest.mark.parametrize("runner", [asyncio.run, aio.run], ids=["asyncio", "lunge-loop"])
def test_dns_answers_names_under_the_domain_and_logs_them(runner):
    runner(_dns_scenario())


async def _dns_scenario() -> None:
    service = OobService(OobConfig(http_port=0, dns_port=0, domain="oob.lunge.test"))
    async with service.listening():
        endpoint = service.endpoint
        assert endpoint is not None and endpoint.domain == "oob.lunge.test"
        dns_port = service.dns_port
        tok = endpoint.prefix + "c" * 14
        reply = await _dns(dns_port, f"{tok}.oob.lunge.test")
        assert struct.unpack(">H", reply[6:8])[0] == 1 and reply[-4:] == socket.inet_aton("127.0.0.1")
        refused = await _dns(dns_port, "example.com")
        assert struct.unpack(">H", refused[2:4])[0] & 0xF == 5
        (exchange,) = service.attach([_exchange(tok)])
    assert [i.protocol for i in exchange.interactions] == ["dns"]


def test_dns_wire_format_round_trip():
    ident, flags, name, qtype, question = parse_query(_query("A.Oob.Test"))
    assert (ident, name, qtype) == (42, "a.oob.test", 1)
    reply = answer(ident, flags, question, socket.inet_aton("10.0.0.1"))
    assert reply[:2] == b"\x00\x2a" and reply.endswith(socket.inet_aton("10.0.0.1"))
    assert parse_query(b"short") is None


def _deferred(token: str) -> Deferred:
    return Deferred("ssrf", "SSRF", Severity.HIGH, 918, Confidence.FIRM, "GET_u_value", "x", _exchange(token),
                    "", "called back later", tokens=(token,))


async def test_a_late_http_callback_turns_a_deferred_verdict_into_a_finding_and_dns_alone_does_not():
    service = OobService(OobConfig(grace=2.0, dns_port=0))
    stored: list = []

    async def store(baseline, request, verdict):
        stored.append(verdict)

    async with service.listening():
        endpoint = service.endpoint
        assert endpoint is not None
        late, dns_only, silent = (endpoint.prefix + c * 14 for c in "def")
        service.attach([_exchange(late), _exchange(dns_only), _exchange(silent)])
        kept = service.hold(object(), object(), [_deferred(late), _deferred(dns_only), _deferred(silent)])
        assert kept == []

        async def call_back() -> None:
            await asyncio.sleep(0.2)
            await _dns(service.dns_port, f"{dns_only}.oob.lunge.test")
            await _http_get(endpoint.http_port, f"/{late}")

        async with asyncio.TaskGroup() as group:
            group.create_task(call_back())
            group.create_task(service.settle(store, lambda: False))
    assert len(stored) == 1
    (verdict,) = stored
    assert not isinstance(verdict, Deferred)
    assert verdict.proof == f"GET /{late} HTTP/1.1" and verdict.details["oob"]["protocol"] == "http"
    assert service.summary()["deferred_confirmed"] == 1


async def test_off_or_unbindable_listener_is_reported_not_silent():
    off = OobService(OobConfig(enabled=False, reason="turned off"), ())
    async with off.listening():
        assert off.endpoint is None
    assert off.summary()["enabled"] is False and off.summary()["reason"] == "turned off"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        service = OobService(OobConfig(http_port=port, dns_port=None))
        async with service.listening():
            assert service.endpoint is None
    assert "could not listen" in service.summary()["reason"]


@pytest.mark.parametrize("value", ["127.0.0.1", "ci.internal"])
def test_config_host_is_what_the_target_calls(value):
    assert OobConfig(host=value).host == value
