"""Safe by default: an empty variable is the default (never "off"), the store is private to its
owner, query-string secrets are masked by ``lunge records show`` as in reports and logs, and a
proxy reachable from other machines is announced as the open proxy it is."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from lunge.cli import main
from lunge.http import Request, Response
from lunge.logs import mask_secrets
from lunge.node import recording, settings
from lunge.store import open_store
from lunge.store.models import NewBaseline

VARIABLES = ("BUILD_ID", "TEST_RECORD_NAME", "PROXY_PORT", "LUNGE_PROXY_BIND", "ALLOWED_HOSTS",
             "FILE_EXTENSIONS_TO_EXCLUDE", "INACTIVITY_TIMEOUT", "LUNGE_CA_CERT", "CA_CERT", "LUNGE_CA_KEY", "CA_KEY",
             "LUNGE_REVERSE", "REVERSE_PROXY", "BACKEND", "LUNGE_UPSTREAM_VERIFY", "LUNGE_DEDUP", "LUNGE_MAX_BODY",
             "TEST_RECORD_ID", "TEST_RUN_NAME", "TEST_RUN_DESC", "TEST_RUN_POLICY_ID", "TEST_RUN_URI", "TEST_RUN_RPS",
             "WORKERS", "PROCESSES", "TEST_RUN_STOP_ON_FIRST_FAIL", "REPORT_FORMATS", "LUNGE_VERIFY_TLS")


@pytest.mark.parametrize("blank", ["", "  "])
def test_an_empty_variable_means_the_default(blank: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default report directory is ./reports
    assert settings.recording_settings(environ={"LUNGE_UPSTREAM_VERIFY": blank}).upstream_verify is True
    empty = dict.fromkeys(VARIABLES, blank)

    def comparable(value: object) -> dict[str, object]:
        fields = {name: getattr(value, name) for name in value.__slots__}  # type: ignore[attr-defined]
        return {k: v for k, v in fields.items() if k not in ("record_name", "run_name")}  # dated defaults

    assert comparable(settings.recording_settings(environ=empty)) == comparable(settings.recording_settings(environ={}))
    assert comparable(settings.testing_settings(environ=empty)) == comparable(settings.testing_settings(environ={}))
    where = settings.store_settings(environ={"LUNGE_DATA_DIR": str(tmp_path / "d"), "LUNGE_DB": blank})
    assert where.url == f"sqlite:///{tmp_path / 'd' / 'lunge.db'}"


def test_the_data_directory_and_the_store_are_private(tmp_path: Path) -> None:
    where = settings.store_settings(environ={"LUNGE_DATA_DIR": str(tmp_path / "data")})
    store = open_store(where.url)
    try:
        store.create_record("r")
    finally:
        store.close()
    assert stat.S_IMODE(where.data_dir.stat().st_mode) == 0o700
    files = list(where.data_dir.glob("lunge.db*"))
    assert files and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files), files
    elsewhere = tmp_path / "other" / "deep" / "store.db"  # LUNGE_DB outside the data directory
    open_store(f"sqlite:///{elsewhere}").close()
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o600 and stat.S_IMODE(elsewhere.parent.stat().st_mode) == 0o700


def test_records_show_masks_query_string_secrets_as_reports_and_logs_do(tmp_path: Path, capsys) -> None:
    url = "http://app.test/items?api_key=K3Y-123456&access_token=T0K-654321&q=visible"
    db = f"sqlite:///{tmp_path / 'lunge.db'}"
    store = open_store(db)
    try:
        record = store.create_record("keys")
        store.add_baselines([NewBaseline(record.id, Request.from_url(url), Response(200, "OK", body=b"x"))])
    finally:
        store.close()
    assert main(["records", "show", "1", "--json", "--db", db]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["baselines"][0]["url"] == mask_secrets(url)  # the one masking function
    assert main(["records", "show", "1", "--db", db]) == 0
    table = capsys.readouterr().out
    for shown in (json.dumps(document), table):
        assert "K3Y-123456" not in shown and "T0K-654321" not in shown and "q=visible" in shown


@pytest.mark.parametrize(("bind", "open_proxy"), [("127.0.0.1", False), ("::1", False), ("localhost", False),
                                                  ("127.0.0.2", False), ("0.0.0.0", True), ("::", True),
                                                  ("10.1.2.3", True), ("", True), ("proxy.internal", True)])
def test_a_proxy_bound_beyond_loopback_is_announced_as_an_open_proxy(bind: str, open_proxy: bool,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    chosen = settings.recording_settings({"bind": bind}, environ={})
    record = SimpleNamespace(label="rec_0001", name="r")
    ca = SimpleNamespace(cert_pem="ca.pem")
    with caplog.at_level(logging.WARNING, logger="lunge"):
        recording._announce(chosen, record, ca, 8080)  # type: ignore[arg-type]
    warned = [r.getMessage() for r in caplog.records if "open proxy" in r.getMessage()]
    assert bool(warned) is open_proxy
