"""``fail_on: new`` in API mode: the control plane chooses the run compared with when the run is
ordered (``compare_to``, ``latest`` by default under ``fail_on: new``: CI mode's rule, within the
project), keeps it in the run's order, and the node (a run tested whole on SQLite, in shards on
PostgreSQL) judges the findings against it. Another project's runs are never compared with."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from lunge.cli import main
from lunge.control.config import ControlConfig
from lunge.control.context import open_control
from lunge.http import Request, Response
from lunge.node.apimode import run_api_node
from lunge.store.models import NewBaseline
from tests.fixtures.servers import REFLECTED_PAGE, ReflectingHandler, threaded_server

POLICY = "name: new-only\nchecks: [xss-reflected]\npassive: false\nfail_on: new\n"


@pytest.fixture
def target() -> Iterator[str]:
    with threaded_server(ReflectingHandler) as origin:
        yield origin


class _Project:
    """A project of the control plane at ``server``: its token, a record of ``paths`` on ``origin``,
    its stored fail_on: new policy."""

    def __init__(self, server: str, db_url: str, name: str, origin: str, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["token", "create", "--project", name, "--db", db_url, "--json"]) == 0
        issued = json.loads(capsys.readouterr().out)
        self.server, self.db_url, self.token = server, db_url, issued["token"]
        control = open_control(ControlConfig(db_url=db_url))
        try:  # what a recording node of the project would have stored
            record = control.store.create_record(name, build_id="7")
            control.store.add_baselines([NewBaseline(record.id, Request.from_url(f"{origin}/a?q=hello"),
                                                     Response.parse(REFLECTED_PAGE))])
            control.store.close_record(record.id)
            control.projects.assign_record(record.id, issued["project_id"])
            self.record_id = record.id
        finally:
            control.close()
        self.policy_id = self.call("POST", "/v1/test_policy", {"policy": POLICY})["id"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(f"{self.server}{path}", method=method,
                                         data=None if body is None else json.dumps(body).encode(),
                                         headers={"Authorization": f"Bearer {self.token}",
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.load(answer)

    def order(self, **extra: Any) -> dict[str, Any]:
        return self.call("POST", "/v1/test_run", {"name": "build", "record": self.record_id,
                                                  "policy": self.policy_id, **extra})

    def test(self, run: dict[str, Any]) -> dict[str, Any]:
        """Let a node of the project test the run ordered; the run as the API shows it then."""
        code = run_api_node({"api_url": self.server, "token": self.token, "db": self.db_url}, once=True)
        done = self.call("GET", f"/v1/test_run/{run['id']}")
        assert code == (0 if done["state"] == "passed" else 1), done
        return done

    def refused(self, body: dict[str, Any]) -> tuple[int, str]:
        try:
            self.order(**body)
        except urllib.error.HTTPError as answer:
            return answer.code, json.load(answer)["detail"]
        raise AssertionError(f"ordered: {body}")


@pytest.mark.slow
def test_fail_on_new_compares_with_the_projects_earlier_run(server: str, db_url: str, target: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    shop = _Project(server, db_url, "shop", target, capsys)
    first = shop.order()
    assert first["stats"]["order"]["compare_to"] is None  # the project's first build: every finding is new
    first = shop.test(first)
    assert (first["state"], first["findings_count"]) == ("failed", 1)

    second = shop.order()  # latest by default under fail_on: new: the first run
    assert second["stats"]["order"]["compare_to"] == first["id"]
    second = shop.test(second)
    assert (second["state"], second["findings_count"]) == ("passed", 1)  # the same finding: nothing new
    assert second["stats"]["fail_on_new"] == {"compared_with": first["label"], "new_failing_findings": 0}
    report = shop.call("GET", f"/v1/test_run/{second['id']}/report/json")
    assert report["comparison"]["new"] == 0 and report["comparison"]["still_present"] == 1

    assert main(["runs", "create", "--name", "pinned", "--record", str(shop.record_id), "--policy",
                 str(shop.policy_id), "--compare-to", first["label"], "--api-url", server, "--token", shop.token,
                 "--json"]) == 0
    explicit = json.loads(capsys.readouterr().out)
    assert explicit["stats"]["order"]["compare_to"] == first["id"]
    assert shop.test(explicit)["state"] == "passed"

    other = _Project(server, db_url, "other", target, capsys)
    assert other.refused({"compare_to": first["id"]}) == (
        404, f"compare_to: no test run {first['id']} in this project to compare with")
    assert other.refused({"compare_to": "run_9999"})[0] == 404
    assert other.refused({"compare_to": "yesterday"})[0] == 422
    theirs = other.order()  # the same finding, but the first project's runs are not this one's
    assert theirs["stats"]["order"]["compare_to"] is None
    theirs = other.test(theirs)
    assert (theirs["state"], theirs["findings_count"]) == ("failed", 1)
