"""The dashboard in a real headless Chromium against a real ``lunge serve``: sign in by typing the
token, every page renders, navigation by clicking works, a running run's progress changes on the
page while the run's counters change in the store, a new finding and the run's end show without a
manual reload, the policy editor shows a validation error, and no page logs a console error (a CSP
violation is one). Screenshots are kept (LUNGE_TEST_ARTIFACTS, else the test's tmp dir)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from lunge.checks.base import Severity
from lunge.control.context import Control
from lunge.control.services import policies
from lunge.store.models import TestSet, TestSetStatus
from tests.control.conftest import seed_record, seed_run_with_finding, tenant
from tests.fixtures.browser import Page, artefact_dir, browser_path, chromium
from tests.store import factories

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)]


def _seed(control: Control) -> dict[str, int | str]:
    """A project with a finished run (one finding, baseline outcomes), a running run taken by a
    node, and a stored policy."""
    team = tenant(control, "shop")
    record = seed_record(control, team.project_id, count=6, build_id="build-42")
    done = seed_run_with_finding(control, team.project_id, record)
    control.store.update_run(done.id, build_id="build-42", baselines_tested=6, baselines_not_tested=1,
                             requests_sent=310, started_at=datetime(2026, 12, 5, 6, 0, tzinfo=UTC),
                             finished_at=datetime(2026, 12, 5, 6, 2, tzinfo=UTC))
    baselines = list(control.store.iter_baselines(record.id))
    control.store.add_test_sets(
        [TestSet(done.id, b.id, TestSetStatus.PASSED, requests_sent=50, points_tested=3) for b in baselines[1:6]]
        + [TestSet(done.id, baselines[0].id, TestSetStatus.FAILED, requests_sent=60, findings_count=1,
                   points_tested=2),
           TestSet(done.id, baselines[6].id, TestSetStatus.NOT_TESTED, "401 on replay (recorded 200)")])
    running = control.store.create_run(name="nightly build-43", record_id=record.id, policy_name="default",
                                       build_id="build-43")
    control.projects.assign_run(running.id, team.project_id)
    control.store.update_run(running.id, state="running", baselines_total=record.baseline_count,
                             started_at=datetime.now(UTC))
    node = control.projects.register_node(team.project_id, "ci-runner-1", "build-43")
    control.projects.heartbeat(team.project_id, node.id, "testing", running.id)
    policy = policies.create(control, team.project_id, "name: strict\nchecks: [sqli, xss]\n")
    return {"token": team.token, "project": team.project_id, "running": running.id, "done": done.id,
            "record": record.id, "baseline": baselines[0].id, "policy": policy.id}


async def _text(page: Page, selector: str) -> str:
    text = await page.eval(f"(document.querySelector({selector!r}) || {{textContent: ''}}).textContent")
    return " ".join(str(text).split())


async def test_the_dashboard_in_chromium(server: str, control: Control, tmp_path: Path) -> None:
    browser_path()
    ids = _seed(control)
    shots = artefact_dir(tmp_path)
    async with chromium() as page:
        await page.open(f"{server}/dashboard/runs", height=900)  # signed out: the sign-in form
        assert await page.eval("location.pathname") == "/dashboard/signin"
        await page.click("#token", navigates=False)
        await page.send("Input.insertText", text=str(ids["token"]))
        await page.screenshot(shots / "dashboard-signin.png")
        await page.click("#signin")
        assert await page.eval("location.pathname") == "/dashboard/runs"
        assert await _text(page, "#project") == "shop"
        assert await page.eval("document.querySelectorAll('#runs tbody tr').length") == 2
        running_row = f"#runs tr[data-run=\"{ids['running']}\"]"
        assert await _text(page, running_row + " .progress") == "0/7"

        # the run advances (as a node's engine would write it): the list follows without a reload
        control.store.update_run(int(ids["running"]), baselines_tested=3, requests_sent=120)
        await page.wait_until(f"document.querySelector('{running_row} [data-field=baselines_done]')"
                              ".textContent === '3'")
        assert await page.eval(f"document.querySelector('{running_row} progress').value") == 43
        await page.screenshot(shots / "dashboard-runs.png")

        await page.click(f"{running_row} a")
        assert await page.eval("location.pathname") == f"/dashboard/runs/{ids['running']}"
        assert await _text(page, "#run-state") == "running"
        control.store.update_run(int(ids["running"]), baselines_tested=5, baselines_not_tested=1, requests_sent=220)
        await page.wait_until("document.querySelector('#run [data-field=baselines_not_tested]').textContent === '1'")
        assert await _text(page, "#run .progress") == "6/7"
        assert await _text(page, "#run [data-field=requests_sent]") == "220"
        await page.screenshot(shots / "dashboard-run-live.png")

        # a finding is stored: the page loads again by itself and lists it
        reloaded = page.next_load()
        control.store.add_findings([factories.finding(int(ids["running"]), int(ids["baseline"]), Severity.CRITICAL,
                                                      n=9)])
        await reloaded.wait()
        assert "SQL injection 9" in await _text(page, "#findings")
        # the run ends: the state shows and the actions go
        reloaded = page.next_load()
        control.store.update_run(int(ids["running"]), state="failed", baselines_tested=6,
                                 finished_at=datetime.now(UTC))
        await reloaded.wait()
        assert await _text(page, "#run-state") == "failed"
        assert await page.eval("document.querySelectorAll('.actions button').length") == 0
        await page.screenshot(shots / "dashboard-run-finished.png")

        # a finished run: its baselines with the reasons, then a finding's evidence
        await page.click("header nav a[href='/dashboard/runs']")
        await page.click(f"#runs tr[data-run=\"{ids['done']}\"] a")
        assert "not tested because 401 on replay (recorded 200)" in await _text(page, "#baselines")
        await page.screenshot(shots / "dashboard-run.png")
        await page.click("#findings tbody a")
        assert await page.eval("document.querySelector('#response mark').textContent") == "SQL syntax"
        assert (await _text(page, "#curl")).startswith("curl --path-as-is -g -X GET")
        await page.click("button.copy", navigates=False)
        assert await page.wait_until("document.querySelector('button.copy').textContent !== 'Copy'")
        await page.screenshot(shots / "dashboard-finding.png")

        await page.click("header nav a[href='/dashboard/records']")
        await page.click("#records tbody a")
        assert await page.eval("document.querySelectorAll('#baselines tbody tr').length") == 7
        assert "password=****" in await _text(page, "#baselines")
        await page.screenshot(shots / "dashboard-record.png")

        await page.click("header nav a[href='/dashboard/nodes']")
        nodes = await _text(page, "#nodes")
        assert "ci-runner-1" in nodes and "online" in nodes and "nightly build-43" in nodes
        await page.screenshot(shots / "dashboard-nodes.png")

        await page.click("header nav a[href='/dashboard/policies']")
        await page.click("#policies tbody a")
        await page.eval("document.querySelector('#source').value = 'name: strict\\nchecks: [sqli, nonsense]\\n'")
        await page.click("#save")
        assert "nonsense" in await _text(page, "#error")
        assert "nonsense" in await page.eval("document.querySelector('#source').value")
        await page.screenshot(shots / "dashboard-policy-error.png")
        stored = control.projects.get_policy(int(ids["project"]), int(ids["policy"]))
        assert stored.source == "name: strict\nchecks: [sqli, xss]\n"

        await page.click("#signout")
        assert await page.eval("location.pathname") == "/dashboard/signin"
        assert page.problems == []
