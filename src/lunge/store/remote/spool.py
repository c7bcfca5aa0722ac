"""The node's spool: every batch a remote store sends is first appended to a file here and
fsynced, and forgotten only once the control plane acknowledged it. A node killed (or a control
plane gone) keeps its batches on disk; the next node started on the data directory sends them
first.

One directory (``LUNGE_DATA_DIR/spool``), one segment file per process at a time
(``<pid>-<random>.jsonl``, one batch per line), held under an exclusive ``flock`` while its process
lives: a file nobody holds was left by a process that ended before its batches were all
acknowledged. A segment is deleted when every batch in it is acknowledged and it is no longer
written to; the active one is rotated past :data:`SEGMENT_BYTES`. A batch the control plane
rejects as invalid goes to ``rejected.jsonl`` beside them (kept for people, never sent again).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

SEGMENT_BYTES = 16 * 1_048_576
REJECTED = "rejected.jsonl"


@dataclass(eq=False)
class Segment:
    path: Path
    handle: IO[bytes]  # on a descriptor open for reading too: batches are read back when sent
    pending: int = 0
    closed: bool = False  # no more appends: deleted once pending is 0
    size: int = 0  # bytes written since the file was last emptied

    def read(self, offset: int, length: int) -> bytes:
        """A batch's line, read back from disk: the queue in memory holds only where it is, so a
        long outage does not pile every recorded baseline up in memory."""
        return os.pread(self.handle.fileno(), length, offset)


@dataclass(frozen=True, slots=True)
class Spooled:
    """Where a batch's line is: its segment, offset and length (without the newline)."""

    segment: Segment
    offset: int
    length: int
    op: str = ""

    def line(self) -> bytes:
        return self.segment.read(self.offset, self.length)


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._active = self._new_segment()

    def _new_segment(self) -> Segment:
        path = self.directory / f"{os.getpid()}-{secrets.token_hex(4)}.jsonl"
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return Segment(path, os.fdopen(fd, "ab"))

    def append(self, line: bytes) -> Spooled:
        """Write one batch (a JSON line) durably: it is on disk when this returns."""
        with self._lock:
            segment = self._active
            segment.handle.write(line + b"\n")
            segment.handle.flush()
            os.fsync(segment.handle.fileno())
            where = Spooled(segment, segment.size, len(line))
            segment.size += len(line) + 1
            segment.pending += 1
            if segment.size >= SEGMENT_BYTES:
                segment.closed = True
                self._active = self._new_segment()
        return where

    def acknowledged(self, segment: Segment) -> None:
        """One batch of ``segment`` is in the control plane; the segment goes once all are."""
        with self._lock:
            segment.pending -= 1
            if segment.pending > 0:
                return
            if segment.closed:
                segment.handle.close()
                segment.path.unlink(missing_ok=True)
            else:  # the active segment, all acknowledged: empty it rather than let it grow
                os.ftruncate(segment.handle.fileno(), 0)
                os.fsync(segment.handle.fileno())
                segment.size = 0

    def reject(self, line: bytes, reason: str) -> Path:
        """Keep a batch the control plane refused as invalid, with why, outside the queue."""
        path = self.directory / REJECTED
        record = json.dumps({"reason": reason, "batch": json.loads(line)}).encode()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as handle:
            handle.write(record + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
        return path

    def leftovers(self) -> list[Spooled]:
        """The batches of segments no live process holds, oldest file first; each such segment is
        now held by this process (so two nodes starting together never both send it)."""
        out: list[Spooled] = []
        files = sorted(self.directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
        for path in files:
            if path.name == REJECTED or path == self._active.path:
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live process's
            segment = Segment(path, os.fdopen(fd, "r+b"), closed=True)
            found = list(_scan(segment))
            segment.pending = len(found)
            if not found:
                self._drop(segment)
                continue
            out.extend(found)
        return out

    def _drop(self, segment: Segment) -> None:
        segment.handle.close()
        segment.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the active segment; delete it when nothing in it waits for the control plane."""
        with self._lock:
            segment = self._active
            segment.closed = True
            if segment.pending == 0:
                self._drop(segment)
            else:
                segment.handle.close()


def _scan(segment: Segment) -> Iterator[Spooled]:
    """The complete batches of a segment, one line at a time (memory: one line)."""
    offset = 0
    for raw in segment.handle:
        line = raw.rstrip(b"\n")
        try:
            op = str(json.loads(line).get("op", "?")) if raw.endswith(b"\n") else None
        except (ValueError, AttributeError):
            op = None
        if op is None:  # the process died mid-write: that batch was never acknowledged to anyone
            logger.warning("spool %s: a torn line at offset %d skipped", segment.path.name, offset)
        elif line:
            yield Spooled(segment, offset, len(line), op)
        offset += len(raw)
