"""Test runs and test sets on both backends."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from lunge.errors import NotFoundError
from lunge.store import Store
from lunge.store.models import RunState, TestRun, TestSet, TestSetStatus
from tests.store.factories import baseline


def _record_with_baselines(store: Store, count: int = 3) -> tuple[int, list[int]]:
    record = store.create_record("r", build_id="5")
    store.add_baselines([baseline(record.id, n) for n in range(count)])
    return record.id, [b.id for b in store.iter_baselines(record.id)]


def _run(store: Store, record_id: int, **kwargs: object) -> TestRun:
    return store.create_run(name="TestRun 1", record_id=record_id, policy_name="default", **kwargs)  # type: ignore[arg-type]


def test_create_run_starts_created(store: Store) -> None:
    record_id, _ = _record_with_baselines(store)
    run = _run(store, record_id, description="nightly", build_id="5", target="http://staging:8080")
    assert run.state is RunState.CREATED and run.label == f"run_{run.id:04d}"
    assert (run.name, run.description, run.record_id, run.policy_name) == ("TestRun 1", "nightly", record_id, "default")
    assert (run.build_id, run.target, run.started_at, run.finished_at, run.error) == (
        "5", "http://staging:8080", None, None, None)
    assert (run.requests_sent, run.findings_count, run.stats) == (0, 0, {})
    assert store.get_run(run.id) == run


def test_create_run_for_an_unknown_record_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="record 404"):
        _run(store, 404)


def test_update_run_changes_state_counters_and_times(store: Store) -> None:
    record_id, _ = _record_with_baselines(store)
    run = _run(store, record_id)
    started = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    running = store.update_run(run.id, state=RunState.RUNNING, started_at=started, baselines_total=3)
    assert (running.state, running.started_at, running.baselines_total) == (RunState.RUNNING, started, 3)
    done = store.update_run(run.id, state="failed", requests_sent=120, baselines_tested=2, baselines_not_tested=1,
                            findings_count=4, finished_at=started, error="2 vulnerabilities")
    assert done.state is RunState.FAILED and done.state.finished
    assert (done.requests_sent, done.baselines_tested, done.baselines_not_tested, done.findings_count) == (120, 2, 1, 4)
    assert done.error == "2 vulnerabilities" and done.started_at == started
    assert store.get_run(run.id) == done
    assert store.update_run(run.id) == done  # nothing to change


def test_update_run_merges_stats(store: Store) -> None:
    record_id, _ = _record_with_baselines(store)
    run = _run(store, record_id)
    store.update_run(run.id, stats={"coverage": 0.5, "points": {"GET": 3}})
    merged = store.update_run(run.id, stats={"coverage": 0.9, "timings": [1, 2]}, requests_sent=5)
    assert merged.stats == {"coverage": 0.9, "points": {"GET": 3}, "timings": [1, 2]}
    assert merged.requests_sent == 5
    assert store.get_run(run.id).stats == merged.stats


def test_concurrent_stats_updates_lose_no_key(store: Store, second_store: Store) -> None:
    record_id, _ = _record_with_baselines(store)
    run = _run(store, record_id)

    def update(target: Store, prefix: str) -> None:
        for n in range(15):
            target.update_run(run.id, stats={f"{prefix}{n}": n})

    threads = [threading.Thread(target=update, args=(s, p)) for s, p in ((store, "a"), (second_store, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store.get_run(run.id).stats) == 30


def test_update_run_refuses_bad_changes(store: Store) -> None:
    record_id, _ = _record_with_baselines(store)
    run = _run(store, record_id)
    with pytest.raises(NotFoundError):
        store.update_run(run.id + 100, state=RunState.RUNNING)
    with pytest.raises(NotFoundError):
        store.update_run(run.id + 100, stats={"a": 1})
    with pytest.raises(TypeError, match="colour"):
        store.update_run(run.id, colour="red")
    with pytest.raises(ValueError, match="sleeping"):
        store.update_run(run.id, state="sleeping")
    assert store.get_run(run.id) == run


def test_get_run_unknown_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="run 77"):
        store.get_run(77)


def test_latest_and_list_runs(store: Store) -> None:
    assert store.latest_run() is None and store.list_runs() == []
    record_id, _ = _record_with_baselines(store)
    first = _run(store, record_id, build_id="5")
    second = _run(store, record_id, build_id="6")
    third = _run(store, record_id, build_id="5")
    store.update_run(second.id, state=RunState.RUNNING)
    latest = store.latest_run()
    assert latest is not None and latest.id == third.id
    latest5 = store.latest_run("5")
    assert latest5 is not None and latest5.id == third.id
    latest6 = store.latest_run("6")
    assert latest6 is not None and latest6.id == second.id
    assert store.latest_run("7") is None
    assert [r.id for r in store.list_runs()] == [third.id, second.id, first.id]
    assert [r.id for r in store.list_runs(limit=1)] == [third.id]
    assert [r.id for r in store.list_runs(state=RunState.RUNNING)] == [second.id]
    assert [r.id for r in store.list_runs(state=RunState.CREATED)] == [third.id, first.id]


def test_test_sets_are_stored_and_replaced_by_run_and_baseline(store: Store) -> None:
    record_id, baseline_ids = _record_with_baselines(store, 3)
    run, other = _run(store, record_id), _run(store, record_id)
    b1, b2, b3 = baseline_ids
    store.add_test_sets([
        TestSet(run.id, b2, TestSetStatus.PASSED, requests_sent=10, points_tested=4),
        TestSet(run.id, b1, TestSetStatus.INTERRUPTED),
        TestSet(other.id, b1, TestSetStatus.ERROR, reason="timeout"),
    ])
    store.add_test_sets([
        TestSet(run.id, b1, TestSetStatus.FAILED, requests_sent=30, findings_count=2, points_tested=5),
        TestSet(run.id, b3, TestSetStatus.NOT_TESTED, reason="replay failed: 502"),
        TestSet(run.id, b3, TestSetStatus.NOT_TESTED, reason="nothing in the policy applied"),  # last wins
    ])
    assert list(store.iter_test_sets(run.id)) == [
        TestSet(run.id, b1, TestSetStatus.FAILED, requests_sent=30, findings_count=2, points_tested=5),
        TestSet(run.id, b2, TestSetStatus.PASSED, requests_sent=10, points_tested=4),
        TestSet(run.id, b3, TestSetStatus.NOT_TESTED, reason="nothing in the policy applied"),
    ]
    assert list(store.iter_test_sets(other.id)) == [TestSet(other.id, b1, TestSetStatus.ERROR, reason="timeout")]
    assert list(store.iter_test_sets(run.id + 50)) == []
    store.add_test_sets([])


def test_test_sets_stream_past_one_page(store: Store) -> None:
    record_id, baseline_ids = _record_with_baselines(store, 1100)
    run = _run(store, record_id)
    store.add_test_sets([TestSet(run.id, b, TestSetStatus.PASSED) for b in baseline_ids])
    assert [t.baseline_id for t in store.iter_test_sets(run.id)] == baseline_ids
