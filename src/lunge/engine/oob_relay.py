"""The out-of-band listener across processes (``PROCESSES`` > 1): the parent process runs the one
listener (:meth:`lunge.engine.oob.OobService.serving`) and gives each partition a token prefix of
its own; a callback is written at once, synchronously, to the pipe of the partition whose prefix
its token carries, before the listener answers the target. So when the target's answer reaches
the worker, the callback is already in the worker's pipe and :meth:`Feed.drain` finds it.

A thread in the worker also drains the pipe as callbacks come, so the parent never waits on a
worker busy sending (a full pipe would stall the listener, and with it a target fetching it). The
thread keeps draining after the partition is done, discarding, until the parent closes its end:
a target may call back long after, and the parent must never block writing to a pipe nobody reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from lunge.engine.oob_listener import Received


@dataclass(frozen=True, slots=True)
class Relayed:
    """A partition's share of the parent's listener: its ports and this partition's token prefix."""

    http_port: int
    prefix: str
    dns_port: int | None  # None: the DNS listener is off


class Reader(Protocol):
    """The reading end of a pipe (``multiprocessing.connection.Connection``)."""

    def poll(self, timeout: float | None = ...) -> bool: ...

    def recv(self) -> object: ...


class Writer(Protocol):
    """The writing end of a pipe."""

    def send(self, obj: object) -> None: ...


WAIT = 0.2  # how often the feed's thread looks whether it should stop


class Feed:
    """A worker's end of the parent's listener: ``sink`` is called with each callback routed to
    this partition, always under :attr:`lock` (the thread and :meth:`drain` both read the pipe)."""

    def __init__(self, reader: Reader, sink: Callable[[Received], None]) -> None:
        self.lock = threading.Lock()
        self._reader = reader
        self._sink = sink
        self._open = True
        self._discard = False
        self._thread = threading.Thread(target=self._run, name="oob-feed", daemon=True)
        self._thread.start()

    def drain(self) -> None:
        """Hand every callback already in the pipe to the sink (the caller holds :attr:`lock`)."""
        try:
            while self._open and self._reader.poll(0):
                item = self._reader.recv()
                if isinstance(item, Received) and not self._discard:
                    self._sink(item)
        except (EOFError, OSError):  # the parent closed its end: the run is over
            self._open = False

    def close(self) -> None:
        """The partition is done: what still comes is read and dropped (see the module docstring)."""
        with self.lock:
            self._discard = True

    def _run(self) -> None:
        while self._open:
            try:
                ready = self._reader.poll(WAIT)
            except (EOFError, OSError):
                return
            if ready:
                with self.lock:
                    self.drain()


__all__ = ["Feed", "Reader", "Relayed", "Writer"]
