""":class:`RemoteStore`: the :class:`~lunge.store.base.Store` protocol over the control plane's
HTTP API (``/v1/store/...``), for nodes that reach the control plane and not its database.

Writes are batches sent in order by one sender thread. Each batch carries an id drawn here, so the
control plane applies it once however often it arrives (:mod:`lunge.store.sql.ingest`).
Baselines, test sets, findings and a record's closing are first appended to the spool
(:mod:`.spool`) and fsynced: ``add_baselines`` and ``add_test_sets`` return then (durable on this
node, the recorder answers its client), the others wait for the control plane's answer. Creating
records and runs and updating a run are not spooled (a restarted node has no use for them) but
queue behind the spooled batches, so the control plane sees every write in the order it was made.
Reads first wait until everything written before them is acknowledged, so code above the store
reads its own writes as it would locally.

While the control plane is unreachable (no answer, 5xx, 401, 429) the sender tries again with
exponential backoff and full jitter; callers that wait give up after ``patience`` seconds with a
:class:`~lunge.errors.StoreError` (the spooled batches stay, and go at the next start). A batch
the control plane rejects as invalid (any other 4xx) is moved to the spool's ``rejected.jsonl``
with a log line, never sent again.
"""

from __future__ import annotations

import json
import logging
import random
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lunge.errors import NotFoundError, StoreError, StoreUnavailableError
from lunge.store.models import (
    Baseline,
    Finding,
    NewBaseline,
    NewFinding,
    RunState,
    TestRecord,
    TestRun,
    TestSet,
)
from lunge.store.remote import wire
from lunge.store.remote.http import Client, Rejected, Unreachable
from lunge.store.remote.spool import Spool, Spooled

logger = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 10.0
DEFAULT_PATIENCE_S = 120.0
REQUEST_BYTES = 8 * 1_048_576  # batches sent in one request, at most (the server takes 16 MiB)
BATCH_BYTES = 4 * 1_048_576  # one batch of baselines, at most (unless one baseline alone is larger)
REQUEST_BATCHES = 200
PAGE = 500


@dataclass(eq=False)
class _Batch:
    data: bytes | None  # {"id", "op", "payload"} as JSON; None: read back from the spool when sent
    op: str
    seq: int
    spooled: Spooled | None = None  # None: not spooled
    future: Future[Any] = field(default_factory=Future)
    abandoned: bool = False  # its caller gave up before it was sent: not spooled, so dropped
    done: bool = False  # acknowledged or rejected

    @property
    def size(self) -> int:
        return self.spooled.length if self.spooled is not None else len(self.data or b"")

    def line(self) -> bytes:
        return self.spooled.line() if self.spooled is not None else self.data or b""


class RemoteStore:
    """The store in the control plane. Thread-safe; see the module's docstring."""

    def __init__(self, base_url: str, token: str, spool_dir: Path, *, patience: float = DEFAULT_PATIENCE_S) -> None:
        self._client = Client(base_url, token)
        self.label = f"{self._client.label} (remote)"
        self._patience = patience
        self._spool = Spool(spool_dir)
        self._cond = threading.Condition()
        self._queue: deque[_Batch] = deque()
        self._next_seq = 0
        self._done_seq = 0  # every batch up to this seq is acknowledged (or rejected)
        self._failing_since: float | None = None
        self._last_problem = ""
        self._stopping = False
        for leftover in self._spool.leftovers():  # a previous node's, before anything of ours
            self._enqueue(_Batch(None, leftover.op, 0, leftover))
        if self._queue:
            logger.info("remote store: %d batch(es) left in the spool by an earlier node; sending them first",
                        len(self._queue))
        self._thread = threading.Thread(target=self._run, name="lunge-remote-store", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return f"RemoteStore({self.label!r})"

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Send what is queued (waiting at most ``patience`` seconds while the control plane is
        unreachable), then stop. Batches still unsent stay in the spool for the next start."""
        try:
            self._wait_drained()
        except StoreError as exc:
            logger.error("remote store: %s; the spool keeps them for the next start", exc)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(BACKOFF_MAX_S + 35)
        if self._thread.is_alive():  # still sending: its spool files stay as they are, for the next start
            logger.error("remote store: the sender did not stop; the spool keeps what it had not sent")
            return
        self._spool.close()
        self._client.drop()

    # ------------------------------------------------------------------ writes
    def _enqueue(self, batch: _Batch) -> _Batch:
        with self._cond:
            self._next_seq += 1
            batch.seq = self._next_seq
            self._queue.append(batch)
            self._cond.notify_all()
        return batch

    def _write(self, op: str, payload: dict[str, Any], *, spooled: bool, wait: bool) -> Any:
        line = json.dumps({"id": secrets.token_hex(16), "op": op, "payload": payload},
                          separators=(",", ":")).encode()
        return self._put(line, op, spooled=spooled, wait=wait)

    def _put(self, line: bytes, op: str, *, spooled: bool, wait: bool) -> Any:
        if spooled:
            batch = self._enqueue(_Batch(None, op, 0, self._spool.append(line)))
        else:
            batch = self._enqueue(_Batch(line, op, 0))
        return self._result(batch) if wait else None

    def _result(self, batch: _Batch) -> Any:
        while True:
            try:
                return batch.future.result(timeout=0.5)
            except TimeoutError:
                if self._gave_up():
                    batch.abandoned = batch.spooled is None
                    raise self._unavailable() from None

    def create_record(self, name: str, build_id: str | None = None) -> TestRecord:
        return wire.record_from(self._write("create_record", {"name": name, "build_id": build_id},
                                            spooled=False, wait=True))

    def close_record(self, record_id: int, stats: dict[str, Any] | None = None) -> TestRecord:
        return wire.record_from(self._write("close_record", {"record_id": record_id, "stats": stats or {}},
                                            spooled=True, wait=True))

    def add_baselines(self, baselines: Sequence[NewBaseline]) -> None:
        """Durable when this returns: in the spool on disk; the sender delivers it. Split into
        batches of at most :data:`PAGE` baselines and :data:`BATCH_BYTES` (a baseline keeps up to
        ``LUNGE_MAX_BODY`` of its response: a few large ones fill a batch)."""
        items: list[bytes] = []
        size = 0
        for baseline in baselines:
            text = json.dumps(wire.new_baseline_to(baseline), separators=(",", ":")).encode()
            if items and (len(items) >= PAGE or size + len(text) > BATCH_BYTES):
                self._put_baselines(items)
                items, size = [], 0
            items.append(text)
            size += len(text) + 1
        if items:
            self._put_baselines(items)

    def _put_baselines(self, items: list[bytes]) -> None:
        head = json.dumps({"id": secrets.token_hex(16), "op": "baselines"}, separators=(",", ":")).encode()
        line = head[:-1] + b',"payload":{"items":[' + b",".join(items) + b"]}}"
        self._put(line, "baselines", spooled=True, wait=False)

    def add_test_sets(self, test_sets: Sequence[TestSet]) -> None:
        if test_sets:
            self._write("test_sets", {"items": [wire.test_set_to(t) for t in test_sets]}, spooled=True, wait=False)

    def add_findings(self, findings: Sequence[NewFinding]) -> list[Finding]:
        if not findings:
            return []
        result = self._write("findings", {"items": [wire.new_finding_to(f) for f in findings]},
                             spooled=True, wait=True)
        return [wire.finding_from(f) for f in result["findings"]]

    def create_run(self, *, name: str, record_id: int, policy_name: str, description: str = "",
                   build_id: str | None = None, target: str | None = None) -> TestRun:
        payload = {"name": name, "record_id": record_id, "policy_name": policy_name, "description": description,
                   "build_id": build_id, "target": target}
        return wire.run_from(self._write("create_run", payload, spooled=False, wait=True))

    def update_run(self, run_id: int, **changes: Any) -> TestRun:
        payload = {"run_id": run_id, "changes": wire.run_changes_to(changes)}
        return wire.run_from(self._write("update_run", payload, spooled=False, wait=True))

    def renew_lease(self, run_id: int, owner: str, seconds: float) -> bool:
        """Sent at once, not queued behind the writes: the control plane computes the expiry when
        it receives the renewal, so a renewal must not wait behind a backlog of baselines (and
        needs no order: it only ever extends an unfinished run's lease)."""
        body = json.dumps({"owner": owner, "seconds": seconds}).encode()
        return bool(self._call("POST", f"/v1/store/runs/{run_id}/lease", body=body)["renewed"])

    def expire_leases(self) -> list[int]:
        ids: list[int] = self._read("POST", "/v1/store/runs/expire_leases")["ids"]
        return ids

    # ------------------------------------------------------------------ reads
    def _read(self, method: str, path: str, query: dict[str, Any] | None = None) -> Any:
        """After every write made so far is acknowledged: one request, tried again while the
        control plane is unreachable (``patience`` seconds at most)."""
        self._wait_drained()
        return self._call(method, path, query=query)

    def _call(self, method: str, path: str, query: dict[str, Any] | None = None, body: bytes | None = None) -> Any:
        """One request, tried again while the control plane is unreachable (``patience`` seconds)."""
        started, backoff = time.monotonic(), BACKOFF_FIRST_S
        while True:
            try:
                return self._client.call(method, path, body, query)
            except Rejected as exc:
                if exc.status == 404:
                    raise NotFoundError(exc.detail) from exc
                raise StoreError(f"control plane {self._client.label}: {method} {path}: {exc}") from exc
            except Unreachable as exc:
                if time.monotonic() - started > self._patience:
                    raise StoreUnavailableError(f"control plane unreachable for {self._patience:g} s: {exc}") from exc
                time.sleep(_jitter(backoff))
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def get_record(self, record_id: int) -> TestRecord:
        return wire.record_from(self._read("GET", f"/v1/store/records/{record_id}"))

    def latest_record(self, build_id: str | None = None) -> TestRecord | None:
        found = self._read("GET", "/v1/store/records/latest", {"build_id": build_id})["object"]
        return None if found is None else wire.record_from(found)

    def list_records(self, limit: int = 100) -> list[TestRecord]:
        return [wire.record_from(r) for r in self._read("GET", "/v1/store/records", {"limit": limit})["objects"]]

    def iter_baselines(self, record_id: int, *, after_seq: int = 0) -> Iterator[Baseline]:
        self.get_record(record_id)  # an unknown record is an error at once, as locally
        return self._pages(f"/v1/store/records/{record_id}/baselines", "after_seq", after_seq,
                           "next_after_seq", wire.baseline_from)

    def get_baseline(self, baseline_id: int) -> Baseline:
        return wire.baseline_from(self._read("GET", f"/v1/store/baselines/{baseline_id}"))

    def count_baselines(self, record_id: int) -> int:
        return self.get_record(record_id).baseline_count

    def get_run(self, run_id: int) -> TestRun:
        return wire.run_from(self._read("GET", f"/v1/store/runs/{run_id}"))

    def latest_run(self, build_id: str | None = None) -> TestRun | None:
        found = self._read("GET", "/v1/store/runs/latest", {"build_id": build_id})["object"]
        return None if found is None else wire.run_from(found)

    def list_runs(self, limit: int = 100, state: RunState | None = None) -> list[TestRun]:
        query = {"limit": limit, "state": None if state is None else RunState(state).value}
        return [wire.run_from(r) for r in self._read("GET", "/v1/store/runs", query)["objects"]]

    def iter_test_sets(self, run_id: int) -> Iterator[TestSet]:
        return self._pages(f"/v1/store/runs/{run_id}/test_sets", "after_baseline", 0, "next_after_baseline",
                           wire.test_set_from)

    def iter_findings(self, run_id: int) -> Iterator[Finding]:
        return self._pages(f"/v1/store/runs/{run_id}/findings", "offset", 0, "next_offset", wire.finding_from)

    def get_finding(self, finding_id: int) -> Finding:
        return wire.finding_from(self._read("GET", f"/v1/store/findings/{finding_id}"))

    def _pages[T](self, path: str, param: str, start: Any, next_key: str,
                  decode: Callable[[dict[str, Any]], T]) -> Iterator[T]:
        """Page after page, so memory stays flat whatever the size of the record."""
        cursor = start
        while cursor is not None:
            page = self._read("GET", path, {param: cursor, "limit": PAGE})
            yield from (decode(item) for item in page["objects"])
            cursor = page[next_key]

    # ------------------------------------------------------------------ waiting
    def _gave_up(self) -> bool:
        since = self._failing_since
        return since is not None and time.monotonic() - since > self._patience

    def _unavailable(self) -> StoreUnavailableError:
        return StoreUnavailableError(f"control plane {self._client.label} unreachable for {self._patience:g} s "
                                     f"({self._last_problem}); {len(self._queue)} batch(es) wait in the spool "
                                     f"{self._spool.directory}")

    def _wait_drained(self) -> None:
        with self._cond:
            target = self._next_seq
            while self._done_seq < target:
                if self._gave_up():
                    raise self._unavailable()
                self._cond.wait(0.5)

    # ------------------------------------------------------------------ the sender thread
    def _run(self) -> None:
        backoff = BACKOFF_FIRST_S
        while True:
            group = self._next_group()
            if group is None:
                return
            try:
                self._send(group)
            except Unreachable as exc:
                with self._cond:
                    if self._failing_since is None:
                        self._failing_since = time.monotonic()
                        logger.warning("remote store: %s; keeping batches in the spool and trying again", exc)
                    self._last_problem = str(exc)
                    if self._stopping and self._gave_up():
                        return
                time.sleep(_jitter(backoff))
                backoff = min(backoff * 2, BACKOFF_MAX_S)
                continue
            # The sender's exception boundary: a bug must fail the waiting callers, not hang them.
            except Exception as exc:
                logger.error("remote store: sending failed: %s: %s", type(exc).__name__, exc)
                # Not acknowledged: spooled batches stay on disk for the next start.
                self._finish(group, [None] * len(group), error=StoreError(f"remote store: {exc}"), keep=True)
                continue
            backoff = BACKOFF_FIRST_S
            if self._failing_since is not None:
                logger.info("remote store: the control plane answers again")
            self._failing_since = None

    def _next_group(self) -> list[_Batch] | None:
        with self._cond:
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            group: list[_Batch] = []
            size = 0
            for batch in self._queue:
                if group and (len(group) >= REQUEST_BATCHES or size + batch.size > REQUEST_BYTES):
                    break
                group.append(batch)
                size += batch.size
            return group

    def _send(self, group: list[_Batch]) -> None:
        group = [b for b in group if not b.done]
        live = [b for b in group if not b.abandoned]
        if not live:
            self._finish(group, [None] * len(group))
            return
        try:
            answer = self._client.call("POST", "/v1/store/batches", b'{"batches":[' + b",".join(
                b.line() for b in live) + b"]}")
        except Rejected as exc:
            if len(live) > 1:  # which one? Each alone (those already applied are answered from their id)
                for batch in live:
                    self._send([batch])
                self._finish([b for b in group if b.abandoned], [None] * (len(group) - len(live)))
                return
            self._reject(live[0], exc)
            return
        results = answer["results"]
        by_batch = dict(zip((id(b) for b in live), results, strict=True))
        self._finish(group, [by_batch.get(id(b)) for b in group])

    def _reject(self, batch: _Batch, exc: Rejected) -> None:
        where = self._spool.reject(batch.line(), str(exc))
        logger.error("remote store: the control plane rejected a %s batch (%s); kept in %s, not sent again",
                     batch.op, exc, where)
        self._finish([batch], [None], error=StoreError(f"the control plane rejected the {batch.op} batch: {exc}"))

    def _finish(self, group: list[_Batch], results: list[Any], error: Exception | None = None,
                keep: bool = False) -> None:
        """Resolve the batches' callers and drop them from the queue; and from the spool, unless ``keep``."""
        for batch, result in zip(group, results, strict=True):
            if batch.done:
                continue
            batch.done = True
            if batch.spooled is not None and not keep:
                self._spool.acknowledged(batch.spooled.segment)
            if not batch.future.done():
                if error is not None:
                    batch.future.set_exception(error)
                else:
                    batch.future.set_result(result)
        with self._cond:
            while self._queue and self._queue[0].done:
                self._done_seq = max(self._done_seq, self._queue.popleft().seq)
            self._cond.notify_all()


def _jitter(ceiling: float) -> float:
    """Full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015): many nodes
    coming back together do not all knock at the same instant."""
    return random.uniform(0, ceiling)
