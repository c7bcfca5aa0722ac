"""``lunge records`` and ``lunge records show ID``: what the store holds, as data and as tables.

An id that is not an id (``abc``) and a well-formed id that names no record are both bad input
(ConfigError, exit 2), as for ``lunge report`` and ``lunge test --record``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from itertools import islice
from typing import Any

from rich.table import Table

from lunge.errors import ConfigError, InputFileError, NotFoundError
from lunge.logs import mask_secrets
from lunge.node.display import shown
from lunge.node.settings import store_settings
from lunge.store import Store, open_store
from lunge.store.models import Baseline, TestRecord, parse_id


def record_document(record: TestRecord) -> dict[str, Any]:
    """A record as JSON-able data (what ``lunge records --json`` lists)."""
    return {
        "id": record.id,
        "label": record.label,
        "name": record.name,
        "build_id": record.build_id,
        "state": str(record.state),
        "baselines": record.baseline_count,
        "created_at": record.created_at.isoformat(),
        "closed_at": record.closed_at.isoformat() if record.closed_at else None,
    }


def list_records(flags: Mapping[str, Any] | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` records (id, name, BUILD_ID, state, baselines, created)."""
    store = open_store(store_settings(flags).url)
    try:
        return [record_document(r) for r in store.list_records(limit)]
    finally:
        store.close()


def show_record(ref: str, flags: Mapping[str, Any] | None = None, limit: int = 1000) -> dict[str, Any]:
    """One record, its recording counters and its first ``limit`` baselines (0: all of them)."""
    record_id = parse_id(ref)
    if record_id is None:
        raise InputFileError("RECORD_ID", "", f"{ref!r} is not a record id (e.g. 12 or rec_0012)")
    store = open_store(store_settings(flags).url)
    try:
        try:
            record = store.get_record(record_id)
        except NotFoundError as exc:
            raise ConfigError(f"RECORD_ID: no test record {ref}; lunge records lists them") from exc
        baselines = [baseline_document(b) for b in _first(store, record_id, limit)]
    finally:
        store.close()
    summary = record_document(record)
    summary["stats"] = record.stats
    return {"record": summary, "baselines": baselines}


def _first(store: Store, record_id: int, limit: int) -> Iterator[Baseline]:
    baselines = store.iter_baselines(record_id)
    return baselines if limit <= 0 else islice(baselines, limit)


def baseline_document(baseline: Baseline) -> dict[str, Any]:
    """A baseline as JSON-able data, without the bodies (``lunge records show``)."""
    response = baseline.response
    return {
        "id": baseline.id,
        "label": baseline.label,
        "seq": baseline.seq,
        "method": baseline.request.method,
        "url": mask_secrets(baseline.request.url),  # api_key=, access_token= ... as reports and logs show them
        "request_bytes": len(baseline.request.body),
        "status": response.status if response else None,
        "response_bytes": len(response.body) if response else None,
        "response_truncated": baseline.response_truncated,
        "elapsed_ms": baseline.elapsed_ms,
        "recorded_at": baseline.recorded_at.isoformat(),
    }


def records_table(records: list[dict[str, Any]]) -> Table:
    """The table of ``lunge records``."""
    table = Table(title="test records", title_justify="left")
    for column in ("id", "name", "BUILD_ID", "state", "baselines", "created"):
        table.add_column(column, justify="right" if column == "baselines" else "left")
    for r in records:
        table.add_row(r["label"], shown(r["name"]), r["build_id"] or "", r["state"], str(r["baselines"]),
                      r["created_at"])
    return table


def baselines_table(document: dict[str, Any]) -> Table:
    """The table of ``lunge records show``, from :func:`show_record`'s document."""
    record = document["record"]
    listed, total = len(document["baselines"]), record["baselines"]
    more = f", first {listed} shown" if listed < total else ""
    table = Table(title=f"TestRecord#{record['label']} {shown(record['name'])} ({record['state']}, "
                        f"{total} baselines{more})", title_justify="left")
    for column in ("seq", "id", "method", "url", "status", "bytes", "ms"):
        table.add_column(column, justify="right" if column in ("seq", "status", "bytes", "ms") else "left")
    for b in document["baselines"]:
        size = "" if b["response_bytes"] is None else f"{b['response_bytes']}{'+' if b['response_truncated'] else ''}"
        table.add_row(str(b["seq"]), b["label"], shown(b["method"]), shown(b["url"]), str(b["status"] or "-"), size,
                      f"{b['elapsed_ms']:.1f}")
    return table
