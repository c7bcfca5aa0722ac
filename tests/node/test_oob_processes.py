"""The out-of-band listener in a run with ``PROCESSES=2``: the parent listens, each partition gets
its own token prefix and its callbacks; an immediate and a late (blind) callback each become one
finding with the callback as evidence, and the allow-listed twin stays silent."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from lunge.cli import main
from lunge.http import Request, Response
from lunge.store import open_store
from lunge.store.models import NewBaseline
from tests.fixtures.servers import QuietHandler, reply, threaded_server


def _get(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != "127.0.0.1":
        return ""  # loopback only, whatever the payload
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (http on loopback only)
            return str(answer.read().decode("utf-8", "replace"))
    except OSError:
        return ""


class _Fetcher(QuietHandler):
    """``/preview`` fetches ``url`` and shows it; ``/hook`` answers, then fetches it 0.3 s later
    (blind); ``/safe`` fetches only its own origin; ``/ping`` answers pong."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        url = parse_qs(parts.query).get("url", [""])[0]
        if parts.path == "/preview":
            text = f"<pre>{_get(url)}</pre>"
        elif parts.path == "/hook":
            threading.Timer(0.3, _get, (url,)).start()
            text = "queued"
        elif parts.path == "/safe":
            own = f"http://{self.headers.get('host')}/"
            text = f"<pre>{_get(url) if url.startswith(own) else 'refused'}</pre>"
        else:
            text = "pong"
        reply(self, text.encode())


@pytest.fixture
def target() -> Iterator[str]:
    with threaded_server(_Fetcher) as origin:
        yield origin


def test_blind_callbacks_are_found_once_with_two_processes(tmp_path: Path, target: str, monkeypatch) -> None:
    db = f"sqlite:///{tmp_path / 'lunge.db'}"
    store = open_store(db)
    # seq 1 and 3 are partition 1's, seq 2 and 4 partition 0's: both send tokens
    paths = [f"/preview?url={target}/ping", f"/hook?url={target}/ping", f"/safe?url={target}/ping", "/ping"]
    try:
        record = store.create_record("rec")
        recorded = Response.parse(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<pre>pong</pre>")
        store.add_baselines([NewBaseline(record.id, Request.from_url(target + p), recorded) for p in paths])
        store.close_record(record.id)
    finally:
        store.close()
    (tmp_path / "policy.yaml").write_text("name: oob\nchecks: [ssrf]\npassive: false\n")
    monkeypatch.setenv("LUNGE_OOB_DNS_PORT", "off")
    monkeypatch.setenv("LUNGE_OOB_GRACE", "3")
    started = time.monotonic()
    code = main(["test", "--db", db, "--record", "1", "--processes", "2", "--policy", str(tmp_path / "policy.yaml"),
                 "--data-dir", str(tmp_path / "data"), "--report-dir", str(tmp_path / "reports"),
                 "--report-formats", "json"])
    document = json.loads(next((tmp_path / "reports").iterdir()).read_text())
    assert code == 1 and document["run"]["state"] == "failed", document["run"]
    findings = [f for f in document["findings"] if f["check_id"] == "ssrf"]
    by_path = {}
    for finding in findings:
        by_path.setdefault(urlsplit(finding["url"]).path, []).append(finding)
    assert sorted(by_path) == ["/hook", "/preview"] and all(len(v) == 1 for v in by_path.values()), by_path
    late = by_path["/hook"][0]
    assert late["details"]["deferred"] is True and late["details"]["oob"]["protocol"] == "http"
    evidence = late["evidence"]
    assert evidence["proof"].startswith("GET /") and late["details"]["oob"]["request"].startswith(evidence["proof"])
    assert late["payload"] in evidence["attack_request"] and late["confirmation"]
    stats = document["run"]["stats"]["oob"]
    assert stats["enabled"] is True and "reason" not in stats
    assert stats["deferred_confirmed"] >= 1 and stats["tokens_sent"] > 0 and stats["http_callbacks"] >= 2
    assert time.monotonic() - started < 60
