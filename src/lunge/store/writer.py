"""Group commit for baselines: :class:`BatchWriter`.

The recording proxy stores every baseline before it answers the client, so a baseline is durable
once the client has its response (DESIGN's "nothing recorded is lost"). A commit per request
would cap recording at the database's commit rate (about 1k/s on PostgreSQL); committing on a
timer would add the timer to every response. The writer does neither: one thread takes whatever
is queued (up to ``max_batch``), writes it with one :meth:`~lunge.store.base.Store.add_baselines`
(one statement, one commit), resolves those items' futures, and goes back to the queue. A lone
request is committed at once; under load, the requests that arrive during one commit share the
next. The cost on the latency path is one queue hop each way plus the commit itself.

Example::

    writer = BatchWriter(store)
    await writer.submit_async(NewBaseline(record.id, request, response))  # committed now
    writer.close()
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from lunge.errors import NotFoundError, StoreError
from lunge.store.base import Store
from lunge.store.models import NewBaseline

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 500


@dataclass(frozen=True, slots=True)
class WriterStats:
    """What a :class:`BatchWriter` has done so far."""

    rows_written: int
    batches: int
    failed_batches: int
    last_error: str | None


class _Flush:
    """A marker in the queue: its future resolves when everything queued before it is done."""

    __slots__ = ("future",)

    def __init__(self) -> None:
        self.future: Future[None] = Future()


_Item = tuple[NewBaseline, Future[None]]
_Entry = _Item | _Flush | None  # None: stop


class BatchWriter:
    """Writes baselines in batches on a dedicated thread, with group commit.

    :meth:`submit` returns a future that resolves once the baseline is committed (or carries the
    :class:`~lunge.errors.StoreError` that prevented it). A failed batch is logged, its futures
    get the exception, and the writer carries on with the next batch. Thread-safe.
    """

    def __init__(self, store: Store, *, max_batch: int = DEFAULT_MAX_BATCH, name: str = "lunge-store-writer") -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._store = store
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Entry] = queue.SimpleQueue()
        self._lock = threading.Lock()  # makes "closed?" and "enqueue" one step for submit and close
        self._closed = False
        self._rows = self._batches = self._failed = 0
        self._last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ submitting
    def submit(self, item: NewBaseline) -> Future[None]:
        """Queue ``item``; the future resolves when the batch holding it is committed.

        Raises :class:`~lunge.errors.StoreError` when the writer is closed."""
        future: Future[None] = Future()
        # Marked running at once: nobody can cancel() it, so the commit thread never meets a
        # cancelled future (an asyncio caller being cancelled must not unrecord a baseline).
        future.set_running_or_notify_cancel()
        with self._lock:
            if self._closed:
                raise StoreError("the batch writer is closed; nothing more can be stored through it")
            self._queue.put((item, future))
        return future

    async def submit_async(self, item: NewBaseline) -> None:
        """:meth:`submit` for asyncio: returns once ``item`` is committed, raises what the commit raised."""
        await asyncio.wrap_future(self.submit(item))

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything submitted before this call is committed (or has failed: the
        failures are on those items' futures). Raises TimeoutError after ``timeout`` seconds."""
        marker = _Flush()
        with self._lock:
            if not self._closed:
                self._queue.put(marker)
        if self._closed:  # closing drains the queue: waiting for the thread is waiting for that
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the batch writer did not drain within {timeout} s")
            return
        marker.future.result(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Commit everything submitted, then stop the thread. Idempotent."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._queue.put(None)
        self._thread.join(timeout)

    def stats(self) -> WriterStats:
        """Counters so far (read without locking: each is only ever written by the writer thread)."""
        return WriterStats(self._rows, self._batches, self._failed, self._last_error)

    # ------------------------------------------------------------------ the writer thread
    def _run(self) -> None:
        stopping = False
        while not stopping:
            items: list[_Item] = []
            markers: list[_Flush] = []
            entry = self._queue.get()  # blocks while idle: a lone item is written at once
            while True:
                if entry is None:
                    stopping = True
                elif isinstance(entry, _Flush):
                    markers.append(entry)
                else:
                    items.append(entry)
                if stopping or len(items) >= self._max_batch:
                    break
                try:
                    entry = self._queue.get_nowait()
                except queue.Empty:
                    break
            if items:
                self._write(items)
            for marker in markers:
                marker.future.set_result(None)

    def _write(self, items: list[_Item]) -> None:
        try:
            self._commit(items)
        except NotFoundError as exc:
            # One unknown record must not take the other records' baselines down with it.
            if len({item.record_id for item, _ in items}) > 1:
                self._write_per_record(items)
            else:
                self._fail(items, exc)
        # The thread's top level: whatever a commit raises must reach the futures and leave the
        # writer serving, or every later baseline would wait forever on a dead thread.
        except Exception as exc:
            self._fail(items, exc)

    def _write_per_record(self, items: list[_Item]) -> None:
        groups: dict[int, list[_Item]] = {}
        for entry in items:
            groups.setdefault(entry[0].record_id, []).append(entry)
        for group in groups.values():
            try:
                self._commit(group)
            except Exception as exc:  # same boundary as in _write
                self._fail(group, exc)

    def _commit(self, items: list[_Item]) -> None:
        self._store.add_baselines([item for item, _ in items])
        self._rows += len(items)
        self._batches += 1
        for _, future in items:
            future.set_result(None)

    def _fail(self, items: list[_Item], exc: Exception) -> None:
        self._failed += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        logger.error("could not store %d baseline(s): %s", len(items), exc,
                     exc_info=not isinstance(exc, StoreError))
        for _, future in items:
            future.set_exception(exc)
