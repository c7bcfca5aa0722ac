"""The remote store's wire format: the store's models as JSON and back, byte-faithfully.

Shared by the node (:class:`~lunge.store.remote.RemoteStore`) and the control plane
(``/v1/store/...``), so both sides read what the other wrote. Bodies travel as base64; header
names, values and their framing as ``[name, value]`` (or ``[name, value, separator, trailing]``)
lists, as the SQL store keeps them. Datetimes are ISO 8601 with their offset.

>>> from lunge.http import Headers, Request
>>> item = NewBaseline(7, Request("GET", "http", "a.test", 80, "/x", headers=Headers([("Host", "a.test")])), None)
>>> new_baseline_from(new_baseline_to(item)) == item
True
"""

from __future__ import annotations

import base64
import dataclasses
from datetime import datetime
from typing import Any

from lunge.http import Headers, Request, Response
from lunge.store.models import (
    Baseline,
    Confidence,
    Finding,
    NewBaseline,
    NewFinding,
    RecordState,
    RunState,
    Severity,
    TestRecord,
    TestRun,
    TestSet,
    TestSetStatus,
)

_DEFAULT_FRAMING = (": ", "")
_NEW_FINDING_FIELDS = tuple(f.name for f in dataclasses.fields(NewFinding))
_RUN_TIMES = ("created_at", "started_at", "finished_at", "lease_expires_at")
# update_run's fields that are datetimes or a state: everything else is JSON already.
RUN_CHANGE_TIMES = frozenset({"started_at", "finished_at", "lease_expires_at"})


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _parse_time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _headers_to(headers: Headers) -> list[list[str]]:
    return [[name, value] if frame == _DEFAULT_FRAMING else [name, value, frame[0], frame[1]]
            for (name, value), frame in zip(headers.fields, headers.framing, strict=True)]


def _headers_from(rows: list[list[str]]) -> Headers:
    fields = [(row[0], row[1]) for row in rows]
    framing = [_DEFAULT_FRAMING if len(row) == 2 else (row[2], row[3]) for row in rows]
    return Headers(fields, framing)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def request_to(request: Request) -> dict[str, Any]:
    return {"method": request.method, "scheme": request.scheme, "host": request.host, "port": request.port,
            "target": request.target, "http_version": request.http_version,
            "headers": _headers_to(request.headers), "body": _b64(bytes(request.body))}


def request_from(data: dict[str, Any]) -> Request:
    return Request(method=str(data["method"]), scheme=str(data["scheme"]), host=str(data["host"]),
                   port=int(data["port"]), target=str(data["target"]), http_version=str(data["http_version"]),
                   headers=_headers_from(data["headers"]), body=_unb64(data["body"]))


def response_to(response: Response | None) -> dict[str, Any] | None:
    if response is None:
        return None
    return {"status": response.status, "reason": response.reason, "http_version": response.http_version,
            "headers": _headers_to(response.headers), "body": _b64(bytes(response.body))}


def response_from(data: dict[str, Any] | None) -> Response | None:
    if data is None:
        return None
    return Response(status=int(data["status"]), reason=str(data["reason"]), http_version=str(data["http_version"]),
                    headers=_headers_from(data["headers"]), body=_unb64(data["body"]))


def new_baseline_to(item: NewBaseline) -> dict[str, Any]:
    return {"record_id": item.record_id, "request": request_to(item.request), "response": response_to(item.response),
            "response_truncated": item.response_truncated, "elapsed_ms": float(item.elapsed_ms),
            "recorded_at": _time(item.recorded_at)}


def new_baseline_from(data: dict[str, Any]) -> NewBaseline:
    return NewBaseline(record_id=int(data["record_id"]), request=request_from(data["request"]),
                       response=response_from(data["response"]), response_truncated=bool(data["response_truncated"]),
                       elapsed_ms=float(data["elapsed_ms"]), recorded_at=_parse_time(data["recorded_at"]))


def baseline_to(item: Baseline) -> dict[str, Any]:
    return {"id": item.id, "record_id": item.record_id, "seq": item.seq, "request": request_to(item.request),
            "response": response_to(item.response), "response_truncated": item.response_truncated,
            "elapsed_ms": item.elapsed_ms, "recorded_at": _time(item.recorded_at)}


def baseline_from(data: dict[str, Any]) -> Baseline:
    recorded_at = _parse_time(data["recorded_at"])
    assert recorded_at is not None  # a stored baseline always has its time
    return Baseline(id=int(data["id"]), record_id=int(data["record_id"]), seq=int(data["seq"]),
                    request=request_from(data["request"]), response=response_from(data["response"]),
                    response_truncated=bool(data["response_truncated"]), elapsed_ms=float(data["elapsed_ms"]),
                    recorded_at=recorded_at)


def record_to(record: TestRecord) -> dict[str, Any]:
    return {"id": record.id, "name": record.name, "build_id": record.build_id, "state": record.state.value,
            "created_at": _time(record.created_at), "closed_at": _time(record.closed_at),
            "baseline_count": record.baseline_count, "stats": record.stats}


def record_from(data: dict[str, Any]) -> TestRecord:
    created = _parse_time(data["created_at"])
    assert created is not None
    return TestRecord(id=int(data["id"]), name=data["name"], build_id=data["build_id"],
                      state=RecordState(data["state"]), created_at=created, closed_at=_parse_time(data["closed_at"]),
                      baseline_count=int(data["baseline_count"]), stats=dict(data["stats"]))


def run_to(run: TestRun) -> dict[str, Any]:
    out = {f.name: getattr(run, f.name) for f in dataclasses.fields(TestRun)}
    out["state"] = run.state.value
    for name in _RUN_TIMES:
        out[name] = _time(out[name])
    return out


def run_from(data: dict[str, Any]) -> TestRun:
    values = dict(data)
    for name in _RUN_TIMES:
        values[name] = _parse_time(values[name])
    values["state"] = RunState(values["state"])
    values["stats"] = dict(values["stats"])
    return TestRun(**values)


def run_changes_to(changes: dict[str, Any]) -> dict[str, Any]:
    """``update_run``'s keyword arguments as JSON (a state as its value, times as ISO text)."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in RUN_CHANGE_TIMES:
            out[name] = _time(value)
        elif isinstance(value, RunState):
            out[name] = value.value
        else:
            out[name] = value
    return out


def run_changes_from(data: dict[str, Any]) -> dict[str, Any]:
    return {name: _parse_time(value) if name in RUN_CHANGE_TIMES else value for name, value in data.items()}


def test_set_to(item: TestSet) -> dict[str, Any]:
    out = dataclasses.asdict(item)
    out["status"] = TestSetStatus(item.status).value
    return out


def test_set_from(data: dict[str, Any]) -> TestSet:
    return TestSet(run_id=int(data["run_id"]), baseline_id=int(data["baseline_id"]),
                   status=TestSetStatus(data["status"]), reason=str(data["reason"]),
                   requests_sent=int(data["requests_sent"]), findings_count=int(data["findings_count"]),
                   points_tested=int(data["points_tested"]))


test_set_to.__test__ = False  # type: ignore[attr-defined]  # not pytest tests, whatever their names
test_set_from.__test__ = False  # type: ignore[attr-defined]


def new_finding_to(item: NewFinding) -> dict[str, Any]:
    out = {name: getattr(item, name) for name in _NEW_FINDING_FIELDS}
    out["severity"] = Severity(item.severity).value
    out["confidence"] = Confidence(item.confidence).value
    return out


def new_finding_from(data: dict[str, Any]) -> NewFinding:
    values = {name: data[name] for name in _NEW_FINDING_FIELDS}
    values.update(severity=Severity(data["severity"]), confidence=Confidence(data["confidence"]),
                  details=dict(data["details"]), controls=list(data["controls"]))
    return NewFinding(**values)


def finding_to(item: Finding) -> dict[str, Any]:
    out = new_finding_to(item)
    out.update(id=item.id, created_at=_time(item.created_at))
    return out


def finding_from(data: dict[str, Any]) -> Finding:
    values = {name: data[name] for name in _NEW_FINDING_FIELDS}
    values.update(severity=Severity(data["severity"]), confidence=Confidence(data["confidence"]),
                  details=dict(data["details"]), controls=list(data["controls"]))
    return Finding(**values, id=int(data["id"]), created_at=_parse_time(data["created_at"]))
