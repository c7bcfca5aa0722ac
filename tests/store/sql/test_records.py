"""Test records and baselines on both backends."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from lunge.errors import NotFoundError
from lunge.store import Store
from lunge.store.models import NewBaseline, RecordState
from tests.store.factories import baseline, request, response, target_number


def test_create_record_starts_recording(store: Store) -> None:
    before = datetime.now(UTC)
    record = store.create_record("nightly", build_id="42")
    assert record.id > 0 and record.label == f"rec_{record.id:04d}"
    assert (record.name, record.build_id, record.state) == ("nightly", "42", RecordState.RECORDING)
    assert record.created_at.tzinfo is not None and record.created_at >= before
    assert (record.closed_at, record.baseline_count, record.stats) == (None, 0, {})
    assert store.get_record(record.id) == record


def test_close_record_merges_stats_and_keeps_first_close_time(store: Store) -> None:
    record = store.create_record("r")
    closed = store.close_record(record.id, stats={"duplicates": 3, "excluded": 1})
    assert closed.state is RecordState.CLOSED and closed.closed_at is not None
    again = store.close_record(record.id, stats={"excluded": 5, "hosts": {"app.test": 2}})
    assert again.stats == {"duplicates": 3, "excluded": 5, "hosts": {"app.test": 2}}
    assert again.closed_at == closed.closed_at
    assert store.get_record(record.id) == again


def test_unknown_ids_raise_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="999"):
        store.get_record(999)
    with pytest.raises(NotFoundError):
        store.close_record(999)
    with pytest.raises(NotFoundError):
        store.get_baseline(999)
    with pytest.raises(NotFoundError):
        store.count_baselines(999)
    with pytest.raises(NotFoundError):
        list(store.iter_baselines(999))
    with pytest.raises(NotFoundError, match="999"):
        store.add_baselines([baseline(999)])


def test_add_baselines_numbers_them_in_order_per_record(store: Store) -> None:
    a, b = store.create_record("a"), store.create_record("b")
    store.add_baselines([baseline(a.id, 1), baseline(b.id, 2), baseline(a.id, 3)])
    store.add_baselines([baseline(b.id, 4), baseline(a.id, 5)])
    got_a = list(store.iter_baselines(a.id))
    assert [(x.seq, target_number(x.request.target)) for x in got_a] == [(1, 1), (2, 3), (3, 5)]
    assert [(x.seq, target_number(x.request.target)) for x in store.iter_baselines(b.id)] == [(1, 2), (2, 4)]
    assert store.count_baselines(a.id) == 3 and store.get_record(a.id).baseline_count == 3
    assert store.get_baseline(got_a[1].id) == got_a[1]
    assert got_a[0].label == f"bl_{got_a[0].id}"


def test_a_failed_batch_stores_nothing(store: Store) -> None:
    record = store.create_record("r")
    with pytest.raises(NotFoundError):
        store.add_baselines([baseline(record.id, 1), baseline(12345, 2)])
    assert store.count_baselines(record.id) == 0
    store.add_baselines([baseline(record.id, 3)])
    assert [x.seq for x in store.iter_baselines(record.id)] == [1]  # no seq was burnt


def test_add_baselines_of_nothing_is_a_no_op(store: Store) -> None:
    store.add_baselines([])


def test_baseline_fields_round_trip(store: Store) -> None:
    record = store.create_record("r")
    when = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    item = NewBaseline(record.id, request(7, b'{"a":1}'), None, response_truncated=True, elapsed_ms=12.25,
                       recorded_at=when)
    store.add_baselines([item, NewBaseline(record.id, request(8), response(8))])
    first, second = store.iter_baselines(record.id)
    assert (first.request, first.response, first.response_truncated) == (item.request, None, True)
    assert (first.elapsed_ms, first.recorded_at, first.record_id) == (12.25, when, record.id)
    assert second.response == response(8) and second.recorded_at.tzinfo is not None


def test_iter_baselines_after_seq_resumes(store: Store) -> None:
    record = store.create_record("r")
    store.add_baselines([baseline(record.id, n) for n in range(1, 1203)])  # more than two pages
    seqs = [x.seq for x in store.iter_baselines(record.id, after_seq=499)]
    assert seqs == list(range(500, 1203))
    assert [target_number(x.request.target) for x in store.iter_baselines(record.id)] == list(range(1, 1203))
    assert list(store.iter_baselines(record.id, after_seq=5000)) == []


def test_iter_baselines_of_an_empty_record_is_empty(store: Store) -> None:
    assert list(store.iter_baselines(store.create_record("empty").id)) == []


def test_two_writers_on_one_record_get_distinct_gap_free_seqs(store: Store, second_store: Store) -> None:
    record = store.create_record("shared")
    errors: list[BaseException] = []

    def write(target: Store, offset: int) -> None:
        try:
            for chunk in range(20):
                start = offset + chunk * 10
                target.add_baselines([baseline(record.id, n) for n in range(start, start + 10)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, off)) for s, off in ((store, 0), (second_store, 10_000))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    got = list(store.iter_baselines(record.id))
    assert [x.seq for x in got] == list(range(1, 401))
    numbers = [target_number(x.request.target) for x in got]
    assert sorted(numbers) == [*range(200), *range(10_000, 10_200)]
    # Each batch stays contiguous in seq order: batches are atomic.
    for i in range(0, 400, 10):
        assert numbers[i + 9] - numbers[i] == 9


def test_latest_record_prefers_closed_records_with_baselines(store: Store) -> None:
    assert store.latest_record() is None
    old = store.create_record("old", build_id="7")
    store.add_baselines([baseline(old.id)])
    store.close_record(old.id)
    recording = store.create_record("recording", build_id="7")
    store.add_baselines([baseline(recording.id)])
    store.create_record("empty", build_id="7")
    other = store.create_record("other build", build_id="8")
    store.add_baselines([baseline(other.id)])

    latest = store.latest_record("7")
    assert latest is not None and latest.id == old.id  # closed beats a newer one still recording
    assert latest.baseline_count == 1
    overall = store.latest_record()
    assert overall is not None and overall.id == old.id
    store.close_record(other.id)
    overall = store.latest_record()
    assert overall is not None and overall.id == other.id
    assert store.latest_record("nope") is None


def test_latest_record_falls_back_to_one_still_recording(store: Store) -> None:
    record = store.create_record("live", build_id="9")
    assert store.latest_record("9") is None  # no baselines yet
    store.add_baselines([baseline(record.id)])
    latest = store.latest_record("9")
    assert latest is not None and latest.id == record.id


def test_list_records_newest_first_with_limit(store: Store) -> None:
    ids = [store.create_record(f"r{n}").id for n in range(5)]
    assert [r.id for r in store.list_records()] == ids[::-1]
    assert [r.id for r in store.list_records(limit=2)] == ids[:-3:-1]


def test_names_with_any_characters_survive(store: Store) -> None:
    name = "TestRecord \x00 caf\u00e9 \ud800 \ufffe end"
    record = store.create_record(name, build_id="b-1.2_3")
    assert store.get_record(record.id).name == name
