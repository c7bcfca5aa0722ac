"""Findings on both backends."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime

import pytest

from lunge.errors import StoreError
from lunge.store import Store
from lunge.store.models import Finding, Severity
from tests.store.factories import baseline, finding


def _run_with_baseline(store: Store) -> tuple[int, int]:
    record = store.create_record("r")
    store.add_baselines([baseline(record.id)])
    run = store.create_run(name="run", record_id=record.id, policy_name="default")
    return run.id, next(iter(store.iter_baselines(record.id))).id


def test_add_findings_returns_them_with_ids_in_order(store: Store) -> None:
    run_id, baseline_id = _run_with_baseline(store)
    before = datetime.now(UTC)
    new = [finding(run_id, baseline_id, Severity.LOW, 1), finding(run_id, baseline_id, Severity.HIGH, 2)]
    stored = store.add_findings(new)
    assert [f.title for f in stored] == ["SQL injection 1", "SQL injection 2"]
    assert stored[0].id < stored[1].id and stored[0].label == f"fnd_{stored[0].id}"
    assert all(isinstance(f, Finding) and f.created_at is not None and f.created_at >= before for f in stored)
    assert store.add_findings([]) == []


def test_iter_findings_most_severe_first_then_in_order_found(store: Store) -> None:
    run_id, baseline_id = _run_with_baseline(store)
    severities = [Severity.LOW, Severity.CRITICAL, Severity.INFO, Severity.HIGH, Severity.CRITICAL,
                  Severity.MEDIUM, Severity.LOW]
    stored = store.add_findings([finding(run_id, baseline_id, s, n) for n, s in enumerate(severities)])
    got = list(store.iter_findings(run_id))
    assert got == sorted(stored, key=lambda f: (-f.severity.rank, f.id))
    assert [f.severity for f in got] == [Severity.CRITICAL, Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM,
                                         Severity.LOW, Severity.LOW, Severity.INFO]


def test_findings_stream_in_order_past_one_page(store: Store) -> None:
    run_id, baseline_id = _run_with_baseline(store)
    levels = list(Severity)
    stored = store.add_findings([finding(run_id, baseline_id, levels[n % 5], n) for n in range(1203)])
    got = list(store.iter_findings(run_id))
    assert [f.id for f in got] == [f.id for f in sorted(stored, key=lambda f: (-f.severity.rank, f.id))]


def test_finding_fields_round_trip_including_odd_text(store: Store) -> None:
    run_id, baseline_id = _run_with_baseline(store)
    odd = finding(run_id, baseline_id, Severity.HIGH)
    odd = dataclasses.replace(
        odd, payload="../../etc/passwd\x00.png", attack_request="GET /?f=\x00\ud83d HTTP/1.1\r\n\r\n",
        response_excerpt="root:x:0:0:\x00\xff", details={"raw": "a\x00b", "nested": {"list": [1, "\u2603"]}},
        controls=[{"payload": "\x00", "status": 404}],
    )
    (stored,) = store.add_findings([odd])
    (got,) = store.iter_findings(run_id)
    assert got == stored
    assert dataclasses.asdict(got) == {**dataclasses.asdict(odd), "id": stored.id, "created_at": got.created_at}
    assert list(store.iter_findings(run_id + 9)) == []


def test_a_finding_for_an_unknown_run_is_refused(store: Store) -> None:
    _, baseline_id = _run_with_baseline(store)
    with pytest.raises(StoreError, match="refused by the database"):
        store.add_findings([finding(9999, baseline_id, Severity.LOW)])


def test_one_finding_per_fingerprint_per_run(store: Store, second_store: Store) -> None:
    run_id, baseline_id = _run_with_baseline(store)
    first = finding(run_id, baseline_id, Severity.HIGH, 1)
    twin = dataclasses.replace(first, payload="another payload", proof="another proof")  # same fingerprint
    stored = store.add_findings([first, twin, finding(run_id, baseline_id, Severity.LOW, 2)])
    assert [f.fingerprint for f in stored] == ["fp-1", "fp-2"] and stored[0].payload == first.payload
    assert second_store.add_findings([twin]) == []  # another process (its own connections): still one
    other_run = store.create_run(name="again", record_id=store.get_run(run_id).record_id, policy_name="default")
    assert [f.fingerprint for f in store.add_findings([dataclasses.replace(first, run_id=other_run.id)])] == ["fp-1"]
    assert sorted(f.fingerprint for f in store.iter_findings(run_id)) == ["fp-1", "fp-2"]


def test_processes_confirming_one_finding_together_store_it_once(store: Store, second_store: Store) -> None:
    run_id, baseline_id = _run_with_baseline(store)
    same = [finding(run_id, baseline_id, Severity.HIGH, n) for n in range(20)]
    barrier = threading.Barrier(2)
    results: list[list[Finding]] = []

    def add(target: Store) -> None:
        barrier.wait()
        results.append(target.add_findings(same))

    threads = [threading.Thread(target=add, args=(s,)) for s in (store, second_store)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(f.fingerprint for r in results for f in r) == sorted(f"fp-{n}" for n in range(20))
    assert len(list(store.iter_findings(run_id))) == 20
