"""The recording proxy, in-process, driven by real clients (aiohttp, curl) over real loopback sockets:
HTTP, HTTPS through CONNECT (the client trusts only lunge's CA), upstream verification, reverse
mode, the CA download, HTTP/2, WebSockets, streamed responses, scope and de-duplication."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl

import aiohttp
import pytest

from lunge.errors import SettingError
from lunge.store.models import RecordState
from tests.record.targets import (
    client_tls,
    make_certificate,
    recording,
    serve_h2,
    serve_target,
    server_tls,
)

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


async def _curl(*args: str) -> tuple[int, str, str]:
    assert CURL is not None
    process = await asyncio.create_subprocess_exec(CURL, "-sS", *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    return process.returncode or 0, out.decode(), err.decode()


async def _raw_exchange(port: int, raw: bytes) -> bytes:
    """Send ``raw`` to the proxy on one connection and read the whole response (Connection: close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return response


async def test_http_exchange_passes_unmodified_and_is_recorded_byte_faithfully(tmp_path):
    async with serve_target() as target, recording(tmp_path, record_name="http", build_id="b7") as session:
        body = b'{"k": [1, 2]}'
        raw = (f"POST http://127.0.0.1:{target.port}/echo?b=2&a=%20x HTTP/1.1\r\n"
               f"Host: 127.0.0.1:{target.port}\r\nX-Mixed-CASE: one\r\nx-dup: 1\r\nX-Dup: 2\r\n"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
               ).encode() + body
        answer = await _raw_exchange(session.port, raw)
        outcome = await session.finish()
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    seen = json.loads(payload)
    # The target got the client's bytes: header names, case, order and duplicates unchanged.
    assert seen["path_qs"] == "/echo?b=2&a=%20x" and seen["body"] == body.decode()
    sent = [h for h in seen["headers"] if h[0].lower() in ("x-mixed-case", "x-dup")]
    assert sent == [["X-Mixed-CASE", "one"], ["x-dup", "1"], ["X-Dup", "2"]]
    (baseline,) = session.baselines()
    request = baseline.request
    assert (request.method, request.scheme, request.host, request.port) == ("POST", "http", "127.0.0.1", target.port)
    assert request.target == "/echo?b=2&a=%20x"  # origin form, although the client sent an absolute URL
    assert [k for k, _ in request.headers] == ["Host", "X-Mixed-CASE", "x-dup", "X-Dup", "Content-Type",
                                               "Content-Length", "Connection"]
    assert request.headers.get_all("x-dup") == ["1", "2"]
    assert request.body == body
    assert baseline.response is not None and baseline.response.status == 200
    assert baseline.response.body == payload and not baseline.response_truncated
    assert baseline.response.headers.get("content-type", "").startswith("application/json")
    assert baseline.elapsed_ms > 0
    assert outcome.record.state is RecordState.CLOSED and outcome.record.build_id == "b7"
    assert outcome.record.name == "http"
    assert outcome.stats["recorded"] == 1 and outcome.stats["hosts"]["127.0.0.1"]["recorded"] == 1


async def test_https_interception_with_lunge_ca_and_upstream_verification(tmp_path):
    cert, key = make_certificate(tmp_path / "target")
    async with serve_target(server_tls(cert, key)) as target:
        # Verification on (the default) and a self-signed target: the proxy refuses to talk to it.
        async with recording(tmp_path / "verify") as session:
            async with aiohttp.ClientSession() as client:
                async with client.get(f"{target.url}/x", proxy=session.proxy,
                                      ssl=client_tls(session.ca.cert_pem)) as response:
                    assert response.status == 502
            outcome = await session.finish()
        assert outcome.stats["recorded"] == 0 and outcome.stats["no_response"] == 1
        # Told to trust the target's certificate: intercepted, answered, recorded.
        async with recording(tmp_path / "trusted", upstream_ca=cert) as session:
            async with aiohttp.ClientSession() as client:
                async with client.get(f"{target.url}/secure?q=1", proxy=session.proxy,
                                      ssl=client_tls(session.ca.cert_pem)) as response:
                    assert response.status == 200 and await response.text() == "ok GET /secure?q=1"
            await session.finish()
            (baseline,) = session.baselines()
        assert baseline.request.url == f"https://127.0.0.1:{target.port}/secure?q=1"


async def test_https_client_that_does_not_trust_the_ca_fails(tmp_path):
    cert, key = make_certificate(tmp_path / "target")
    async with serve_target(server_tls(cert, key)) as target, recording(tmp_path, upstream_verify=False) as session:
        async with aiohttp.ClientSession() as client:
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await client.get(f"{target.url}/x", proxy=session.proxy, ssl=ssl.create_default_context())
        assert (await session.finish()).stats["recorded"] == 0


@needs_curl
async def test_curl_http_https_and_http2(tmp_path):
    cert, key = make_certificate(tmp_path / "target")
    async with (serve_target(server_tls(cert, key, ["http/1.1"])) as h1, serve_h2(cert, key) as h2_port,
                recording(tmp_path, upstream_verify=False) as session):
        ca = str(session.ca.cert_pem)
        code, out, err = await _curl("--cacert", ca, "-x", session.proxy, f"https://127.0.0.1:{h1.port}/curl?a=1")
        assert (code, out) == (0, "ok GET /curl?a=1"), err
        code, out, err = await _curl("--http2", "--cacert", ca, "-x", session.proxy, "-w", " %{http_version}",
                                     f"https://127.0.0.1:{h2_port}/two?b=2")
        assert (code, out) == (0, "h2 /two?b=2 2"), err
        # An HTTP/2 client in front of an HTTP/1.1 target works too (mitmproxy translates).
        code, out, err = await _curl("--http2", "--cacert", ca, "-x", session.proxy,
                                     f"https://localhost:{h1.port}/h2-to-h1")
        assert (code, out) == (0, "ok GET /h2-to-h1"), err
        outcome = await session.finish()
    urls = {b.request.url: b for b in session.baselines()}
    h2_baseline = urls[f"https://127.0.0.1:{h2_port}/two?b=2"]
    assert h2_baseline.request.http_version == "HTTP/1.1"  # kept in the form the engine replays
    assert h2_baseline.request.headers.get("host") == f"127.0.0.1:{h2_port}"
    assert h2_baseline.response is not None and h2_baseline.response.body == b"h2 /two?b=2"
    assert f"https://127.0.0.1:{h1.port}/curl?a=1" in urls
    assert outcome.stats["recorded"] >= 3


@needs_curl
async def test_ca_is_downloadable_through_the_proxy_and_not_recorded(tmp_path):
    async with recording(tmp_path) as session:
        async with aiohttp.ClientSession() as client:
            async with client.get("http://lunge.ca/cert.pem", proxy=session.proxy) as response:
                pem = await response.read()
            async with client.get("http://lunge.ca/cert.der", proxy=session.proxy) as response:
                der = await response.read()
            async with client.get("http://lunge.ca/nope", proxy=session.proxy) as response:
                assert response.status == 404
        code, out, _ = await _curl("-x", session.proxy, "http://lunge.ca/cert.pem")
        outcome = await session.finish()
    assert pem == session.ca.cert_pem.read_bytes() == out.encode()
    assert der == session.ca.cert_der.read_bytes() and der[:1] == b"\x30"  # DER: an ASN.1 SEQUENCE
    assert outcome.stats["recorded"] == 0 and session.baselines() == []


async def test_reverse_mode_forwards_to_the_backend_and_records(tmp_path):
    async with serve_target() as target, recording(tmp_path, reverse=target.url) as session:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"http://127.0.0.1:{session.port}/rev?id=3") as response:
                assert await response.text() == "ok GET /rev?id=3"
        await session.finish()
    (baseline,) = session.baselines()
    assert baseline.request.url == f"{target.url}/rev?id=3"
    assert baseline.request.headers.get("host") == f"127.0.0.1:{target.port}"


async def test_reverse_mode_to_an_https_backend(tmp_path):
    cert, key = make_certificate(tmp_path / "target")
    async with (serve_target(server_tls(cert, key)) as target,
                recording(tmp_path, reverse=target.url, upstream_ca=cert) as session):
        async with aiohttp.ClientSession() as client:
            async with client.post(f"http://127.0.0.1:{session.port}/login", data=b"user=a&pass=b") as response:
                assert await response.text() == "ok POST /login"
        await session.finish()
    (baseline,) = session.baselines()
    assert baseline.request.url == f"https://127.0.0.1:{target.port}/login"
    assert baseline.request.body == b"user=a&pass=b"


async def _ws_echo(client: aiohttp.ClientSession, url: str, proxy: str, tls: ssl.SSLContext | None = None) -> list[str]:
    async with client.ws_connect(url, proxy=proxy, ssl=tls if tls is not None else True) as socket_:
        answers = []
        for text in ("hello", "again"):
            await socket_.send_str(text)
            answers.append(await socket_.receive_str())
    return answers


async def test_websockets_pass_through_ws_and_wss(tmp_path):
    cert, key = make_certificate(tmp_path / "target")
    async with (serve_target() as plain, serve_target(server_tls(cert, key)) as secure,
                recording(tmp_path, upstream_ca=cert) as session):
        async with aiohttp.ClientSession() as client:
            # aiohttp sends "GET ws://..." to the proxy (no CONNECT): the case mitmproxy alone refuses.
            assert await _ws_echo(client, f"ws://127.0.0.1:{plain.port}/ws", session.proxy) == [
                "echo hello", "echo again"]
            # wss:// goes through CONNECT and TLS interception.
            assert await _ws_echo(client, f"wss://127.0.0.1:{secure.port}/ws", session.proxy,
                                  client_tls(session.ca.cert_pem)) == ["echo hello", "echo again"]
        outcome = await session.finish()
    assert outcome.stats["websockets"] == 2 and outcome.stats["recorded"] == 0


async def test_streamed_and_large_responses(tmp_path):
    async with serve_target() as target, recording(tmp_path, max_body=100, dedup=False) as session:
        async with aiohttp.ClientSession() as client:
            async with client.get(f"{target.url}/events", proxy=session.proxy) as response:
                events = await response.text()
            async with client.get(f"{target.url}/big?n=5000", proxy=session.proxy) as response:
                big = await response.read()
        await session.finish()
    assert events.count("data: event") == 3 and big == b"x" * 5000  # the client gets everything
    by_path = {b.request.path: b for b in session.baselines()}
    assert by_path["/big"].response is not None and by_path["/big"].response.body == b"x" * 100
    assert by_path["/big"].response_truncated
    assert by_path["/events"].response is not None
    assert by_path["/events"].response.body.startswith(b"data: event 0")


async def test_scope_and_dedup_end_to_end(tmp_path):
    async with serve_target() as target, recording(tmp_path, allowed_hosts="localhost",
                                                   exclude_extensions="png|css") as session:
        async with aiohttp.ClientSession() as client:
            urls = [
                f"http://localhost:{target.port}/items?id=1",
                f"http://localhost:{target.port}/items?id=2",  # duplicate: same parameter names
                f"http://localhost:{target.port}/items?id=2&sort=a",
                f"http://localhost:{target.port}/logo.PNG",  # excluded
                f"http://127.0.0.1:{target.port}/items?id=1",  # out of scope
            ]
            for url in urls:
                async with client.get(url, proxy=session.proxy) as response:
                    assert response.status == 200  # everything is proxied, recorded or not
        outcome = await session.finish()
    assert [b.request.target for b in session.baselines()] == ["/items?id=1", "/items?id=2&sort=a"]
    stats = outcome.stats
    assert (stats["recorded"], stats["duplicates"], stats["excluded"], stats["out_of_scope"]) == (2, 1, 1, 1)
    assert stats["hosts"]["localhost"] == {"recorded": 2, "duplicates": 1, "excluded": 1, "out_of_scope": 0,
                                           "tunnelled_connections": 0}
    assert stats["hosts"]["127.0.0.1"]["out_of_scope"] == 1


async def test_no_dedup_keeps_every_baseline(tmp_path):
    async with serve_target() as target, recording(tmp_path, dedup=False) as session:
        async with aiohttp.ClientSession() as client:
            for value in (1, 2, 3):
                async with client.get(f"{target.url}/items?id={value}", proxy=session.proxy) as response:
                    await response.read()
        outcome = await session.finish()
    assert outcome.stats["recorded"] == 3 and outcome.stats["duplicates"] == 0


async def test_port_in_use_is_a_setting_error_and_records_nothing(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SettingError) as error:
            async with recording(tmp_path, port=port):
                pass
    assert error.value.name == "PROXY_PORT" and str(port) in str(error.value)


async def test_concurrent_clients_are_all_recorded(tmp_path):
    async with serve_target() as target, recording(tmp_path, dedup=False) as session:
        async with aiohttp.ClientSession() as client:
            async def one(i: int) -> str:
                async with client.get(f"{target.url}/c{i}?n={i}", proxy=session.proxy) as response:
                    return await response.text()

            answers = await asyncio.gather(*(one(i) for i in range(60)))
        outcome = await session.finish()
    assert answers == [f"ok GET /c{i}?n={i}" for i in range(60)]
    assert sorted(b.request.target for b in session.baselines()) == sorted(f"/c{i}?n={i}" for i in range(60))
    assert [b.seq for b in session.baselines()] == list(range(1, 61))
    assert json.dumps(outcome.as_dict())  # the summary is JSON-able


async def test_https_with_a_supplied_ca(tmp_path):
    ca_cert, ca_key = make_certificate(tmp_path / "own-ca", ca=True, name="corp-ca")
    cert, key = make_certificate(tmp_path / "target")
    async with (serve_target(server_tls(cert, key)) as target,
                recording(tmp_path, ca_cert=str(ca_cert), ca_key=str(ca_key), upstream_verify=False) as session):
        async with aiohttp.ClientSession() as client:
            # The client trusts the user's CA only: interception must be signed with it.
            async with client.get(f"{target.url}/corp", proxy=session.proxy, ssl=client_tls(ca_cert)) as response:
                assert await response.text() == "ok GET /corp"
            async with client.get("http://lunge.ca/cert.pem", proxy=session.proxy) as response:
                assert await response.read() == ca_cert.read_bytes()
        outcome = await session.finish()
    assert outcome.stats["recorded"] == 1


async def test_tls_outside_allowed_hosts_is_tunnelled_not_intercepted(tmp_path):
    cert, key = make_certificate(tmp_path / "target")
    async with (serve_target(server_tls(cert, key)) as target,
                recording(tmp_path, allowed_hosts="localhost", upstream_ca=cert) as session):
        async with aiohttp.ClientSession() as client:
            # Out of scope: the client sees the target's own certificate (it trusts only that one).
            async with client.get(f"https://127.0.0.1:{target.port}/outside", proxy=session.proxy,
                                  ssl=client_tls(cert)) as response:
                assert await response.text() == "ok GET /outside"
            # In scope: intercepted, so the client must trust lunge's CA.
            async with client.get(f"https://localhost:{target.port}/inside", proxy=session.proxy,
                                  ssl=client_tls(session.ca.cert_pem)) as response:
                assert await response.text() == "ok GET /inside"
        outcome = await session.finish()
    assert [b.request.url for b in session.baselines()] == [f"https://localhost:{target.port}/inside"]
    assert outcome.stats["tunnelled_connections"] == 1
    assert outcome.stats["hosts"]["127.0.0.1"]["tunnelled_connections"] == 1


@pytest.mark.postgres
async def test_recording_into_postgresql(tmp_path, pg_url):
    async with serve_target() as target, recording(tmp_path, store_url=pg_url, build_id="pg1") as session:
        async with aiohttp.ClientSession() as client:
            for i in range(3):
                async with client.post(f"{target.url}/pg/{i}", data=b"a=1", proxy=session.proxy) as response:
                    assert response.status == 200
        outcome = await session.finish()
    assert outcome.record.baseline_count == 3 and outcome.record.build_id == "pg1"
    assert [b.request.body for b in session.baselines()] == [b"a=1"] * 3
