"""The dashboard over HTTP: sign-in and sign-out, every page with its data, the security headers,
CSRF, escaping, the policy editor's validation; and that every dashboard route refuses a request
without a session and keeps another project's data out of reach (the routes are walked from the
application, so routes added later are covered too)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from importlib.resources import files

from fastapi.testclient import TestClient

import lunge.control.dashboard.routes as dashboard_routes_package
from lunge.control.context import Control
from lunge.control.services.tenancy import issue_token
from lunge.store.models import TestSet, TestSetStatus
from tests.control.conftest import seed_record, seed_run_with_finding, tenant

MARK = "victim-private-7f3a"
POLICY = "name: strict\nchecks: [sqli]\n"


def sign_in(client: TestClient, token: str) -> str:
    """Sign ``client`` in with ``token``; the session's CSRF value (from the page it lands on)."""
    form = client.get("/dashboard/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert form.status_code == 200 and csrf
    answer = client.post("/dashboard/signin", data={"csrf": csrf[1], "token": token}, follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/runs", answer.text
    return csrf_of(client.get("/dashboard/runs").text)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found[1]


def _victim(client: TestClient, control: Control) -> dict[str, int | str]:
    victim = tenant(control, MARK)
    record = seed_record(control, victim.project_id)
    run = seed_run_with_finding(control, victim.project_id, record)
    control.store.update_run(run.id, build_id=MARK)
    policy = client.post("/v1/test_policy", json={"policy": f"name: {MARK}\n"}, headers=victim.headers).json()
    node = client.post("/v1/nodes", json={"name": MARK}, headers=victim.headers).json()
    finding = next(iter(control.store.iter_findings(run.id)))
    return {"token": victim.token, "project_id": victim.project_id, "record_id": record.id, "run_id": run.id,
            "policy_id": policy["id"], "node_id": node["id"], "finding_id": finding.id, "action": "interrupt"}


def dashboard_routes() -> list[tuple[str, str]]:
    """(method, path) of every route of every router module in ``lunge.control.dashboard.routes``."""
    out = []
    for module in pkgutil.iter_modules(dashboard_routes_package.__path__):
        router = importlib.import_module(f"{dashboard_routes_package.__name__}.{module.name}").router
        for route in router.routes:
            out += [(method, route.path) for method in sorted(route.methods) if method != "HEAD"]
    return out


def test_sign_in_and_every_page(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, build_id="b-77")
    run = seed_run_with_finding(control, team.project_id, record)
    control.store.update_run(run.id, build_id="b-77", baselines_tested=3, baselines_not_tested=1)
    finding = next(iter(control.store.iter_findings(run.id)))
    first, second = list(control.store.iter_baselines(record.id))[:2]
    control.store.add_test_sets([TestSet(run.id, first.id, TestSetStatus.FAILED, requests_sent=40, findings_count=1,
                                         points_tested=2),
                                 TestSet(run.id, second.id, TestSetStatus.NOT_TESTED, "401 on replay (recorded 200)")])
    node = control.projects.register_node(team.project_id, "ci-runner-1", "b-77")
    control.projects.heartbeat(team.project_id, node.id, "testing", run.id)
    assert client.get("/dashboard/runs", follow_redirects=False).headers["location"] == "/dashboard/signin"
    sign_in(client, team.token)

    runs = client.get("/dashboard/runs")
    assert runs.status_code == 200 and f"run of {team.project_id}" in runs.text and "b-77" in runs.text
    assert 'data-severity="high">1<' in runs.text and 'value="100"' in runs.text  # 4 of 4 baselines done
    page = client.get(f"/dashboard/runs/{run.id}")
    assert page.status_code == 200 and "SQL injection 0" in page.text
    assert f"/dashboard/findings/{finding.id}" in page.text and f"bl_{first.id}" in page.text
    assert "not tested because 401 on replay (recorded 200)" in page.text and "1: sqli-error" in page.text
    evidence = client.get(f"/dashboard/findings/{finding.id}")
    assert evidence.status_code == 200
    assert "You have an error in your <mark>SQL syntax</mark>" in evidence.text
    assert "curl --path-as-is -g -X GET" in evidence.text and "a second payload gave the same error" in evidence.text
    assert "no earlier finished run to compare with" in evidence.text
    records = client.get("/dashboard/records")
    assert records.status_code == 200 and record.label in records.text
    baselines = client.get(f"/dashboard/records/{record.id}")
    assert baselines.status_code == 200 and "/items/0?q=0" in baselines.text
    assert "hunter2" not in baselines.text and "password=****" in baselines.text  # secrets masked, as the API does
    nodes = client.get("/dashboard/nodes")
    assert "ci-runner-1" in nodes.text and ">online<" in nodes.text and f"/dashboard/runs/{run.id}" in nodes.text
    assert client.get("/dashboard/policies").status_code == 200
    live = client.get(f"/dashboard/live/runs/{run.id}").json()
    assert live["baselines_done"] == 4 and live["findings_by_severity"]["high"] == 1 and live["state"] == "failed"
    assert client.get(f"/dashboard/live/runs?ids={run.id}").json()["objects"][0]["id"] == run.id
    assert client.get("/dashboard", follow_redirects=False).headers["location"] == "/dashboard/runs"


def test_a_finding_shows_its_diff_state_against_the_previous_finished_run(client: TestClient,
                                                                          control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    seed_run_with_finding(control, team.project_id, record)
    second = seed_run_with_finding(control, team.project_id, record)  # the same fingerprint again
    finding = next(iter(control.store.iter_findings(second.id)))
    sign_in(client, team.token)
    page = client.get(f"/dashboard/findings/{finding.id}").text
    assert 'id="diff-state">still present<' in page
    assert "diff-still_present" in client.get(f"/dashboard/runs/{second.id}").text


def test_a_finding_is_compared_with_the_run_its_order_chose(client: TestClient, control: Control) -> None:
    """A run ordered with ``compare_to`` (fail_on: new) shows the diff its verdict and reports used,
    not the diff against whichever run finished last."""
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    chosen = seed_run_with_finding(control, team.project_id, record)
    clean = control.store.create_run(name="clean", record_id=record.id, policy_name="default")
    control.projects.assign_run(clean.id, team.project_id)
    control.store.update_run(clean.id, state="passed")  # the previous finished run: it found nothing
    third = seed_run_with_finding(control, team.project_id, record)
    finding = next(iter(control.store.iter_findings(third.id)))
    sign_in(client, team.token)
    assert 'id="diff-state">new<' in client.get(f"/dashboard/findings/{finding.id}").text
    control.store.update_run(third.id, stats={"order": {"compare_to": chosen.id}})
    page = client.get(f"/dashboard/findings/{finding.id}").text
    assert 'id="diff-state">still present<' in page and f"still present since {chosen.label}" in page


def test_security_headers_and_cookie_flags(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    form = client.get("/dashboard/signin")
    answer = client.post("/dashboard/signin", data={"csrf": csrf_of(form.text), "token": team.token},
                         follow_redirects=False)
    cookie = answer.headers["set-cookie"].lower()
    assert "lunge_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "path=/dashboard" in cookie
    for path in ("/dashboard/runs", "/dashboard/signin", "/dashboard/static/dashboard.js", "/dashboard/nope"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp, path
        assert headers["x-frame-options"] == "DENY" and headers["x-content-type-options"] == "nosniff", path
    assert client.get("/dashboard/runs").headers["cache-control"] == "no-store"
    assert "content-security-policy" not in client.get("/healthz").headers  # the API is left as it was
    page = client.get("/dashboard/runs").text
    assert "<script>" not in page and "<script src=\"/dashboard/static/dashboard.js\" defer></script>" in page
    assert " style=" not in page and "<style" not in page and " on" + "click=" not in page


def test_every_dashboard_route_needs_a_session_and_stays_inside_its_project(client: TestClient,
                                                                             control: Control) -> None:
    ids = _victim(client, control)
    routes = dashboard_routes()
    assert len(routes) >= 15
    public = {("GET", "/dashboard/signin"), ("POST", "/dashboard/signin")}
    anonymous = TestClient(client.app)
    intruder_client = TestClient(client.app)
    intruder = tenant(control, "intruder")
    seed_record(control, intruder.project_id)
    csrf = sign_in(intruder_client, intruder.token)
    assert intruder_client.get(f"/dashboard/live/runs?ids={ids['run_id']}").json() == {"objects": []}
    # signing out last: the intruder's session walks every other route first
    for n, (method, template) in enumerate(sorted(routes, key=lambda r: r[1] == "/dashboard/signout")):
        if (method, template) in public:
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), template)
        refused = anonymous.request(method, path, data={"csrf": "x", "source": "name: p\n"}, follow_redirects=False)
        if path.startswith("/dashboard/live/"):
            assert refused.status_code == 401, (method, path, refused.status_code)
        else:
            assert refused.status_code == 303 and refused.headers["location"] == "/dashboard/signin", (method, path)
        other = intruder_client.request(method, path, data={"csrf": csrf, "source": f"name: probe-{n}\n"},
                                        follow_redirects=False)
        if "{" in template:
            assert other.status_code == 404 and MARK not in other.text, (method, path, other.status_code)
        else:
            assert other.status_code in (200, 303) and MARK not in other.text, (method, path, other.status_code)
    assert intruder_client.get("/dashboard/runs", follow_redirects=False).status_code == 303  # signed out
    # the victim's data is untouched by the intruder's POSTs
    assert control.store.get_run(int(ids["run_id"])).state.value == "failed"
    assert control.projects.get_policy(int(ids["project_id"]), int(ids["policy_id"])).name == MARK


def test_routes_are_left_out_of_the_openapi_document(client: TestClient) -> None:
    document = client.get("/v1/openapi.json").json()
    assert not [p for p in document["paths"] if p.startswith("/dashboard")]


def test_state_changing_forms_need_the_sessions_csrf_token(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id, close=True)
    run = control.store.create_run(name="waiting", record_id=record.id, policy_name="default")
    control.projects.assign_run(run.id, team.project_id)
    policy = client.post("/v1/test_policy", json={"policy": POLICY}, headers=team.headers).json()
    csrf = sign_in(client, team.token)
    for fields in ({}, {"csrf": ""}, {"csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}):
        for path in (f"/dashboard/runs/{run.id}/action/interrupt", f"/dashboard/policies/{policy['id']}",
                     f"/dashboard/policies/{policy['id']}/delete", "/dashboard/signout"):
            answer = client.post(path, data={**fields, "source": "name: changed\n"}, follow_redirects=False)
            assert answer.status_code == 403, (path, fields, answer.status_code)
            assert "expired or was not sent from this dashboard" in answer.text
    assert control.store.get_run(run.id).state.value == "created"
    assert control.projects.get_policy(team.project_id, policy["id"]).source == POLICY
    assert client.get("/dashboard/runs").status_code == 200  # still signed in
    # with the token: the action happens, and signing out ends the session
    done = client.post(f"/dashboard/runs/{run.id}/action/interrupt", data={"csrf": csrf}, follow_redirects=False)
    assert done.status_code == 303 and control.store.get_run(run.id).state.value == "interrupted"
    out = client.post("/dashboard/signout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/dashboard/signin"
    assert client.get("/dashboard/runs", follow_redirects=False).status_code == 303


def test_sign_in_refusals(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    form = client.get("/dashboard/signin")
    no_cookie = TestClient(client.app).post("/dashboard/signin", data={"csrf": csrf_of(form.text),
                                                                         "token": team.token})
    assert no_cookie.status_code == 403 and "lunge_session" not in no_cookie.headers.get("set-cookie", "")
    wrong = client.post("/dashboard/signin", data={"csrf": csrf_of(form.text), "token": "lunge_" + "x" * 43})
    assert wrong.status_code == 401 and "Unknown or revoked token" in wrong.text
    admin = client.post("/dashboard/signin", data={"csrf": csrf_of(wrong.text), "token": control.config.admin_token})
    assert admin.status_code == 403 and "admin token reaches no project" in admin.text


def test_a_revoked_token_ends_its_sessions(client: TestClient, control: Control) -> None:
    project = control.projects.ensure_project("team")
    issued = issue_token(control, project, "dashboard")
    sign_in(client, issued.secret)
    assert client.get("/dashboard/runs").status_code == 200
    control.projects.revoke_token(project.id, issued.token.id)
    assert client.get("/dashboard/runs", follow_redirects=False).headers["location"] == "/dashboard/signin"
    assert client.get("/dashboard/live/runs?ids=1").status_code == 401


def test_policy_editor_validates_and_keeps_the_old_policy_on_error(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    policy = client.post("/v1/test_policy", json={"policy": POLICY}, headers=team.headers).json()
    csrf = sign_in(client, team.token)
    path = f"/dashboard/policies/{policy['id']}"
    shown = client.get(path)
    assert "checks: [sqli]" in shown.text
    bad = "name: strict\nchecks: [sqli, no-such-check]\n"
    answer = client.post(path, data={"csrf": csrf, "source": bad})
    assert answer.status_code == 200 and 'id="error"' in answer.text and "no-such-check" in answer.text
    assert "checks: [sqli, no-such-check]" in answer.text  # what the user typed is kept in the editor
    broken = client.post(path, data={"csrf": csrf, "source": "name: [unclosed\n"})
    assert 'id="error"' in broken.text and "line" in broken.text
    assert control.projects.get_policy(team.project_id, policy["id"]).source == POLICY
    saved = client.post(path, data={"csrf": csrf, "source": "name: strict\r\nchecks: [xss]\r\n"})
    assert 'id="saved"' in saved.text and 'id="error"' not in saved.text
    assert control.projects.get_policy(team.project_id, policy["id"]).source == "name: strict\nchecks: [xss]\n"
    created = client.post("/dashboard/policies", data={"csrf": csrf, "source": "name: second\n"},
                          follow_redirects=False)
    assert created.status_code == 303
    taken = client.post("/dashboard/policies", data={"csrf": csrf, "source": "name: second\n"})
    assert 'id="error"' in taken.text and "already has a policy named" in taken.text
    new_id = int(created.headers["location"].rsplit("/", 1)[1])
    gone = client.post(f"/dashboard/policies/{new_id}/delete", data={"csrf": csrf}, follow_redirects=False)
    assert gone.status_code == 303 and client.get(f"/dashboard/policies/{new_id}").status_code == 404


def test_recorded_text_is_escaped(client: TestClient, control: Control) -> None:
    team = tenant(control, "team")
    record = seed_record(control, team.project_id)
    run = control.store.create_run(name="<script>alert(1)</script>\u202eevil\x1b[31m", record_id=record.id,
                                   policy_name="default", description="<img src=x onerror=alert(1)>")
    control.projects.assign_run(run.id, team.project_id)
    sign_in(client, team.token)
    for path in ("/dashboard/runs", f"/dashboard/runs/{run.id}"):
        text = client.get(path).text
        assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        assert "\u202e" not in text and "\\u202eevil\\u001b[31m" in text
    assert "<img src=x" not in client.get(f"/dashboard/runs/{run.id}").text


def _referenced_templates() -> set[str]:
    """Every template name the dashboard's code and templates name (pages, extends, imports)."""
    package = files("lunge.control.dashboard")
    texts = [package.joinpath("__init__.py").read_text("utf-8")]
    texts += [f.read_text("utf-8") for f in package.joinpath("routes").iterdir() if f.name.endswith(".py")]
    texts += [f.read_text("utf-8") for f in package.joinpath("templates").iterdir() if f.name.endswith(".j2")]
    return {name for text in texts for name in re.findall(r"[\"']([\w]+\.html\.j2)[\"']", text)}


def test_templates_and_static_files_ship_in_the_package() -> None:
    """Read through importlib.resources, as the installed wheel is (hatch packages src/lunge whole)."""
    package = files("lunge.control.dashboard")
    referenced = _referenced_templates()
    assert {"base.html.j2", "run.html.j2", "finding.html.j2", "signin.html.j2"} <= referenced
    for name in referenced:
        assert "{%" in package.joinpath("templates", name).read_text("utf-8"), name
    static = package.joinpath("static")
    assert "fetch(" in static.joinpath("dashboard.js").read_text("utf-8")
    assert "--critical" in static.joinpath("dashboard.css").read_text("utf-8")
