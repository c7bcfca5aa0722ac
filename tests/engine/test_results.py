"""The run's results buffer (engine/results): test sets reach the store in batches, and at least
every FLUSH_AFTER_S, so the control plane's live counters (read from them) move during a run."""

from __future__ import annotations

from pathlib import Path

import pytest

from lunge.engine import results
from lunge.store import open_store
from lunge.store.models import TestSet, TestSetStatus
from tests.store import factories


async def test_test_sets_are_stored_after_a_while_even_in_a_small_run(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'lunge.db'}")
    try:
        record = store.create_record("r")
        store.add_baselines([factories.baseline(record.id, n) for n in range(2)])
        first, second = (b.id for b in store.iter_baselines(record.id))
        run = store.create_run(name="x", record_id=record.id, policy_name="default")
        now = [1000.0]
        monkeypatch.setattr(results.time, "monotonic", lambda: now[0])
        buffer = results.Results(store)

        async def done(baseline_id: int) -> None:
            await buffer.add_test_set(TestSet(run.id, baseline_id, TestSetStatus.PASSED, requests_sent=7),
                                      replay_ok=True)

        await done(first)
        assert store.test_set_totals(run.id).tested == 0  # buffered: far fewer than FLUSH_EVERY
        now[0] += results.FLUSH_AFTER_S
        await done(second)
        totals = store.test_set_totals(run.id)
        assert (totals.tested, totals.requests_sent) == (2, 14)
    finally:
        store.close()
