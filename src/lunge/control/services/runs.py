"""Test runs of a project: ordering one (``POST /v1/test_run``), reading its state and counters,
pausing, resuming and interrupting it (compare-and-set in the store), its findings and reports."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lunge.control.context import Control
from lunge.control.progress import eta_seconds
from lunge.control.services import ConflictError, policies, records
from lunge.errors import NotFoundError, StoreError
from lunge.logs import mask_secrets
from lunge.report.document import SEVERITY_ORDER, finding_section, run_section, test_set_section
from lunge.store.models import RECORDING_ATTACHED, RECORDING_STOP, Finding, RecordState, RunState, TestRun, parse_id

logger = logging.getLogger(__name__)

# FAST's run actions and the states each may start from (fast.md: running ⇄ paused; any running
# state → interrupted).
ACTIONS: dict[str, tuple[tuple[RunState, ...], RunState]] = {
    "pause": ((RunState.RUNNING,), RunState.PAUSED),
    "resume": ((RunState.PAUSED,), RunState.RUNNING),
    "interrupt": ((RunState.CREATED, RunState.RUNNING, RunState.PAUSED), RunState.INTERRUPTED),
}
LATEST = "latest"  # ``record: "latest"``: the project's latest record of BUILD_ID, else its latest
INACTIVITY_TIMEOUT = 1800  # FAST's default for a recording run, seconds (fast.md: 300-86400)


@dataclass(frozen=True, slots=True)
class RunOrder:
    """A run as an API client orders it (FAST's ``POST /v1/test_run`` fields)."""

    name: str
    description: str = ""
    policy: int | str | None = None
    record: int | str | None = None  # None: record a new one through the node (FAST's first scenario)
    build_id: str | None = None
    rps: int | None = None
    stop_on_first_fail: bool = False
    target: str | None = None
    test_record_name: str | None = None  # the new record's name; default: the run's
    inactivity_timeout: int = INACTIVITY_TIMEOUT  # seconds without a new baseline that end the recording
    # A run id of the project, "latest" (the default under fail_on: new) or "none" (every finding new).
    compare_to: str | None = None


NO_RUN = "none"  # compare_to: compared with no run
# In a run's kept order: a comparison was asked for (``compare_to`` is None then when there was no
# run to compare with, the first build, or ``none`` was asked: every finding is new).
COMPARED = "compared"


def create(control: Control, project_id: int, order: RunOrder) -> TestRun:
    """A run in state ``created``; a node of the project picks it up.

    Without a record (FAST's "create a test run"), a new record in state ``recording`` is made for
    it: the node that takes the run stores the traffic proxied through it into the record and tests
    the baselines as they arrive. With a record id (FAST's "copy"), or ``latest`` (the project's
    latest record of BUILD_ID, else its latest), the run tests that closed record."""
    policy, policy_id = policies.resolve(control, project_id, order.policy)
    recording = order.record is None
    if recording:  # refused orders leave no record behind: the run compared with is checked first
        compared_run(control, project_id, _compare_spec(order, policy.fail_on_new), order.build_id)
        record = control.store.create_record(order.test_record_name or order.name, order.build_id)
        control.projects.assign_record(record.id, project_id)
    elif order.record == LATEST:
        latest = control.projects.latest_record(project_id, order.build_id)
        if latest is None:
            raise ConflictError("the project has no test record with baselines"
                                + (f" for BUILD_ID {order.build_id}" if order.build_id else "") + ": record one first")
        record = latest
    elif isinstance(order.record, int):
        record = records.get(control, project_id, order.record)
    else:
        raise ConflictError(f"record must be a record id or {LATEST!r}, not {order.record!r}")
    if not recording and record.state is RecordState.RECORDING:
        raise ConflictError(f"test record {record.label} is still recording: stop it first (not ready for cloning)")
    build_id = order.build_id or record.build_id
    spec = _compare_spec(order, policy.fail_on_new)
    previous = compared_run(control, project_id, spec, build_id)
    run = control.store.create_run(name=order.name, record_id=record.id, policy_name=policy.name,
                                   description=order.description, build_id=build_id, target=order.target)
    control.projects.assign_run(run.id, project_id)
    kept: dict[str, Any] = {"policy_id": policy_id, "rps": order.rps, "stop_on_first_fail": order.stop_on_first_fail,
                            "compare_to": previous.id if previous is not None else None,
                            COMPARED: spec is not None}
    if recording:
        kept.update(recording=True, inactivity_timeout=order.inactivity_timeout)
    stats = {"policy": policy.summary(), "order": kept}
    return control.store.update_run(run.id, baselines_total=record.baseline_count, stats=stats)


def stop_recording(control: Control, project_id: int, run_id: int) -> TestRun:
    """FAST's "stop recording": the node recording the run stops storing traffic, closes the record
    with everything answered stored, and goes on testing what it holds. Only that node closes the
    record (what it has answered but not yet committed would otherwise land in a closed record,
    untested); a run no node holds any more (finished) has its record closed here."""
    run = get(control, project_id, run_id)
    if not run.records:
        raise ConflictError(f"test run {run.label} tests record rec_{run.record_id:04d}: it does not record")
    record = control.store.get_record(run.record_id)
    if record.state is RecordState.RECORDING:
        if run.state.finished:
            control.store.close_record(record.id, stats={"stopped_by": "stop"})
        elif not run.stats.get(RECORDING_STOP):
            return control.store.update_run(run.id, stats={RECORDING_STOP: "stop"})
    return run


def reap_abandoned(control: Control, project_id: int | None = None) -> list[int]:
    """Write ``interrupted`` on every run (of ``project_id``, or of every project) whose node
    stopped renewing its lease (readers see it so already), and close the record a lost node was
    recording (what it stored stays: a record closed late takes the baselines still on their way,
    nothing is refused). One transaction per run: a close that fails leaves that run as it was,
    for the next sweep, rather than written down with its record open for ever, and does not hold
    up the others. The ids reaped; a StoreError when every run tried failed (the database is
    likely away: the reaper then waits out its grace)."""
    reaped: list[int] = []
    failed: StoreError | None = None
    for run_id in control.store.lapsed_leases(project_id):
        try:
            with control.store.db.write():
                if not control.store.expire_leases(run_id=run_id):
                    continue  # renewed, or ended, since it was listed
                close_lost_record(control, control.store.get_run(run_id))
        except StoreError as exc:
            logger.warning("TestRun#run_%04d could not be ended after its node was lost: %s", run_id, exc)
            failed = exc
            continue
        reaped.append(run_id)
    if failed is not None and not reaped:
        raise failed
    return reaped


def close_lost_record(control: Control, run: TestRun) -> None:
    """The record of a recording run whose node was lost, closed (no node is left to close it)."""
    if run.records and control.store.get_record(run.record_id).state is RecordState.RECORDING:
        control.store.close_record(run.record_id, stats={"stopped_by": "node lost"})


def recording_run_of(control: Control, project_id: int, record_id: int) -> TestRun | None:
    """The unfinished run that records ``record_id``, if any."""
    for run in control.projects.runs_of_record(project_id, record_id):
        if run.records and not run.state.finished:
            return run
    return None


def _compare_spec(order: RunOrder, fail_on_new: bool) -> str | None:
    """What the run is compared with, chosen when it is ordered as CI mode chooses it before its
    run starts (the verdict under fail_on: new is decided once): the order's, else ``latest``
    under fail_on: new; None: no comparison was asked for."""
    return order.compare_to or ("latest" if fail_on_new else None)


def compared_run(control: Control, project_id: int, spec: str | None, build_id: str | None) -> TestRun | None:
    """The run of the project a new run is compared with: ``spec``'s id (NotFoundError when it is
    not the project's), or for ``latest`` the newest finished (passed or failed) run of the project,
    of ``build_id`` when it has one (CI mode's rule, :func:`lunge.node.reporting.previous_run`);
    None without ``spec``, for ``none``, or when no run finished yet (the first build: every
    finding is new)."""
    if not spec or spec.strip().lower() == NO_RUN:
        return None
    if spec.strip().lower() == "latest":
        finished = control.projects.list_runs(project_id, 1000, 0, (RunState.PASSED, RunState.FAILED))
        same_build = [r for r in finished if build_id and r.build_id == build_id]
        candidates = same_build or finished
        return candidates[0] if candidates else None
    run_id = parse_id(spec)
    if run_id is None or control.projects.run_owner(run_id) != project_id:
        raise NotFoundError(f"compare_to: no test run {spec} in this project to compare with")
    return control.store.get_run(run_id)


def copy(control: Control, project_id: int, run_id: int, name: str | None, policy: int | str | None,
         compare_to: str | None = None) -> TestRun:
    """A new run over the same record as ``run_id`` (FAST's "create similar test run"), with another
    policy when given, compared with the same run as the copied one unless told otherwise (a copy
    judged against another build's findings would not be the same test). A closed record's
    baselines never change, so nothing is copied: FAST's ``cloning`` state has nothing to wait for."""
    source = get(control, project_id, run_id)
    order = dict(source.stats.get("order") or {})
    if source.records and control.store.get_record(source.record_id).state is RecordState.RECORDING:
        raise ConflictError(f"test record rec_{source.record_id:04d} is still recording: stop it first "
                            "(not ready for cloning)")
    keep_policy = policy is None
    return create(control, project_id, RunOrder(
        name=name or f"{source.name} (copy)", description=source.description,
        policy=(order.get("policy_id") or source.policy_name) if keep_policy else policy,
        record=source.record_id, build_id=source.build_id, rps=order.get("rps"),
        stop_on_first_fail=bool(order.get("stop_on_first_fail")), target=source.target,
        compare_to=compare_to or _kept(order)))


def _kept(order: dict[str, Any]) -> str | None:
    """The run a run was ordered to be compared with, as an order names it: its id; ``none`` when
    a comparison was asked for and there was no run (the first build: a copy must not take a later
    run instead); None when none was asked for (the copy's policy decides)."""
    if order.get("compare_to") is not None:
        return str(order["compare_to"])
    return NO_RUN if order.get(COMPARED) else None


def get(control: Control, project_id: int, run_id: int) -> TestRun:
    if control.projects.run_owner(run_id) != project_id:
        raise NotFoundError(f"no test run {run_id}")
    return control.store.get_run(run_id)


def act(control: Control, project_id: int, run_id: int, action: str) -> TestRun:
    """Apply ``pause``, ``resume`` or ``interrupt``; ConflictError when the state does not allow it."""
    run = get(control, project_id, run_id)
    allowed_from, to = ACTIONS[action]
    if to is RunState.INTERRUPTED and run.records:
        # Only a run still unclaimed at the compare-and-set has its record closed here: a node that
        # claimed it since it was read is recording into it, and closes it once that is stored.
        unclaimed = control.projects.transition_run(run.id, (RunState.CREATED,), to)
        if unclaimed is not None:
            control.store.close_record(run.record_id, stats={"stopped_by": "interrupt"})  # no node ever recorded it
            return unclaimed
    changed = control.projects.transition_run(run.id, allowed_from, to)
    if changed is None:
        now = control.store.get_run(run.id).state.value
        raise ConflictError(f"test run {run.label} is {now}: {action} needs it "
                            + " or ".join(s.value for s in allowed_from))
    return changed


def allowed_actions(state: RunState) -> list[str]:
    return [name for name, (sources, _) in ACTIONS.items() if state in sources]


def view(control: Control, run: TestRun) -> dict[str, Any]:
    """The run with FAST-style counters: baselines total / tested / not tested, requests, findings by
    severity, the actions its state allows."""
    by_severity: Counter[str] = Counter(f.severity.value for f in control.store.iter_findings(run.id))
    out = run_section(run)
    out.update({
        "allowed_actions": allowed_actions(run.state), "finished": run.state.finished,
        "exit_code": exit_code(run.state),
        "findings_by_severity": {s: by_severity.get(s, 0) for s in SEVERITY_ORDER},
    })
    out.update(_live_counters(control, run))
    out.update(recording_flags(control, run))
    return out


def _live_counters(control: Control, run: TestRun) -> dict[str, Any]:
    """Baselines tested / not tested / remaining and requests, live while the run is unfinished (its
    row has them when it ends or a shard commits; its test sets are stored as it goes), and FAST's
    speed fields: ``current_rps`` (None unless running), ``avg_rps``, ``estimated_time_to_completion``."""
    tested, not_tested, sent = run.baselines_tested, run.baselines_not_tested, run.requests_sent
    if not run.state.finished:
        live = control.store.test_set_totals(run.id)
        tested, not_tested = max(tested, live.tested), max(not_tested, live.not_tested)
        sent = max(sent, live.requests_sent)
    remaining = max(0, run.baselines_total - tested - not_tested)
    current = None
    if run.state is RunState.RUNNING:
        current = control.rates.observe(run.id, sent)
    else:
        control.rates.forget(run.id)
    end = run.finished_at or datetime.now(UTC)
    elapsed = (end - run.started_at).total_seconds() if run.started_at else 0.0
    return {"baselines_tested": tested, "baselines_not_tested": not_tested, "baselines_remaining": remaining,
            "requests_sent": sent, "current_rps": None if current is None else round(current, 1),
            "avg_rps": round(sent / elapsed, 1) if elapsed > 0 else None,
            "estimated_time_to_completion": eta_seconds(current, sent, tested + not_tested, remaining)}


def recording_flags(control: Control, run: TestRun) -> dict[str, Any]:
    """FAST's recording fields: ``recording`` (the run's record is still being recorded and no stop
    was asked), ``ready_for_recording`` and ``node_active`` (a node holds the run and its proxy
    stores into the record: send the traffic now), ``test_record_id``."""
    recording = (run.records and not run.state.finished and not run.stats.get(RECORDING_STOP)
                 and control.store.get_record(run.record_id).state is RecordState.RECORDING)
    attached = recording and bool(run.stats.get(RECORDING_ATTACHED))
    return {"recording": recording, "ready_for_recording": attached,
            "node_active": attached or (run.state in (RunState.RUNNING, RunState.PAUSED)),
            "test_record_id": run.record_id, "inactivity_timeout": (run.stats.get("order") or {}).get(
                "inactivity_timeout")}


def exit_code(state: RunState) -> int | None:
    """What ``lunge runs wait`` exits with: 0 passed, 1 failed / error / interrupted, None unfinished."""
    if not state.finished:
        return None
    return 0 if state is RunState.PASSED else 1


def listing(control: Control, project_id: int, limit: int, offset: int,
            states: list[RunState]) -> list[dict[str, Any]]:
    return [run_section(r) for r in control.projects.list_runs(project_id, limit, offset, states)]


def findings(control: Control, project_id: int, run_id: int, limit: int, offset: int) -> list[dict[str, Any]]:
    get(control, project_id, run_id)
    out = []
    for i, finding in enumerate(control.store.iter_findings(run_id)):
        if i >= offset + limit:
            break
        if i >= offset:
            out.append(finding_view(finding))
    return out


def test_sets_page(control: Control, project_id: int, run_id: int, after_baseline: int,
                   limit: int) -> dict[str, Any]:
    """One page of the run's per-baseline outcomes, by baseline id after ``after_baseline``."""
    get(control, project_id, run_id)
    page: list[dict[str, Any]] = []
    for test_set in control.store.iter_test_sets(run_id):  # streamed in baseline id order
        if test_set.baseline_id <= after_baseline:
            continue
        if len(page) == limit:
            return {"objects": page, "next_after_baseline": page[-1]["baseline_id"]}
        page.append(test_set_section(test_set))
    return {"objects": page, "next_after_baseline": None}


def finding(control: Control, project_id: int, finding_id: int) -> Finding:
    found = control.store.get_finding(finding_id)
    if control.projects.run_owner(found.run_id) != project_id:
        raise NotFoundError(f"no finding {finding_id}")
    return found


def finding_view(found: Finding) -> dict[str, Any]:
    """The finding with its evidence; the evidence is masked again here (the engine masks the
    attack request when it stores it: this is the second fence, for the response excerpt too)."""
    out = finding_section(found)
    out["run_id"] = found.run_id
    evidence = out["evidence"]
    for key in ("attack_request", "response_excerpt"):
        evidence[key] = mask_secrets(evidence[key])
    return out
