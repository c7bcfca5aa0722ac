"""A baseline whose future resolved survives a SIGKILL of the process that stored it: a child
stores through the BatchWriter and prints each committed baseline; the parent kills it mid-stream
and finds every printed baseline in the store, which is consistent (gap-free seqs, right count)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lunge.store import open_store

CHILD = Path(__file__).with_name("durable_child.py")
WANTED = 300  # committed baselines to see before the kill


def _run_and_kill(url: str) -> tuple[int, set[int]]:
    child = subprocess.Popen([sys.executable, str(CHILD), url, "8"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stderr is not None
    try:
        first = child.stdout.readline()
        assert first.startswith("record "), f"child failed: {first!r} {child.stderr.read()}"
        record_id = int(first.split()[1])
        printed: set[int] = set()
        deadline = time.monotonic() + 120
        while len(printed) < WANTED:
            line = child.stdout.readline()
            assert line, f"child exited early: {child.stderr.read()}"
            printed.add(int(line))
            assert time.monotonic() < deadline, "the child commits too slowly"
        os.kill(child.pid, signal.SIGKILL)  # mid-stream: eight submitters are busy committing
        # Whatever reached our pipe before the kill was printed after its commit too.
        rest = child.stdout.read()
        printed.update(int(line) for line in rest.split())
    finally:
        child.kill()
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return record_id, printed


@pytest.mark.slow
def test_committed_baselines_survive_sigkill(store_url: str) -> None:
    record_id, printed = _run_and_kill(store_url)
    store = open_store(store_url)
    try:
        stored = {int(b.request.target.rsplit("/", 1)[1]): b.seq for b in store.iter_baselines(record_id)}
        missing = printed - stored.keys()
        assert not missing, f"{len(missing)} baselines acknowledged as committed are gone: {sorted(missing)[:10]}"
        assert sorted(stored.values()) == list(range(1, len(stored) + 1))
        assert store.count_baselines(record_id) == len(stored) >= len(printed)
    finally:
        store.close()
