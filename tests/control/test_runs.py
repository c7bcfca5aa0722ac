"""Test runs: ordering one, state and counters, pause / resume / interrupt, findings, reports."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from lunge.control.context import Control
from lunge.control.services import overview
from lunge.report import FORMATS
from lunge.store.models import RunState
from tests.control.conftest import seed_record, seed_run_with_finding, tenant


def test_a_run_is_ordered_with_fast_fields(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, build_id="b42")
    policy = client.post("/v1/test_policy", json={"policy": "name: quick\nchecks: [sqli]\n"},
                         headers=team.headers).json()
    body = {"name": "nightly", "desc": "from CI", "policy_id": policy["id"], "test_record_id": record.id,
            "BUILD_ID": "b42", "rps": 50, "stop_on_first_fail": True}
    created = client.post("/v1/test_run", json=body, headers=team.headers)
    assert created.status_code == 201, created.text
    run = created.json()
    assert (run["state"], run["record_id"], run["policy"], run["build_id"]) == ("created", record.id, "quick", "b42")
    assert run["description"] == "from CI" and run["baselines_total"] == record.baseline_count
    assert run["stats"]["order"] == {"policy_id": policy["id"], "rps": 50, "stop_on_first_fail": True,
                                     "compare_to": None, "compared": False}
    assert run["allowed_actions"] == ["interrupt"] and run["exit_code"] is None
    assert run["findings_by_severity"]["high"] == 0


def test_record_latest_takes_the_latest_of_its_build(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    latest = {"name": "x", "record": "latest"}
    assert client.post("/v1/test_run", json=latest, headers=team.headers).status_code == 409
    wanted = seed_record(control, team.project_id, build_id="b1")
    seed_record(control, team.project_id, build_id="b2")
    run = client.post("/v1/test_run", json={**latest, "BUILD_ID": "b1"}, headers=team.headers).json()
    assert run["record_id"] == wanted.id and run["recording"] is False
    recording = seed_record(control, team.project_id, close=False)
    refused = client.post("/v1/test_run", json={"name": "x", "record": recording.id}, headers=team.headers)
    assert refused.status_code == 409 and "still recording" in refused.json()["detail"]


def test_pause_resume_interrupt_follow_the_state_machine(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    run = client.post("/v1/test_run", json={"name": "x", "record": record.id}, headers=team.headers).json()
    url = f"/v1/test_run/{run['id']}/action"
    assert client.post(f"{url}/pause", headers=team.headers).status_code == 409  # created: not running yet
    control.store.update_run(run["id"], state="running")  # a node took it
    assert client.post(f"{url}/pause", headers=team.headers).json()["state"] == "paused"
    assert client.post(f"{url}/resume", headers=team.headers).json()["allowed_actions"] == ["pause", "interrupt"]
    done = client.post(f"{url}/interrupt", headers=team.headers).json()
    assert (done["state"], done["exit_code"], done["finished_at"] is not None) == ("interrupted", 1, True)
    again = client.post(f"{url}/resume", headers=team.headers)
    assert again.status_code == 409 and "interrupted" in again.json()["detail"]
    assert client.post(f"{url}/explode", headers=team.headers).status_code == 422


def test_findings_with_evidence(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    run = seed_run_with_finding(control, team.project_id, seed_record(control, team.project_id))
    view = client.get(f"/v1/test_run/{run.id}", headers=team.headers).json()
    assert (view["state"], view["exit_code"], view["findings_by_severity"]["high"]) == ("failed", 1, 1)
    [finding] = client.get(f"/v1/test_run/{run.id}/findings", headers=team.headers).json()["objects"]
    assert finding["evidence"]["proof"] == "SQL syntax" and finding["run_id"] == run.id
    read = client.get(f"/v1/findings/{finding['id']}", headers=team.headers).json()
    assert read["evidence"]["attack_request"].startswith("GET /items/0?q=")


@pytest.mark.parametrize("fmt", FORMATS)
def test_reports_download_in_every_format(client: TestClient, control: Control, fmt: str) -> None:
    team = tenant(control, "team")
    run = seed_run_with_finding(control, team.project_id, seed_record(control, team.project_id))
    answer = client.get(f"/v1/test_run/{run.id}/report/{fmt}", headers=team.headers)
    assert answer.status_code == 200, answer.text
    assert "SQL injection" in answer.text or "sqli" in answer.text
    if fmt in ("json", "sarif"):
        json.loads(answer.text)
    assert client.get(f"/v1/test_run/{run.id}/report/pdf", headers=team.headers).status_code == 422


def test_a_run_is_copied_with_another_policy(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, build_id="b3")
    policy = client.post("/v1/test_policy", json={"policy": "name: quick\nchecks: [sqli]\n"},
                         headers=team.headers).json()
    first = client.post("/v1/test_run", json={"name": "n", "record": record.id, "policy": policy["id"], "rps": 9},
                        headers=team.headers).json()
    same = client.post(f"/v1/test_run/{first['id']}/copy", json={}, headers=team.headers).json()
    assert (same["name"], same["policy"], same["record_id"], same["build_id"]) == ("n (copy)", "quick", record.id, "b3")
    assert same["stats"]["order"]["rps"] == 9 and same["state"] == "created"
    other = client.post(f"/v1/test_run/{first['id']}/copy", json={"name": "full", "policy": "full"},
                        headers=team.headers).json()
    assert (other["name"], other["policy"]) == ("full", "full")


def test_a_copy_is_compared_with_the_copied_runs_choice(client: TestClient, control: Control) -> None:
    """fail_on: new: a copy judges its findings against the run the copied one was compared with
    (not whichever run finished last meanwhile), unless the copy names another."""
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    earlier = seed_run_with_finding(control, team.project_id, record)
    control.store.update_run(earlier.id, state=RunState.FAILED)
    new_only = client.post("/v1/test_policy", json={"policy": "name: new-only\nchecks: [sqli]\nfail_on: new\n"},
                           headers=team.headers).json()
    first = client.post("/v1/test_run", json={"name": "n", "record": record.id, "policy": new_only["id"]},
                        headers=team.headers).json()
    assert first["stats"]["order"]["compare_to"] == earlier.id
    later = seed_run_with_finding(control, team.project_id, record)  # finished after the order: latest now
    control.store.update_run(later.id, state=RunState.PASSED)
    same = client.post(f"/v1/test_run/{first['id']}/copy", json={}, headers=team.headers).json()
    assert same["stats"]["order"]["compare_to"] == earlier.id
    pinned = client.post(f"/v1/test_run/{first['id']}/copy", json={"compare_to": "latest"}, headers=team.headers)
    assert pinned.status_code == 201 and pinned.json()["stats"]["order"]["compare_to"] == later.id
    named = client.post(f"/v1/test_run/{first['id']}/copy", json={"compare_to": f"run_{later.id}"},
                        headers=team.headers)
    assert named.json()["stats"]["order"]["compare_to"] == later.id
    bad = client.post(f"/v1/test_run/{first['id']}/copy", json={"compare_to": "yesterday"}, headers=team.headers)
    assert bad.status_code == 422


def test_a_copy_of_a_first_build_is_compared_with_no_run_either(client: TestClient, control: Control) -> None:
    """A fail_on: new run ordered before any run finished was compared with nothing (every
    finding new): its copy is too, not with a run that finished since (the copied run itself)."""
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    new_only = client.post("/v1/test_policy", json={"policy": "name: new-only\nchecks: [sqli]\nfail_on: new\n"},
                           headers=team.headers).json()
    first = client.post("/v1/test_run", json={"name": "n", "record": record.id, "policy": new_only["id"]},
                        headers=team.headers).json()
    assert first["stats"]["order"]["compare_to"] is None
    control.store.update_run(first["id"], state=RunState.FAILED)  # finished: the project's latest now
    same = client.post(f"/v1/test_run/{first['id']}/copy", json={}, headers=team.headers).json()
    assert same["stats"]["order"]["compare_to"] is None
    fresh = client.post("/v1/test_run", json={"name": "m", "record": record.id, "policy": new_only["id"],
                                             "compare_to": "none"}, headers=team.headers)
    assert fresh.status_code == 201 and fresh.json()["stats"]["order"]["compare_to"] is None
    assert overview.compared_with(control, team.project_id, control.store.get_run(fresh.json()["id"])) is None
    # A run ordered with no comparison at all: its copy under fail_on: new compares with the latest.
    plain = client.post("/v1/test_run", json={"name": "p", "record": record.id}, headers=team.headers).json()
    copied = client.post(f"/v1/test_run/{plain['id']}/copy", json={"policy": new_only["id"]},
                         headers=team.headers).json()
    assert copied["stats"]["order"]["compare_to"] == first["id"]


def test_test_sets_are_paged(client: TestClient, control: Control) -> None:
    from lunge.store.models import TestSet, TestSetStatus

    team = tenant(control, "team")
    record = seed_record(control, team.project_id, count=4)
    run = seed_run_with_finding(control, team.project_id, record)
    ids = [b.id for b in control.store.iter_baselines(record.id)]
    control.store.add_test_sets([TestSet(run.id, i, TestSetStatus.PASSED, requests_sent=3) for i in ids])
    seen, after = [], 0
    while after is not None:
        page = client.get(f"/v1/test_run/{run.id}/test_sets", params={"after_baseline": after, "limit": 2},
                          headers=team.headers).json()
        seen += [t["baseline_id"] for t in page["objects"]]
        after = page["next_after_baseline"]
    assert seen == ids and len(ids) == 5


def test_a_running_run_shows_live_counters_rate_and_eta(client: TestClient, control: Control) -> None:
    """While a run goes, its test sets are stored as it goes and its row is not: the API's counters
    come from them, with FAST's current_rps (requests over the last reads), avg_rps and ETA."""
    from datetime import UTC, datetime, timedelta

    from lunge.store.models import TestSet, TestSetStatus

    team = tenant(control, "team")
    record = seed_record(control, team.project_id, count=4)
    run = client.post("/v1/test_run", json={"name": "x", "record": record.id}, headers=team.headers).json()
    control.store.update_run(run["id"], state="running", started_at=datetime.now(UTC) - timedelta(seconds=10))
    now = [100.0]
    control.rates._clock = lambda: now[0]  # the samples' clock, moved by hand
    baselines = [b.id for b in control.store.iter_baselines(record.id)]

    def tested(ids: list[int], status: TestSetStatus = TestSetStatus.PASSED) -> None:
        control.store.add_test_sets([TestSet(run_id=run["id"], baseline_id=i, status=status, reason="",
                                             requests_sent=50, findings_count=0, points_tested=2) for i in ids])

    def read() -> dict[str, object]:
        answer: dict[str, object] = client.get(f"/v1/test_run/{run['id']}", headers=team.headers).json()
        return answer

    first = read()
    assert (first["baselines_tested"], first["requests_sent"], first["current_rps"]) == (0, 0, None)
    tested(baselines[:1])
    now[0] += 5
    second = read()
    left = first["baselines_total"] - 1
    assert (second["baselines_tested"], second["baselines_remaining"], second["requests_sent"]) == (1, left, 50)
    assert second["current_rps"] == 10.0  # 50 requests in the 5 s between the reads
    assert second["estimated_time_to_completion"] == round(50 * left / 10)  # 50 a baseline, at 10/s
    assert second["avg_rps"] is not None and 3 < second["avg_rps"] < 6  # 50 requests over about 10 s
    tested(baselines[1:2], TestSetStatus.NOT_TESTED)
    now[0] += 20  # a sparse poll: the rate is over the time since the previous read
    third = read()
    assert (third["baselines_tested"], third["baselines_not_tested"], third["requests_sent"]) == (1, 1, 100)
    assert third["current_rps"] == 2.5
    control.store.update_run(run["id"], state="paused")
    paused = read()
    assert (paused["current_rps"], paused["estimated_time_to_completion"]) == (None, None)
