"""Read models the dashboard needs beyond the API's: runs with their counters, a run's baselines
with their outcome and endpoint, a finding with its evidence split for display and its diff state
against the run compared with, nodes with whether they are online. Every function is scoped to
a project, as the other services are (another project's id is :class:`~lunge.errors.NotFoundError`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import islice
from typing import Any

from lunge.control.context import Control
from lunge.control.services import runs
from lunge.logs import mask_secrets
from lunge.report import compare, curl_line
from lunge.report.document import endpoint, with_baselines
from lunge.report.evidence import split_proof
from lunge.store.models import Finding, RunState, TestRun

NODE_ONLINE = timedelta(seconds=30)  # a node heartbeats every 2 s: 30 s of silence means it is gone
_COMPARABLE = (RunState.PASSED, RunState.FAILED)


def runs_page(control: Control, project_id: int, limit: int, offset: int) -> list[dict[str, Any]]:
    """The project's runs, newest first, each with its counters (findings by severity, progress)."""
    return [with_progress(runs.view(control, r)) for r in control.projects.list_runs(project_id, limit, offset)]


def live_runs(control: Control, project_id: int, run_ids: Iterable[int]) -> list[dict[str, Any]]:
    """The counters of the named runs of the project (the runs page polls them); ids of other
    projects or unknown ids are left out, not refused: a page may list a run deleted since."""
    out = []
    for run_id in run_ids:
        if control.projects.run_owner(run_id) == project_id:
            out.append(with_progress(runs.view(control, control.store.get_run(run_id))))
    return out


def run_detail(control: Control, project_id: int, run_id: int) -> dict[str, Any]:
    return with_progress(runs.view(control, runs.get(control, project_id, run_id)))


def with_progress(view: dict[str, Any]) -> dict[str, Any]:
    """The run's view with ``baselines_done`` and ``progress`` (a percentage of its baselines)."""
    done = view["baselines_tested"] + view["baselines_not_tested"]
    total = view["baselines_total"]
    view["baselines_done"] = done
    view["progress"] = 100 if view["finished"] and not total else (round(100 * done / total) if total else 0)
    return view


def outcomes(control: Control, project_id: int, run_id: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """The first ``limit`` baselines' outcomes of the run (status, "not tested because …", points,
    requests) with the endpoint and the checks that found something there; and whether more exist."""
    run = runs.get(control, project_id, run_id)
    store = control.store
    checks: dict[int, set[str]] = defaultdict(set)
    for found in store.iter_findings(run.id):
        checks[found.baseline_id].add(found.check_id)
    pairs = with_baselines(store.iter_test_sets(run.id), store.iter_baselines(run.record_id))
    page = list(islice(pairs, limit + 1))
    rows = [{"baseline_id": t.baseline_id, "endpoint": mask_secrets(endpoint(b, t.baseline_id)),
             "status": t.status.value, "reason": t.reason, "points": t.points_tested, "requests": t.requests_sent,
             "findings": t.findings_count, "checks": sorted(checks.get(t.baseline_id, ()))} for t, b in page[:limit]]
    return rows, len(page) > limit


def run_findings(control: Control, project_id: int, run_id: int, limit: int) -> list[dict[str, Any]]:
    """The run's findings, most severe first, each with its diff state (new / still present)."""
    run = runs.get(control, project_id, run_id)
    found = list(islice(control.store.iter_findings(run.id), limit))
    states = diff_states(control, project_id, run, found)
    return [runs.finding_view(f) | {"diff_state": states.get(f.id)} for f in found]


def finding_detail(control: Control, project_id: int, finding_id: int) -> dict[str, Any]:
    """The finding with its evidence ready to show: the response excerpt split around the proof,
    the curl line, and the diff state against the run compared with (None without one)."""
    found = runs.finding(control, project_id, finding_id)
    run = control.store.get_run(found.run_id)
    view = runs.finding_view(found)
    evidence = view["evidence"]
    before, proof, after = split_proof(found.response_excerpt, found.proof)
    view.update({
        "run": {"id": run.id, "label": run.label, "name": run.name, "build_id": run.build_id},
        "excerpt": (mask_secrets(before), proof, mask_secrets(after)),
        "attack_request": evidence["attack_request"].replace("\r\n", "\n"),
        "curl": curl_line(found),
        "diff_state": diff_states(control, project_id, run, [found]).get(found.id),
        "compared_with": _label(compared_with(control, project_id, run)),
    })
    return view


def diff_states(control: Control, project_id: int, run: TestRun, found: list[Finding]) -> dict[int, str]:
    """finding id → ``new`` or ``still_present`` against :func:`compared_with`; empty without one."""
    previous = compared_with(control, project_id, run)
    if previous is None or not found:
        return {}
    comparison = compare(previous, control.store.iter_findings(previous.id), found)
    return {f.id: comparison.state_of(f).value for f in found}


def compared_with(control: Control, project_id: int, run: TestRun) -> TestRun | None:
    """The run whose findings this run's are compared with: the one chosen when it was ordered
    (``compare_to``: what its verdict under fail_on: new and its reports use), else the previous
    finished run of the project (of the same BUILD_ID when there is one, as ``--compare-to latest``
    picks it). None when the run was ordered compared with no run (``none``, or the first build)."""
    order = run.stats.get("order") or {}
    chosen = order.get("compare_to")
    if chosen is not None and control.projects.run_owner(int(chosen)) == project_id:
        return control.store.get_run(int(chosen))
    if chosen is None and order.get(runs.COMPARED):
        return None
    return previous_run(control, project_id, run)


def previous_run(control: Control, project_id: int, run: TestRun) -> TestRun | None:
    earlier = [r for r in control.projects.list_runs(project_id, 200, 0, _COMPARABLE) if r.id < run.id]
    same_build = [r for r in earlier if run.build_id and r.build_id == run.build_id]
    candidates = same_build or earlier
    return candidates[0] if candidates else None


def _label(run: TestRun | None) -> str | None:
    return None if run is None else run.label


def nodes(control: Control, project_id: int, now: datetime | None = None) -> list[dict[str, Any]]:
    """The project's nodes, newest first: online when heard of within :data:`NODE_ONLINE`, with the
    run they are testing (its label and state) when they are."""
    now = now or datetime.now(UTC)
    out = []
    for node in control.projects.list_nodes(project_id, 200, 0):
        run = None
        if node.run_id is not None and control.projects.run_owner(node.run_id) == project_id:
            current = control.store.get_run(node.run_id)
            run = {"id": current.id, "label": current.label, "name": current.name, "state": current.state.value}
        out.append({"id": node.id, "name": node.name, "build_id": node.build_id, "state": node.state,
                    "online": now - node.last_seen_at <= NODE_ONLINE, "run": run,
                    "last_seen_at": node.last_seen_at.isoformat(), "registered_at": node.registered_at.isoformat()})
    return out
