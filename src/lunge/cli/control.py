"""The commands around the control plane, registered into ``lunge`` by one line of ``cli.py``:
``lunge serve``, ``lunge db upgrade``, ``lunge token create`` (on the server, against its
database) and ``lunge runs create|show|wait|list`` (pipelines, against the REST API). ``lunge runs``
alone still lists the local store's runs, as it always did.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from lunge.cli.output import JsonFlag, console, print_json
from lunge.node.settings import api_settings, serve_settings, store_settings

control_app = typer.Typer()  # nameless: its commands and groups join the root app
db_app = typer.Typer(help="The database: bring its schema up to date.", no_args_is_help=True)
token_app = typer.Typer(help="Project tokens of the control plane.", no_args_is_help=True)
runs_app = typer.Typer(help="Test runs: alone, list the local store's runs; create|show|wait|list talk to the "
                       "control plane (LUNGE_API_URL, LUNGE_API_TOKEN).", invoke_without_command=True)
control_app.add_typer(db_app, name="db")
control_app.add_typer(token_app, name="token")
control_app.add_typer(runs_app, name="runs")

# Safe: names and recorded data never reach the terminal with their control characters.
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite file (LUNGE_DB).")]
DataDirOption = Annotated[str | None, typer.Option("--data-dir", help="lunge's data directory (LUNGE_DATA_DIR).")]
ApiUrl = Annotated[str | None, typer.Option("--api-url", help="The control plane (LUNGE_API_URL, WALLARM_API_HOST).",
                                            rich_help_panel="Control plane")]
ApiToken = Annotated[str | None, typer.Option("--token", help="A project token (LUNGE_API_TOKEN, WALLARM_API_TOKEN).",
                                              rich_help_panel="Control plane")]
RunId = Annotated[str, typer.Argument(metavar="RUN_ID", help="e.g. 7 or run_0007")]




# ---------------------------------------------------------------------- server side
@control_app.command("serve")
def serve_command(
    bind: Annotated[str | None, typer.Option("--bind", help="Address (LUNGE_SERVE_BIND, default 127.0.0.1).")] = None,
    port: Annotated[str | None, typer.Option("--port", help="Port (LUNGE_SERVE_PORT, default 8000).")] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run the control plane: the REST API under /v1 (docs at /v1/docs), migrating the database first."""
    from lunge.control.server import serve
    from lunge.node.shards import conclude

    serve(serve_settings({"bind": bind, "port": port, "db": db, "data_dir": data_dir}), verdict=conclude)


@db_app.command("upgrade")
def db_upgrade_command(db: DbOption = None, data_dir: DataDirOption = None, as_json: JsonFlag = False) -> None:
    """Migrate the database (LUNGE_DB) to this lunge's schema; lunge serve does it at start too."""
    from lunge.control.context import upgrade_database
    from lunge.store.sql.migrate import head_revision

    label = upgrade_database(store_settings({"db": db, "data_dir": data_dir}, remote=False).url)
    document = {"database": label, "revision": head_revision()}
    print_json(document) if as_json else console.print(f"{label}: schema at {document['revision']}")


@token_app.command("create")
def token_create_command(
    project: Annotated[str, typer.Option("--project", help="The project (created when absent).")],
    name: Annotated[str, typer.Option("--name", help="What the token is for, e.g. ci.")] = "cli",
    db: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token of a project and print it once (only its hash is stored)."""
    from lunge.control.config import ControlConfig
    from lunge.control.context import open_control
    from lunge.control.services.tenancy import issue_token, token_view

    control = open_control(ControlConfig(db_url=store_settings({"db": db, "data_dir": data_dir}, remote=False).url))
    try:
        issued = issue_token(control, control.projects.ensure_project(project), name)
    finally:
        control.close()
    if as_json:
        print_json(token_view(issued))
        return
    sys.stderr.write(f"token {issued.token.id} of project {project!r} (shown once; keep it secret):\n")
    sys.stdout.write(issued.secret + "\n")


@token_app.command("list")
def token_list_command(
    project: Annotated[str, typer.Option("--project", help="The project.")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonFlag = False,
) -> None:
    """List a project's tokens (never their secrets)."""
    from lunge.control.config import ControlConfig
    from lunge.control.context import open_control
    from lunge.control.services.tenancy import token_view

    control = open_control(ControlConfig(db_url=store_settings({"db": db, "data_dir": data_dir}, remote=False).url))
    try:
        listed = [token_view(t) for t in control.projects.list_tokens(control.projects.project_named(project).id)]
    finally:
        control.close()
    if as_json:
        print_json(listed)
        return
    table = Table(title=f"tokens of {project}", title_justify="left")
    for column in ("id", "name", "prefix", "created", "revoked"):
        table.add_column(column)
    for t in listed:
        table.add_row(str(t["id"]), str(t["name"]), f"lunge_{t['prefix']}…", str(t["created_at"]),
                      str(t["revoked_at"] or ""))
    console.print(table)


@token_app.command("revoke")
def token_revoke_command(
    token_id: Annotated[int, typer.Argument(metavar="TOKEN_ID", help="The id lunge token list shows.")],
    project: Annotated[str, typer.Option("--project", help="The project.")],
    db: DbOption = None,
    data_dir: DataDirOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Revoke a token: it authenticates nothing afterwards."""
    from lunge.control.config import ControlConfig
    from lunge.control.context import open_control
    from lunge.control.services.tenancy import token_view

    control = open_control(ControlConfig(db_url=store_settings({"db": db, "data_dir": data_dir}, remote=False).url))
    try:
        revoked = control.projects.revoke_token(control.projects.project_named(project).id, token_id)
    finally:
        control.close()
    print_json(token_view(revoked)) if as_json else console.print(f"token {token_id} of {project} revoked")


# ---------------------------------------------------------------------- lunge runs
@runs_app.callback()
def runs_command(ctx: typer.Context, db: DbOption = None, data_dir: DataDirOption = None,
                 as_json: JsonFlag = False) -> None:
    """List the local store's test runs, newest first (with a subcommand: the control plane's)."""
    if ctx.invoked_subcommand is not None:
        return
    from lunge.node.runs import list_runs, runs_table

    runs = list_runs({"db": db, "data_dir": data_dir})
    print_json(runs) if as_json else console.print(runs_table(runs))


def _client(api_url: str | None, token: str | None) -> Any:
    from lunge.node.apiclient import ApiClient

    return ApiClient(api_settings({"api_url": api_url, "token": token}))


def _run_id(text: str) -> int:
    from lunge.errors import SettingError
    from lunge.store.models import parse_id

    run_id = parse_id(text)
    if run_id is None:
        raise SettingError("RUN_ID", text, "a run id such as 7 or run_0007")
    return run_id


@runs_app.command("create")
def runs_create_command(
    name: Annotated[str, typer.Option("--name", help="Test run name (TEST_RUN_NAME).", envvar="TEST_RUN_NAME")],
    desc: Annotated[str, typer.Option("--desc", help="Description (TEST_RUN_DESC).", envvar="TEST_RUN_DESC")] = "",
    policy: Annotated[str | None, typer.Option("--policy", help="A policy id of the project or a built-in name "
                                               "(TEST_RUN_POLICY_ID).", envvar="TEST_RUN_POLICY_ID")] = None,
    record: Annotated[str | None, typer.Option(
        "--record", envvar="TEST_RECORD_ID",
        help="Record id (TEST_RECORD_ID), or 'latest' (the latest of BUILD_ID); default: none, the node taking the "
             "run records a new one from the traffic proxied through it and tests it as it arrives.")] = None,
    record_name: Annotated[str | None, typer.Option("--record-name", envvar="TEST_RECORD_NAME",
                                                    help="The new record's name (no --record).")] = None,
    inactivity_timeout: Annotated[int | None, typer.Option(
        "--inactivity-timeout", help="Seconds without a new baseline that stop the recording (no --record), "
                                     "300-86400; default 1800.")] = None,
    build_id: Annotated[str | None, typer.Option("--build-id", help="BUILD_ID", envvar="BUILD_ID")] = None,
    rps: Annotated[int | None, typer.Option("--rps", help="TEST_RUN_RPS, 1-1000", envvar="TEST_RUN_RPS")] = None,
    stop_on_first_fail: Annotated[bool, typer.Option("--stop-on-first-fail", envvar="TEST_RUN_STOP_ON_FIRST_FAIL",
                                                     help="TEST_RUN_STOP_ON_FIRST_FAIL")] = False,
    target: Annotated[str | None, typer.Option("--target", help="TEST_RUN_URI", envvar="TEST_RUN_URI")] = None,
    compare_to: Annotated[str | None, typer.Option(
        "--compare-to", metavar="RUN_ID|latest", envvar="LUNGE_COMPARE_TO",
        help="The project's run to compare findings with (fail_on: new); default: latest under fail_on: new.",
    )] = None,
    api_url: ApiUrl = None,
    token: ApiToken = None,
    as_json: JsonFlag = False,
) -> None:
    """Order a test run in the control plane; prints its id (a node of the project runs it)."""
    from lunge.errors import ConfigError
    from lunge.store.models import parse_id

    chosen: int | str | None = None
    if record:
        chosen = "latest" if record.strip().lower() == "latest" else parse_id(record)
        if chosen is None:
            raise ConfigError(f"--record: {record!r} is not a record id (such as 12 or rec_0012) nor 'latest'")
    order: dict[str, Any] = {"name": name, "description": desc, "policy": policy, "record": chosen,
                             "build_id": build_id, "rps": rps, "stop_on_first_fail": stop_on_first_fail,
                             "target": target, "compare_to": compare_to}
    if record_name:
        order["test_record_name"] = record_name
    if inactivity_timeout is not None:
        order["inactivity_timeout"] = inactivity_timeout
    run = _client(api_url, token).create_run(order)
    print_json(run) if as_json else sys.stdout.write(f"{run['label']}\n")


@runs_app.command("show")
def runs_show_command(run: RunId, api_url: ApiUrl = None, token: ApiToken = None, as_json: JsonFlag = False) -> None:
    """A test run's state and counters."""
    found = _client(api_url, token).get_run(_run_id(run))
    print_json(found) if as_json else _print_run(found)


@runs_app.command("wait")
def runs_wait_command(
    run: RunId,
    timeout: Annotated[float, typer.Option("--timeout", help="Give up after this many seconds (exit 1).")] = 3600.0,
    interval: Annotated[float, typer.Option("--interval", help="Seconds between polls.")] = 5.0,
    api_url: ApiUrl = None,
    token: ApiToken = None,
    as_json: JsonFlag = False,
) -> int:
    """Wait until the run finishes; exit 0 when it passed, 1 when it failed, hit an error or was interrupted."""
    found = _client(api_url, token).wait(_run_id(run), timeout, max(0.05, interval))
    print_json(found) if as_json else _print_run(found)
    return int(found["exit_code"])


@runs_app.command("list")
def runs_list_command(
    limit: Annotated[int, typer.Option("--limit", help="At most this many.")] = 50,
    state: Annotated[list[str] | None, typer.Option("--state", help="Only runs in this state (repeatable).")] = None,
    api_url: ApiUrl = None,
    token: ApiToken = None,
    as_json: JsonFlag = False,
) -> None:
    """The project's test runs in the control plane, newest first."""
    from lunge.node.runs import runs_table

    runs = _client(api_url, token).list_runs(limit, state or [])
    print_json(runs) if as_json else console.print(runs_table(runs))


def _print_run(run: dict[str, Any]) -> None:
    table = Table(title=f"{run['label']} {run['name']}", title_justify="left", show_header=False)
    for key in ("state", "record_id", "recording", "policy", "build_id", "baselines_total", "baselines_tested",
                "baselines_not_tested", "requests_sent", "current_rps", "estimated_time_to_completion",
                "findings_count", "allowed_actions", "finished_at"):
        table.add_row(key, str(run.get(key)))
    console.print(table)
