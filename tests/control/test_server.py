"""End to end on a real socket: ``lunge serve`` (uvicorn) in its own process on 127.0.0.1, tokens
from ``lunge token create``, and a pipeline's ``lunge runs create|show|list|wait`` against it."""

from __future__ import annotations

import json
import urllib.request

import pytest

from lunge.cli import main
from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.store.models import RunState
from lunge.store.sql.migrate import head_revision
from tests.control.conftest import seed_record


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, object]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


@pytest.mark.slow
def test_a_pipeline_orders_and_waits_for_runs(server: str, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, issued = _json(capsys, ["token", "create", "--project", "shop", "--db", db_url, "--json"])
    assert code == 0 and isinstance(issued, dict)
    api = ["--api-url", server, "--token", issued["token"]]
    control = open_control(ControlConfig(db_url=db_url))
    try:
        record = seed_record(control, issued["project_id"], build_id="b7")
        code, run = _json(capsys, ["runs", "create", "--name", "e2e", "--build-id", "b7", "--rps", "20",
                                   "--record", "latest", *api, "--json"])
        assert code == 0 and isinstance(run, dict) and (run["state"], run["record_id"]) == ("created", record.id)
        code, shown = _json(capsys, ["runs", "show", run["label"], *api, "--json"])
        assert isinstance(shown, dict) and shown["stats"]["order"]["rps"] == 20
        code, listed = _json(capsys, ["runs", "list", *api, "--json"])
        assert isinstance(listed, list) and [r["id"] for r in listed] == [run["id"]]
        control.store.update_run(run["id"], state=RunState.PASSED)  # what a node does when it is done
        assert main(["runs", "wait", str(run["id"]), "--interval", "0.05", *api]) == 0
        assert "passed" in capsys.readouterr().out
        code, second = _json(capsys, ["runs", "create", "--name", "again", "--record", record.label, *api, "--json"])
        assert isinstance(second, dict)
        request = urllib.request.Request(f"{server}/v1/test_run/{second['id']}/action/interrupt", method="POST",
                                         headers={"Authorization": f"Bearer {issued['token']}"})
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert json.load(answer)["state"] == "interrupted"
        assert main(["runs", "wait", second["label"], "--interval", "0.05", *api]) == 1
    finally:
        control.close()
    capsys.readouterr()
    assert main(["runs", "show", "1", "--api-url", server, "--token", "lunge_" + "z" * 43]) == 2  # refused token
    assert "401" in capsys.readouterr().err


def test_runs_commands_need_the_control_plane(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LUNGE_API_URL", "WALLARM_API_HOST", "LUNGE_API_TOKEN", "WALLARM_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["runs", "show", "1"]) == 2
    assert "LUNGE_API_URL" in capsys.readouterr().err
    monkeypatch.setenv("WALLARM_API_HOST", "127.0.0.1:1")  # FAST's names work; nobody listens there
    monkeypatch.setenv("WALLARM_API_TOKEN", "lunge_" + "q" * 43)
    assert main(["runs", "show", "1"]) == 1
    assert "unreachable" in capsys.readouterr().err


def test_db_upgrade(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, document = _json(capsys, ["db", "upgrade", "--db", db_url, "--json"])
    assert code == 0 and isinstance(document, dict) and document["revision"] == head_revision()


def test_lunge_runs_alone_still_lists_the_local_store(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'local.db'}"
    control = open_control(ControlConfig(db_url=url))
    try:
        record = seed_record(control, None)
        run = control.store.create_run(name="local", record_id=record.id, policy_name="default")
    finally:
        control.close()
    code, listed = _json(capsys, ["runs", "--db", url, "--json"])
    assert code == 0 and isinstance(listed, list) and [r["label"] for r in listed] == [run.label]
