"""Test records of a project and their baselines, secrets masked (``lunge.logs.mask_secrets``, the
same filter the logs and reports go through)."""

from __future__ import annotations

from itertools import islice
from typing import Any

from lunge.control.context import Control
from lunge.errors import NotFoundError
from lunge.logs import mask_secrets
from lunge.report.document import record_section
from lunge.store.models import Baseline, TestRecord

RESPONSE_EXCERPT = 4096  # body bytes of a baseline's response shown by the API


def get(control: Control, project_id: int, record_id: int) -> TestRecord:
    """The project's record; NotFoundError for an unknown id or another project's."""
    if control.projects.record_owner(record_id) != project_id:
        raise NotFoundError(f"no test record {record_id}")
    return control.store.get_record(record_id)


def listing(control: Control, project_id: int, limit: int, offset: int) -> list[dict[str, Any]]:
    return [record_section(r) for r in control.projects.list_records(project_id, limit, offset)]


def baselines_page(control: Control, project_id: int, record_id: int, after_seq: int,
                   limit: int) -> dict[str, Any]:
    """One page of baselines in ``seq`` order, after ``after_seq`` (keyset paging: stable while the
    record grows). ``next_after_seq`` is None on the last page."""
    get(control, project_id, record_id)
    stream = control.store.iter_baselines(record_id, after_seq=after_seq)
    page = list(islice(stream, limit + 1))
    more = len(page) > limit
    page = page[:limit]
    return {"objects": [baseline_view(b) for b in page],
            "next_after_seq": page[-1].seq if more and page else None}


def stop_recording(control: Control, project_id: int, record_id: int) -> TestRecord:
    """Close the record; a record a node is recording for a run is stopped through its run (the
    node closes it once what it answered is stored: :func:`lunge.control.services.runs.stop_recording`)."""
    from lunge.control.services import runs  # runs uses this module: imported when needed

    record = get(control, project_id, record_id)
    live = runs.recording_run_of(control, project_id, record_id)
    if live is not None:
        runs.stop_recording(control, project_id, live.id)
        return record
    return control.store.close_record(record_id)


def baseline_view(baseline: Baseline) -> dict[str, Any]:
    request = baseline.request
    out: dict[str, Any] = {
        "id": baseline.id, "label": baseline.label, "record_id": baseline.record_id, "seq": baseline.seq,
        "method": request.method, "url": mask_secrets(request.url),
        "request": mask_secrets(request.to_bytes().decode("utf-8", "replace")),
        "recorded_at": baseline.recorded_at.isoformat(), "elapsed_ms": baseline.elapsed_ms,
        "response_status": None, "response": None, "response_truncated": baseline.response_truncated,
    }
    response = baseline.response
    if response is not None:
        head = response.head_bytes().decode("latin-1")
        body = response.decoded_body()[:RESPONSE_EXCERPT].decode("utf-8", "replace")
        out["response_status"] = response.status
        out["response"] = mask_secrets(head + body)
    return out
