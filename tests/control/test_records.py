"""Test records: list, read, baselines paged with secrets masked, stop recording."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lunge.control.context import Control
from tests.control.conftest import seed_record, tenant


def test_records_are_listed_read_and_paged(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, count=5)
    seed_record(control, None)  # a local record: no token reaches it
    listed = client.get("/v1/test_record", headers=team.headers).json()["objects"]
    assert [r["id"] for r in listed] == [record.id]
    assert client.get(f"/v1/test_record/{record.id}", headers=team.headers).json()["baseline_count"] == 6
    seqs, after = [], 0
    while True:
        page = client.get(f"/v1/test_record/{record.id}/baselines", params={"after_seq": after, "limit": 4},
                          headers=team.headers).json()
        seqs += [b["seq"] for b in page["objects"]]
        if page["next_after_seq"] is None:
            break
        after = page["next_after_seq"]
    assert seqs == [1, 2, 3, 4, 5, 6]


def test_secrets_in_baselines_are_masked(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, count=1)
    text = client.get(f"/v1/test_record/{record.id}/baselines", headers=team.headers).text
    assert "hunter2" not in text and "s3cr3t-value" not in text
    assert "password=****" in text


def test_stop_recording(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, close=False)
    assert record.state.value == "recording"
    stopped = client.post(f"/v1/test_record/{record.id}/action/stop", headers=team.headers).json()
    assert stopped["state"] == "closed"
