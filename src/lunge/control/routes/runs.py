"""Test runs of the token's project (FAST's ``/v1/test_run``), their findings and reports."""

from __future__ import annotations

import shutil
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from pydantic import AliasChoices, BaseModel, BeforeValidator, Field
from starlette.background import BackgroundTask

from lunge.control.deps import ControlDep, ProjectId
from lunge.control.services import reports, runs
from lunge.report import FORMATS
from lunge.store.models import RunState

router = APIRouter(tags=["test runs"])
_BUILD_ID = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_FORMATS = "^(" + "|".join(FORMATS) + ")$"


def _run_id_as_text(value: object) -> object:
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# The run findings are compared with (fail_on: new): a run id of the project (a number, or run_N),
# latest, or none (no run: every finding new).
CompareTo = Annotated[str | None, BeforeValidator(_run_id_as_text),
                      Field(pattern=r"^(?i:latest|none|(run_)?[0-9]{1,12})$")]


class TestRunIn(BaseModel):
    """FAST's fields, under lunge's names or FAST's (``desc``, ``policy_id``, ``test_record_id``).

    Without ``record`` the run records a new test record through the node that takes it (FAST's
    "create a test run"); with a record id, or ``latest``, it tests that closed record ("copy")."""

    __test__ = False

    name: str = Field(min_length=1, max_length=500)
    description: str = Field("", max_length=10_000, validation_alias=AliasChoices("description", "desc"))
    policy: int | str | None = Field(None, validation_alias=AliasChoices("policy", "policy_id"),
                                     description="a policy id of the project, or a built-in name; default: default")
    record: int | Literal["latest"] | None = Field(
        None, validation_alias=AliasChoices("record", "test_record_id"),
        description="the record to test, or 'latest' (the latest of BUILD_ID, else the latest); default: none, "
                    "the node records a new one from the traffic proxied through it and tests it as it arrives")
    test_record_name: str | None = Field(None, min_length=1, max_length=500,
                                         description="the new record's name (a run without record); default: the run's")
    inactivity_timeout: int = Field(runs.INACTIVITY_TIMEOUT, ge=300, le=86400,
                                    description="seconds without a new baseline after which recording stops, 300-86400")
    build_id: str | None = Field(None, pattern=_BUILD_ID, validation_alias=AliasChoices("build_id", "BUILD_ID"))
    rps: int | None = Field(None, ge=1, le=1000)
    stop_on_first_fail: bool = False
    target: str | None = Field(None, pattern=r"^https?://[^/\s]+", description="TEST_RUN_URI")
    compare_to: CompareTo = Field(None, description="the run of the project findings are compared with (fail_on: "
                                                    "new): an id, latest or none; default: latest under fail_on: new")


@router.post("/v1/test_run", status_code=201, summary="Order a test run (state created until a node takes it)")
def create_run(body: TestRunIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    order = runs.RunOrder(**body.model_dump())
    return runs.view(control, runs.create(control, project, order))


class CopyIn(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=500)
    policy: int | str | None = Field(None, validation_alias=AliasChoices("policy", "policy_id"),
                                     description="another policy; default: the copied run's")
    compare_to: CompareTo = Field(None, description="the run findings are compared with (fail_on: new): an id, "
                                                    "latest or none; default: the copied run's")


@router.post("/v1/test_run/{run_id}/copy", status_code=201,
             summary="Create a similar run: the same record, optionally another policy")
def copy_run(run_id: int, body: CopyIn, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return runs.view(control, runs.copy(control, project, run_id, body.name, body.policy, body.compare_to))


@router.get("/v1/test_run", summary="List the project's test runs, newest first")
def list_runs(control: ControlDep, project: ProjectId, limit: int = Query(100, ge=1, le=1000),
              offset: int = Query(0, ge=0), state: Annotated[list[RunState] | None, Query()] = None
              ) -> dict[str, Any]:
    return {"objects": runs.listing(control, project, limit, offset, state or [])}


@router.get("/v1/test_run/{run_id}", summary="A test run's state and counters")
def read_run(run_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return runs.view(control, runs.get(control, project, run_id))


@router.post("/v1/test_run/{run_id}/action/stop", summary="Stop recording (testing goes on until every baseline "
             "recorded is tested)")
def stop_recording(run_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return runs.view(control, runs.stop_recording(control, project, run_id))


@router.post("/v1/test_run/{run_id}/action/{action}", summary="Pause, resume or interrupt a test run")
def act_on_run(run_id: int, action: Literal["pause", "resume", "interrupt"], control: ControlDep,
               project: ProjectId) -> dict[str, Any]:
    return runs.view(control, runs.act(control, project, run_id, action))


@router.get("/v1/test_run/{run_id}/findings", summary="The run's findings, most severe first, with evidence")
def list_findings(run_id: int, control: ControlDep, project: ProjectId, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0)) -> dict[str, Any]:
    return {"objects": runs.findings(control, project, run_id, limit, offset)}


@router.get("/v1/test_run/{run_id}/test_sets", summary="The run's outcome per baseline (FAST's baseline checks)")
def list_test_sets(run_id: int, control: ControlDep, project: ProjectId,
                   after_baseline: int = Query(0, ge=0, description="the last baseline id of the previous page"),
                   limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
    return runs.test_sets_page(control, project, run_id, after_baseline, limit)


@router.get("/v1/findings/{finding_id}", tags=["findings"], summary="One finding with its evidence")
def read_finding(finding_id: int, control: ControlDep, project: ProjectId) -> dict[str, Any]:
    return runs.finding_view(runs.finding(control, project, finding_id))


@router.get("/v1/test_run/{run_id}/report/{fmt}", summary="Download the run's report in one format",
            response_class=FileResponse)
def download_report(run_id: int, fmt: Annotated[str, PathParam(pattern=_FORMATS, description="|".join(FORMATS))],
                    control: ControlDep, project: ProjectId) -> FileResponse:
    path, directory = reports.write(control, project, run_id, fmt)
    return FileResponse(path, media_type=reports.MEDIA_TYPES.get(fmt, "application/octet-stream"),
                        filename=path.name, background=BackgroundTask(shutil.rmtree, directory, True))
