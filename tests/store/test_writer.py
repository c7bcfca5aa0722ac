"""The batching writer: group commit, commit-before-resolve, failures that reach the futures and
leave the writer serving, flush and close."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import Future

import pytest

from lunge.errors import NotFoundError, StoreError
from lunge.store import Store
from lunge.store.models import NewBaseline
from lunge.store.writer import BatchWriter
from tests.store.factories import baseline, target_number


class GatedStore:
    """A store whose add_baselines can be held at a gate, recording each batch's size and
    optionally failing: lets a test decide exactly what lands in one batch."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.batches: list[int] = []
        self.fail_with: BaseException | None = None
        self.poison: set[int] = set()  # fail batches holding these baselines (by target number) only

    def add_baselines(self, baselines: Sequence[NewBaseline]) -> None:
        self.entered.set()
        self.gate.wait(10)
        self.batches.append(len(baselines))
        poisoned = not self.poison or any(target_number(b.request.target) in self.poison for b in baselines)
        if self.fail_with is not None and poisoned:
            raise self.fail_with
        self.inner.add_baselines(baselines)

    def hold(self, writer: BatchWriter, record_id: int) -> Future[None]:
        """Park the writer thread inside a commit of one baseline; returns that baseline's future."""
        self.gate.clear()
        self.entered.clear()
        future = writer.submit(baseline(record_id, -1))
        assert self.entered.wait(10)
        return future


def _numbers(store: Store, record_id: int) -> list[int]:
    return [target_number(b.request.target) for b in store.iter_baselines(record_id)]


def test_a_lone_baseline_is_committed_at_once(store: Store) -> None:
    record = store.create_record("r")
    writer = BatchWriter(store)
    try:
        writer.submit(baseline(record.id, 1)).result(timeout=10)
        assert _numbers(store, record.id) == [1]
        stats = writer.stats()
        assert (stats.rows_written, stats.batches, stats.failed_batches, stats.last_error) == (1, 1, 0, None)
    finally:
        writer.close()


def test_futures_resolve_only_once_a_second_store_sees_the_row(store: Store, second_store: Store) -> None:
    record = store.create_record("r")
    writer = BatchWriter(store, max_batch=16)
    problems: list[str] = []

    def check_visible(n: int) -> object:
        def callback(future: Future[None]) -> None:
            # Runs in the writer thread the moment the future resolves.
            seen = {target_number(b.request.target) for b in second_store.iter_baselines(record.id)}
            if future.exception() is not None or n not in seen:
                problems.append(f"baseline {n} resolved before a second store could read it")
        return callback

    def submit_many(offset: int) -> None:
        for n in range(offset, offset + 25):
            future = writer.submit(baseline(record.id, n))
            future.add_done_callback(check_visible(n))  # type: ignore[arg-type]
            future.result(timeout=30)

    threads = [threading.Thread(target=submit_many, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    assert problems == []
    assert len(_numbers(second_store, record.id)) == 100


def test_concurrent_submitters_share_commits(store: Store) -> None:
    record = store.create_record("r")
    gated = GatedStore(store)
    writer = BatchWriter(gated, max_batch=500)  # type: ignore[arg-type]
    try:
        first = gated.hold(writer, record.id)
        results: list[Future[None]] = []
        lock = threading.Lock()

        def submit_many(offset: int) -> None:
            for n in range(offset, offset + 50):
                future = writer.submit(baseline(record.id, n))
                with lock:
                    results.append(future)

        threads = [threading.Thread(target=submit_many, args=(k * 100,)) for k in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gated.gate.set()
        for future in [first, *results]:
            future.result(timeout=30)
        stats = writer.stats()
        assert stats.rows_written == 401
        assert stats.batches < 401 and gated.batches == [1, 400]  # everything queued during a commit shares the next
        numbers = _numbers(store, record.id)
        for k in range(8):  # each submitter's baselines keep their order
            mine = [n for n in numbers if k * 100 <= n < k * 100 + 50]
            assert mine == list(range(k * 100, k * 100 + 50))
    finally:
        gated.gate.set()
        writer.close()


def test_batches_never_exceed_max_batch(store: Store) -> None:
    record = store.create_record("r")
    gated = GatedStore(store)
    writer = BatchWriter(gated, max_batch=10)  # type: ignore[arg-type]
    first = gated.hold(writer, record.id)
    futures = [writer.submit(baseline(record.id, n)) for n in range(25)]
    gated.gate.set()
    for future in [first, *futures]:
        future.result(timeout=10)
    writer.close()
    assert gated.batches == [1, 10, 10, 5]
    assert _numbers(store, record.id) == [-1, *range(25)]


def test_a_failed_commit_reaches_its_futures_and_the_writer_carries_on(store: Store,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    record = store.create_record("r")
    gated = GatedStore(store)
    writer = BatchWriter(gated)  # type: ignore[arg-type]
    try:
        first = gated.hold(writer, record.id)
        doomed = [writer.submit(baseline(record.id, n)) for n in range(3)]
        gated.poison, gated.fail_with = {0}, StoreError("database sqlite:///x.db: disk I/O error")
        gated.gate.set()
        first.result(timeout=10)
        for future in doomed:
            with pytest.raises(StoreError, match="disk I/O error"):
                future.result(timeout=10)
        writer.submit(baseline(record.id, 99)).result(timeout=10)
        stats = writer.stats()
        assert (stats.rows_written, stats.batches, stats.failed_batches) == (2, 2, 1)
        assert stats.last_error == "StoreError: database sqlite:///x.db: disk I/O error"
        assert "could not store 3 baseline(s)" in caplog.text
        assert _numbers(store, record.id) == [-1, 99]
    finally:
        gated.gate.set()
        writer.close()


def test_a_bug_in_a_commit_does_not_kill_the_writer(store: Store) -> None:
    record = store.create_record("r")
    gated = GatedStore(store)
    gated.fail_with = TypeError("a bug")
    writer = BatchWriter(gated)  # type: ignore[arg-type]
    try:
        with pytest.raises(TypeError, match="a bug"):
            writer.submit(baseline(record.id, 1)).result(timeout=10)
        gated.fail_with = None
        writer.submit(baseline(record.id, 2)).result(timeout=10)
        assert _numbers(store, record.id) == [2]
    finally:
        writer.close()


def test_an_unknown_record_fails_only_its_own_baselines(store: Store) -> None:
    good = store.create_record("good")
    gated = GatedStore(store)
    writer = BatchWriter(gated)  # type: ignore[arg-type]
    try:
        first = gated.hold(writer, good.id)
        mixed = [writer.submit(baseline(record_id, n)) for n, record_id in enumerate([good.id, 4242, good.id])]
        gated.gate.set()
        first.result(timeout=10)
        mixed[0].result(timeout=10)
        mixed[2].result(timeout=10)
        with pytest.raises(NotFoundError, match="4242"):
            mixed[1].result(timeout=10)
        assert _numbers(store, good.id) == [-1, 0, 2]
    finally:
        gated.gate.set()
        writer.close()


def test_flush_waits_for_everything_submitted(store: Store, second_store: Store) -> None:
    record = store.create_record("r")
    writer = BatchWriter(store, max_batch=7)
    try:
        futures = [writer.submit(baseline(record.id, n)) for n in range(100)]
        writer.flush(timeout=30)
        assert all(f.done() for f in futures)
        assert _numbers(second_store, record.id) == list(range(100))
    finally:
        writer.close()


def test_close_drains_then_refuses(store: Store) -> None:
    record = store.create_record("r")
    writer = BatchWriter(store)
    futures = [writer.submit(baseline(record.id, n)) for n in range(50)]
    writer.close()
    assert all(f.done() and f.exception() is None for f in futures)
    assert store.count_baselines(record.id) == 50
    with pytest.raises(StoreError, match="closed"):
        writer.submit(baseline(record.id, 51))
    writer.close()  # idempotent
    writer.flush()  # nothing to wait for


def test_max_batch_must_be_positive(store: Store) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        BatchWriter(store, max_batch=0)


async def test_submit_async_returns_once_committed(store: Store) -> None:
    record = store.create_record("r")
    writer = BatchWriter(store)
    try:
        async with asyncio.TaskGroup() as group:
            for n in range(20):
                group.create_task(writer.submit_async(baseline(record.id, n)))
        assert sorted(_numbers(store, record.id)) == list(range(20))
        with pytest.raises(NotFoundError):
            await writer.submit_async(baseline(31337, 1))
    finally:
        writer.close()


async def test_a_cancelled_caller_does_not_unrecord_its_baseline(store: Store) -> None:
    record = store.create_record("r")
    gated = GatedStore(store)
    writer = BatchWriter(gated)  # type: ignore[arg-type]
    try:
        first = gated.hold(writer, record.id)
        task = asyncio.ensure_future(writer.submit_async(baseline(record.id, 1)))
        await asyncio.sleep(0)  # let the task submit
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        gated.gate.set()
        first.result(timeout=10)
        writer.flush(timeout=10)
        assert _numbers(store, record.id) == [-1, 1]
    finally:
        gated.gate.set()
        writer.close()
