"""The store's interface over HTTP for remote nodes (``/v1/store/...``): what
:class:`lunge.store.remote.RemoteStore` calls, scoped to the calling token's project.

Writes come as batches (:mod:`lunge.store.sql.ingest`): each applied once, whatever the number of
deliveries. Reads return the store's models byte-faithfully (:mod:`lunge.store.remote.wire`):
unlike ``/v1/test_record/.../baselines``, which masks secrets for people, a node needs the
recorded requests exactly as they were to replay them; the token that reads them is the
project's own, the one that recorded them.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from itertools import islice
from typing import Any

from lunge.control.context import Control
from lunge.control.services.runs import reap_abandoned
from lunge.errors import ConfigError, NotFoundError
from lunge.store.models import RunState
from lunge.store.remote import wire
from lunge.store.sql.ingest import Ingest

# A batch id is remembered this long: a node's spool sent again later than that would be applied again.
RETAIN = timedelta(days=30)
PRUNE_EVERY = 1000  # batches applied by this process between two prunings
_applied = itertools.count(1)

OPS = ("baselines", "test_sets", "findings", "create_record", "close_record", "create_run", "update_run")


def apply(control: Control, project_id: int, batch_id: str, op: str, payload: dict[str, Any]) -> Any:
    """Apply one batch (once: see :class:`~lunge.store.sql.ingest.Ingest`); its JSON result.
    A payload that does not decode is the node's bad input (ConfigError: 400, not retried)."""
    try:
        write = _prepare(control, project_id, op, payload)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"batch {batch_id}: a {op} payload lunge cannot read ({type(exc).__name__}: {exc})") from exc
    ingest = Ingest(control.store.db)
    if next(_applied) % PRUNE_EVERY == 0:
        ingest.prune(RETAIN)
    try:
        return ingest.once(project_id, batch_id, op, write)
    except (TypeError, ValueError) as exc:  # e.g. update_run of a field that does not exist: rolled back
        raise ConfigError(f"batch {batch_id}: {op}: {exc}") from exc


def _prepare(control: Control, project_id: int, op: str, payload: dict[str, Any]) -> Callable[[], Any]:
    """Decode and authorise the batch now; the returned function writes it (in the batch's transaction)."""
    store, ingest = control.store, Ingest(control.store.db)
    if op == "baselines":
        items = [wire.new_baseline_from(i) for i in payload["items"]]
        _require(ingest.owned_records(project_id, [i.record_id for i in items]), [i.record_id for i in items],
                 "test record")
        return _counted(store.add_baselines, items)
    if op == "test_sets":
        test_sets = [wire.test_set_from(i) for i in payload["items"]]
        _require_results(ingest, project_id, [(t.run_id, t.baseline_id) for t in test_sets])
        return _counted(store.add_test_sets, test_sets)
    if op == "findings":
        found = [wire.new_finding_from(i) for i in payload["items"]]
        _require_results(ingest, project_id, [(f.run_id, f.baseline_id) for f in found])
        return lambda: {"findings": [wire.finding_to(f) for f in store.add_findings(found)]}
    if op == "create_record":
        name, build_id = str(payload["name"]), _optional(payload.get("build_id"))

        def create_record() -> Any:
            record = store.create_record(name, build_id)
            control.projects.assign_record(record.id, project_id)
            return wire.record_to(record)

        return create_record
    if op == "close_record":
        record_id, stats = int(payload["record_id"]), dict(payload.get("stats") or {})
        _require(ingest.owned_records(project_id, [record_id]), [record_id], "test record")
        return lambda: wire.record_to(store.close_record(record_id, stats))
    if op == "create_run":
        return _create_run(control, project_id, payload)
    if op == "update_run":
        run_id, changes = int(payload["run_id"]), wire.run_changes_from(dict(payload["changes"]))
        _require(ingest.owned_runs(project_id, [run_id]), [run_id], "test run")
        return lambda: wire.run_to(store.update_run(run_id, **changes))
    raise ConfigError(f"unknown batch operation {op!r}: one of {', '.join(OPS)}")


def _create_run(control: Control, project_id: int, payload: dict[str, Any]) -> Callable[[], Any]:
    record_id = int(payload["record_id"])
    _require(Ingest(control.store.db).owned_records(project_id, [record_id]), [record_id], "test record")
    fields = {"name": str(payload["name"]), "record_id": record_id, "policy_name": str(payload["policy_name"]),
              "description": str(payload.get("description") or ""), "build_id": _optional(payload.get("build_id")),
              "target": _optional(payload.get("target"))}

    def create_run() -> Any:
        run = control.store.create_run(**fields)  # type: ignore[arg-type]
        control.projects.assign_run(run.id, project_id)
        return wire.run_to(run)

    return create_run


def _counted[T](write: Callable[[list[T]], object], items: list[T]) -> Callable[[], Any]:
    """A batch write whose answer is only how many items it wrote."""

    def apply() -> Any:
        write(items)
        return {"count": len(items)}

    return apply


def _require_results(ingest: Ingest, project_id: int, pairs: list[tuple[int, int]]) -> None:
    """Results (test sets, findings) only for the project's runs and baselines."""
    runs_, baselines_ = [p[0] for p in pairs], [p[1] for p in pairs]
    _require(ingest.owned_runs(project_id, runs_), runs_, "test run")
    _require(ingest.owned_baselines(project_id, baselines_), baselines_, "baseline")


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def _require(owned: set[int], wanted: list[int], what: str) -> None:
    """NotFoundError unless every id in ``wanted`` is the project's (another project's id reads as unknown)."""
    missing = sorted(set(wanted) - owned)
    if missing:
        raise NotFoundError(f"no {what} {missing[0]}")


# ---------------------------------------------------------------------- reads
def record(control: Control, project_id: int, record_id: int) -> dict[str, Any]:
    _require(Ingest(control.store.db).owned_records(project_id, [record_id]), [record_id], "test record")
    return wire.record_to(control.store.get_record(record_id))


def latest_record(control: Control, project_id: int, build_id: str | None) -> dict[str, Any] | None:
    found = Ingest(control.store.db).latest_record(project_id, build_id)
    return None if found is None else wire.record_to(control.store.get_record(found))


def records(control: Control, project_id: int, limit: int) -> list[dict[str, Any]]:
    return [wire.record_to(r) for r in control.projects.list_records(project_id, limit, 0)]


def baselines(control: Control, project_id: int, record_id: int, after_seq: int, limit: int) -> dict[str, Any]:
    """A page of the record's baselines in ``seq`` order, exactly as recorded."""
    record(control, project_id, record_id)
    page = [wire.baseline_to(b) for b in islice(control.store.iter_baselines(record_id, after_seq=after_seq), limit)]
    return {"objects": page, "next_after_seq": page[-1]["seq"] if len(page) == limit else None}


def baseline(control: Control, project_id: int, baseline_id: int) -> dict[str, Any]:
    _require(Ingest(control.store.db).owned_baselines(project_id, [baseline_id]), [baseline_id], "baseline")
    return wire.baseline_to(control.store.get_baseline(baseline_id))


def run(control: Control, project_id: int, run_id: int) -> dict[str, Any]:
    _require(Ingest(control.store.db).owned_runs(project_id, [run_id]), [run_id], "test run")
    return wire.run_to(control.store.get_run(run_id))


def latest_run(control: Control, project_id: int, build_id: str | None) -> dict[str, Any] | None:
    found = Ingest(control.store.db).latest_run(project_id, build_id)
    return None if found is None else wire.run_to(control.store.get_run(found))


def runs(control: Control, project_id: int, limit: int, state: RunState | None) -> list[dict[str, Any]]:
    return [wire.run_to(r) for r in control.projects.list_runs(project_id, limit, 0, [state] if state else [])]


def renew_lease(control: Control, project_id: int, run_id: int, owner: str, seconds: float) -> bool:
    _require(Ingest(control.store.db).owned_runs(project_id, [run_id]), [run_id], "test run")
    return control.store.renew_lease(run_id, owner, seconds)


def expire_leases(control: Control, project_id: int) -> list[int]:
    """Write ``interrupted`` on the project's runs whose lease expired (each reads so already) and
    close the records their lost nodes were recording; nothing during the reaper's grace (a node
    cut off meanwhile has not renewed yet: its run reads interrupted, but is not ended for good)."""
    if time.monotonic() < control.reap_quiet_until:
        return []
    return reap_abandoned(control, project_id)


def test_sets(control: Control, project_id: int, run_id: int, after_baseline: int, limit: int) -> dict[str, Any]:
    run(control, project_id, run_id)
    stream = (t for t in control.store.iter_test_sets(run_id) if t.baseline_id > after_baseline)
    page = [wire.test_set_to(t) for t in islice(stream, limit)]
    return {"objects": page, "next_after_baseline": page[-1]["baseline_id"] if len(page) == limit else None}


def findings(control: Control, project_id: int, run_id: int, offset: int, limit: int) -> dict[str, Any]:
    """A page of the run's findings in the store's order (most severe first)."""
    run(control, project_id, run_id)
    page = [wire.finding_to(f) for f in islice(control.store.iter_findings(run_id), offset, offset + limit)]
    return {"objects": page, "next_offset": offset + limit if len(page) == limit else None}


def finding(control: Control, project_id: int, finding_id: int) -> dict[str, Any]:
    found = control.store.get_finding(finding_id)
    run(control, project_id, found.run_id)  # another project's finding: NotFoundError
    return wire.finding_to(replace(found))
