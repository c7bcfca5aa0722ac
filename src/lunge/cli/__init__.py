"""The ``lunge`` command line: thin. Each command turns its options into settings and calls one
function in :mod:`lunge.node`; errors become one line and an exit code (2 for bad input).

Every command that lists or measures takes ``--json`` and then prints exactly one JSON document.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from lunge import __version__
from lunge.cli.bench import bench_app
from lunge.cli.control import control_app
from lunge.cli.output import JsonFlag, console, err_console, print_json
from lunge.errors import ConfigError, LungeError
from lunge.logs import configure_logging, escape_controls
from lunge.node.exit import ExitCode

app = typer.Typer(
    name="lunge",
    help="Record the traffic of your functional tests, replay it with attacks, fail the build on "
    "confirmed vulnerabilities.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(bench_app, name="bench")
app.add_typer(control_app)  # lunge serve, db upgrade, token create, runs [create|show|wait|list]

def _version(value: bool) -> None:
    if value:
        console.print(f"lunge {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """lunge: security tests from your functional tests."""
    configure_logging()


# ---------------------------------------------------------------------- points
# (section: insertion points)
@app.command("points")
def points_command(
    file: Annotated[str, typer.Argument(
        metavar="FILE", help="A raw HTTP request, or a curl command line; '-' reads stdin.")],
    base_url: Annotated[str | None, typer.Option(
        "--base-url", help="Where the request goes (http[s]://host[:port]) when the file has no Host header.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the insertion points of a request, with the names a policy matches."""
    from lunge.node.points import list_points

    listing = list_points(file, base_url=base_url)
    if as_json:
        print_json(listing.as_dict())
    else:
        console.print(_points_table(listing))


def _points_table(listing: Any) -> Any:
    from rich.table import Table
    from rich.text import Text  # plain text: a name or value like "[b]" is not markup

    from lunge.node.points import display_value

    request = listing.request
    title = Text(f"{request.method} {display_value(request.url, 100)}: {len(listing.points)} points")
    table = Table(title=title, title_justify="left")
    table.add_column("name", overflow="fold")  # what a policy copies: folded, never cut
    table.add_column("value", overflow="ellipsis", no_wrap=True, max_width=40)
    table.add_column("kind", no_wrap=True)
    table.add_column("layers", overflow="fold")
    for point in listing.points:
        table.add_row(Text(display_value(point.name, 10_000)), Text(display_value(point.value)), point.kind.value,
                      " > ".join(point.layers))
    return table


# ---------------------------------------------------------------------- record
# (section: recording, CA, records)
records_app = typer.Typer(help="Test records: list them, show one's baselines.", invoke_without_command=True)
app.add_typer(records_app, name="records")
_RecordDb = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite file (LUNGE_DB).")]
_RecordDataDir = Annotated[str | None, typer.Option("--data-dir", help="Data directory: store, CA (LUNGE_DATA_DIR).")]
_CaCert = Annotated[str | None, typer.Option("--ca-cert", help="CA certificate, PEM (LUNGE_CA_CERT, CA_CERT).",
                                             rich_help_panel="HTTPS")]
_CaKey = Annotated[str | None, typer.Option("--ca-key", help="CA private key, PEM (LUNGE_CA_KEY, CA_KEY).",
                                            rich_help_panel="HTTPS")]
_Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log every recorded request.")]


@app.command("record")
def record_command(
    # Settings-backed numbers are read as text: node.settings checks them and says what is allowed.
    port: Annotated[str | None, typer.Option("--port", help="Proxy port (PROXY_PORT, default 8080).",
                                             rich_help_panel="Proxy")] = None,
    bind: Annotated[str | None, typer.Option("--bind", help="Address to listen on (LUNGE_PROXY_BIND, default "
                                             "127.0.0.1).", rich_help_panel="Proxy")] = None,
    reverse: Annotated[str | None, typer.Option("--reverse", metavar="URL", help="Reverse-proxy mode: forward "
                                                "everything to URL (REVERSE_PROXY + BACKEND).",
                                                rich_help_panel="Proxy")] = None,
    record_name: Annotated[str | None, typer.Option("--record-name", help="Name of the test record "
                                                    "(TEST_RECORD_NAME).", rich_help_panel="Record")] = None,
    build_id: Annotated[str | None, typer.Option("--build-id", help="CI workflow id (BUILD_ID).",
                                                 rich_help_panel="Record")] = None,
    allowed_hosts: Annotated[str | None, typer.Option("--allowed-hosts", help="Record only these hosts "
                                                      "(ALLOWED_HOSTS).", rich_help_panel="Record")] = None,
    exclude_extensions: Annotated[str | None, typer.Option("--exclude-extensions", help="Do not record these "
                                                           "static extensions, jpg|png (FILE_EXTENSIONS_TO_EXCLUDE).",
                                                           rich_help_panel="Record")] = None,
    dedup: Annotated[bool | None, typer.Option("--dedup/--no-dedup", help="Skip duplicate baselines "
                                               "(LUNGE_DEDUP, default on).", rich_help_panel="Record")] = None,
    max_body: Annotated[str | None, typer.Option("--max-body", help="Response body bytes kept per baseline "
                                                 "(LUNGE_MAX_BODY).", rich_help_panel="Record")] = None,
    inactivity_timeout: Annotated[str | None, typer.Option("--inactivity-timeout", help="Stop after this many "
                                                           "seconds without a request (INACTIVITY_TIMEOUT).",
                                                           rich_help_panel="Record")] = None,
    ca_cert: _CaCert = None,
    ca_key: _CaKey = None,
    upstream_verify: Annotated[bool | None, typer.Option("--upstream-verify/--no-upstream-verify",
                                                         help="Verify the target's TLS certificate "
                                                         "(LUNGE_UPSTREAM_VERIFY, default on).",
                                                         rich_help_panel="HTTPS")] = None,
    db: _RecordDb = None,
    data_dir: _RecordDataDir = None,
    verbose: _Verbose = False,
    as_json: JsonFlag = False,
) -> int:
    """Record baselines: run the proxy until SIGTERM/SIGINT or INACTIVITY_TIMEOUT, then summarise."""
    flags = {"port": port, "bind": bind, "reverse": reverse, "record_name": record_name, "build_id": build_id,
             "allowed_hosts": allowed_hosts, "exclude_extensions": exclude_extensions, "dedup": dedup,
             "max_body": max_body, "inactivity_timeout": inactivity_timeout, "ca_cert": ca_cert, "ca_key": ca_key,
             "upstream_verify": upstream_verify, "db": db, "data_dir": data_dir}
    return _record(flags, verbose, as_json)


def _record(flags: dict[str, Any], verbose: bool, as_json: bool) -> int:
    from lunge.node.recording import run_recording, summary_table

    outcome = run_recording(flags, verbose=verbose)
    if as_json:
        print_json(outcome.as_dict())
    else:
        console.print(summary_table(outcome))
    return int(outcome.exit_code)


@app.command("node")
def node_command(verbose: _Verbose = False, as_json: JsonFlag = False) -> int:
    """Run the mode CI_MODE names (recording or testing), or API mode (LUNGE_API_URL), as FAST's node.

    In API mode it also records the runs ordered without a record through its proxy (PROXY_PORT)."""
    from lunge.node.recording import node_mode

    mode = node_mode()
    if mode == "api":  # driven by the control plane (lunge serve): LUNGE_API_URL, LUNGE_API_TOKEN
        from lunge.node.apimode import run_api_node

        return run_api_node()
    if mode == "recording":
        return _record({}, verbose, as_json)
    return _test_and_print({}, as_json)


@app.command("ca")
def ca_command(ca_cert: _CaCert = None, ca_key: _CaKey = None, data_dir: _RecordDataDir = None,
               as_json: JsonFlag = False) -> None:
    """Where the proxy's CA certificate is (created if absent): make your test clients trust it."""
    from lunge.node.recording import ca_files

    files = ca_files({"ca_cert": ca_cert, "ca_key": ca_key, "data_dir": data_dir})
    if as_json:
        print_json(files.as_dict())
        return
    lines = (f"CA certificate (PEM): {files.cert_pem}", f"CA certificate (DER): {files.cert_der}",
             f"subject: {files.subject}; SHA-256: {files.sha256}; valid until {files.not_after:%Y-%m-%d}",
             "also served through the proxy at http://lunge.ca/cert.pem and http://lunge.ca/cert.der")
    for line in lines:  # soft_wrap: a path must stay on one line to be copied
        console.print(line, highlight=False, markup=False, soft_wrap=True)


@records_app.callback()
def records_command(ctx: typer.Context, limit: Annotated[int, typer.Option("--limit", help="At most this many.")]
                    = 100, db: _RecordDb = None, data_dir: _RecordDataDir = None, as_json: JsonFlag = False) -> None:
    """List test records, newest first (id, name, BUILD_ID, state, baselines, created)."""
    if ctx.invoked_subcommand is not None:
        return
    from lunge.node.records import list_records, records_table

    records = list_records({"db": db, "data_dir": data_dir}, limit)
    if as_json:
        print_json(records)
    else:
        console.print(records_table(records))


@records_app.command("show")
def records_show_command(
    record_id: Annotated[str, typer.Argument(metavar="ID", help="Record id, e.g. 12 or rec_0012.")],
    limit: Annotated[int, typer.Option("--limit", help="At most this many baselines; 0 for all.")] = 1000,
    db: _RecordDb = None,
    data_dir: _RecordDataDir = None,
    as_json: JsonFlag = False,
) -> None:
    """Show a test record and its baselines."""
    from lunge.node.records import baselines_table, show_record

    document = show_record(record_id, {"db": db, "data_dir": data_dir}, limit)
    if as_json:
        print_json(document)
    else:
        console.print(baselines_table(document))


# ---------------------------------------------------------------------- import
# (section: importers)
_ImportDb = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite file (LUNGE_DB).",
                                                rich_help_panel="Store")]
_ImportDataDir = Annotated[str | None, typer.Option("--data-dir", help="Data directory (LUNGE_DATA_DIR).",
                                                    rich_help_panel="Store")]


@app.command("import")
def import_command(
    fmt: Annotated[str, typer.Argument(metavar="FORMAT", help="har, openapi, postman or curl.")],
    file: Annotated[str, typer.Argument(metavar="FILE", help="The file to import.")],
    record_name: Annotated[str | None, typer.Option("--record-name", help="Name of the new test record "
                                                    "(default: Imported FORMAT FILE).")] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", metavar="URL", help="Send the requests here: an "
                                                 "origin replaces the file's (an OpenAPI server keeps its path); "
                                                 "a URL with a path replaces an OpenAPI server entirely.")] = None,
    var: Annotated[list[str] | None, typer.Option("--var", metavar="NAME=VALUE", help="A Postman variable, an "
                                                  "OpenAPI server variable or security scheme credential; "
                                                  "repeatable.")] = None,
    build_id: Annotated[str | None, typer.Option("--build-id", envvar="BUILD_ID", help="Tag the record with this "
                                                 "CI workflow id (BUILD_ID).")] = None,
    db: _ImportDb = None,
    data_dir: _ImportDataDir = None,
    as_json: JsonFlag = False,
) -> int:
    """Create a test record from a HAR, OpenAPI 3.x, Postman v2.1 or curl file."""
    from lunge.node.importing import import_table, parse_variables, run_import

    summary = run_import(fmt, file, record_name=record_name, base_url=base_url, variables=parse_variables(var or []),
                         build_id=build_id, store_flags={"db": db, "data_dir": data_dir})
    if as_json:
        print_json(summary)
    else:
        console.print(import_table(summary))
    return int(ExitCode.PASSED)



# ---------------------------------------------------------------------- test
# (section: testing, reports, policies, checks)
policy_app = typer.Typer(help="Test policies: validate a policy file, show the built-in ones.", no_args_is_help=True)
checks_app = typer.Typer(help="The checks lunge knows.", no_args_is_help=True)
app.add_typer(policy_app, name="policy")
app.add_typer(checks_app, name="checks")
DbOption = Annotated[str | None, typer.Option("--db", help="Database URL or SQLite file (LUNGE_DB).")]
DataDirOption = Annotated[str | None, typer.Option("--data-dir", help="lunge's data directory (LUNGE_DATA_DIR).")]
CompareToOption = Annotated[str | None, typer.Option("--compare-to", metavar="RUN_ID|latest|none", help=(
    "Show new / fixed / still present findings against an earlier run (latest: the newest finished one; "
    "none: no run, every finding new; LUNGE_COMPARE_TO)."))]


@app.command("test")
def test_command(
    record: Annotated[str | None, typer.Option("--record", help="Record to test (TEST_RECORD_ID).")] = None,
    build_id: Annotated[str | None, typer.Option("--build-id", help="Test the latest record of this BUILD_ID.")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Test run name (TEST_RUN_NAME).")] = None,
    desc: Annotated[str | None, typer.Option("--desc", help="Test run description (TEST_RUN_DESC).")] = None,
    policy: Annotated[str | None, typer.Option("--policy", help="Built-in name or YAML file (TEST_RUN_POLICY_ID).")]
    = None,
    target: Annotated[str | None, typer.Option("--target", help="Where the target is now (TEST_RUN_URI).")] = None,
    rps: Annotated[str | None, typer.Option("--rps", help="Attack requests per second, 1-1000 (TEST_RUN_RPS).")]
    = None,
    workers: Annotated[str | None, typer.Option("--workers", help="Concurrent requests, 1-1000 (WORKERS).")] = None,
    processes: Annotated[str | None, typer.Option("--processes", help="Worker processes or auto (PROCESSES).")]
    = None,
    stop_on_first_fail: Annotated[bool | None, typer.Option("--stop-on-first-fail/--no-stop-on-first-fail",
                                                            help="TEST_RUN_STOP_ON_FIRST_FAIL")] = None,
    report_dir: Annotated[str | None, typer.Option("--report-dir", help="Where reports go (REPORT_DIR).")] = None,
    report_formats: Annotated[str | None, typer.Option("--report-formats", help="e.g. txt,json,html (REPORT_FORMATS).")]
    = None,
    verify_tls: Annotated[bool | None, typer.Option("--verify-tls/--no-verify-tls",
                                                    help="Verify the target's TLS certificate.")] = None,
    oob: Annotated[bool | None, typer.Option("--oob/--no-oob", help="The out-of-band listener (LUNGE_OOB).")]
    = None,
    oob_host: Annotated[str | None, typer.Option("--oob-host", help="Address the target calls back (LUNGE_OOB_HOST).")]
    = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    compare_to: CompareToOption = None,
    as_json: JsonFlag = False,
) -> int:
    """Test a record: replay every baseline with attacks; exit 0 passed, 1 failed or error, 2 bad input."""
    flags = {"record": record, "build_id": build_id, "name": name, "desc": desc, "policy": policy,
             "target": target, "rps": rps, "workers": workers, "processes": processes,
             "stop_on_first_fail": stop_on_first_fail, "report_dir": report_dir, "report_formats": report_formats,
             "verify_tls": verify_tls, "db": db, "data_dir": data_dir, "compare_to": compare_to, "oob": oob,
             "oob_host": oob_host}
    return _test_and_print(flags, as_json)


def _test_and_print(flags: dict[str, Any], as_json: bool) -> int:
    """Testing mode with these flags, its summary printed (one JSON document with ``--json``)."""
    from lunge.node.summary import print_summary, summary_document
    from lunge.node.testing import run_testing

    outcome = run_testing(flags, console=err_console if as_json else console, json_output=as_json)
    if as_json:
        print_json(summary_document(outcome.run, outcome.record, outcome.findings, outcome.reports,
                                    int(outcome.exit_code)))
    else:
        print_summary(console, outcome.run, outcome.record, outcome.findings, outcome.reports)
    return int(outcome.exit_code)


@app.command("report")
def report_command(
    run: Annotated[str | None, typer.Argument(help="Run id (e.g. 7 or run_0007); default: the latest.")] = None,
    report_dir: Annotated[str | None, typer.Option("--report-dir", help="Where reports go (REPORT_DIR).")] = None,
    report_formats: Annotated[str | None, typer.Option("--report-formats", help="e.g. txt,json,html (REPORT_FORMATS).")]
    = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    compare_to: CompareToOption = None,
    as_json: JsonFlag = False,
) -> int:
    """Write the reports of a past test run again; exit code as the run's state."""
    from lunge.node.runs import rerender_reports
    from lunge.node.summary import print_summary, summary_document
    from lunge.node.testing import exit_code_for

    flags = {"report_dir": report_dir, "report_formats": report_formats, "db": db, "data_dir": data_dir,
             "compare_to": compare_to}
    test_run, record, findings, reports = rerender_reports(run, flags)
    code = int(exit_code_for(test_run.state))
    if as_json:
        print_json(summary_document(test_run, record, findings, reports, code))
    else:
        print_summary(console, test_run, record, findings, reports)
    return code


@app.command("reproduce")
def reproduce_command(finding: Annotated[str, typer.Argument(metavar="FINDING_ID", help="e.g. 12 or fnd_12.")],
                      db: DbOption = None, data_dir: DataDirOption = None, as_json: JsonFlag = False) -> int:
    """Send a finding's attack and its baseline again: exit 1 when it still reproduces, 0 when not, 2 bad id."""
    from lunge.node.reproduce import print_reproduction, reproduce

    result = reproduce(finding, {"db": db, "data_dir": data_dir})
    print_json(result.as_dict()) if as_json else print_reproduction(console, result)
    return result.exit_code


@policy_app.command("validate")
def policy_validate_command(
    file: Annotated[Path, typer.Argument(help="The policy YAML file.")],
    as_json: JsonFlag = False,
) -> None:
    """Check a policy file; errors name the line. Exit 0 when valid, 2 when not."""
    from lunge.node.runs import print_policy, validate_policy

    summary = validate_policy(file)
    if as_json:
        print_json({"valid": True, "policy": summary})
    else:
        console.print(f"[green]{file} is a valid policy[/]")
        print_policy(console, summary)


@policy_app.command("show")
def policy_show_command(
    name: Annotated[str, typer.Argument(help="A built-in policy: default or full.")] = "default",
    as_json: JsonFlag = False,
    as_yaml: Annotated[bool, typer.Option("--yaml", help="Print it as a policy file to start your own from.")] = False,
) -> None:
    """Show a built-in policy."""
    from lunge.errors import ConfigError
    from lunge.node.runs import builtin_policies, policy_yaml, print_policy

    policies = builtin_policies()
    if name not in policies:
        raise ConfigError(f"no built-in policy {name!r}; built-in policies: {', '.join(policies)}")
    if as_json:
        print_json(policies[name])
    elif as_yaml:
        sys.stdout.write(policy_yaml(policies[name]))
    else:
        print_policy(console, policies[name])


@checks_app.command("list")
def checks_list_command(as_json: JsonFlag = False) -> None:
    """List the checks (built-in and plugins) with their ids, kinds and severities."""
    from lunge.node.runs import checks_table, list_checks

    checks = list_checks()
    if as_json:
        print_json(checks)
    else:
        console.print(checks_table(checks))


# ---------------------------------------------------------------------- demo
# (section: demo)
@app.command("demo")
def demo_command(
    manifest: Annotated[bool, typer.Option("--manifest", help="Print the demo's endpoints as JSON and exit.")]
    = False,
    report_dir: Annotated[str | None, typer.Option("--report-dir", help="Where reports go (REPORT_DIR).")] = None,
    data_dir: DataDirOption = None,
    as_json: JsonFlag = False,
) -> int:
    """Start the bundled vulnerable shop, record its test suite, test it, print the findings (exit 1)."""
    if manifest:
        from lunge.demo import manifest as demo_manifest

        print_json(demo_manifest())
        return 0
    from lunge.node.demo import demo_document, print_comparison, run_demo
    from lunge.node.summary import print_summary

    outcome = run_demo({"report_dir": report_dir, "data_dir": data_dir}, console=err_console if as_json else console,
                       quiet=as_json)
    t = outcome.testing
    if as_json:
        print_json(demo_document(outcome))
    else:
        print_summary(console, t.run, t.record, t.findings, t.reports)
        print_comparison(console, outcome)
    return int(t.exit_code)


# ---------------------------------------------------------------------- entry point
def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input exits 2 with one line, other lunge errors exit 1 with one line."""
    try:
        result = app(args=argv, prog_name="lunge", standalone_mode=False)
    except ConfigError as exc:  # one line, never wrapped: a value's line breaks are escaped too
        err_console.print(f"lunge: {escape_controls(str(exc))}", markup=False, highlight=False, soft_wrap=True)
        return int(ExitCode.CONFIG)
    except LungeError as exc:
        err_console.print(f"lunge: error: {escape_controls(str(exc))}", markup=False, highlight=False, soft_wrap=True)
        return int(ExitCode.FAILED)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("lunge: aborted", markup=False)
        return 130
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # click usage errors carry their own exit code (2)
        from click.exceptions import ClickException

        # typer >= 0.20 raises the errors of its own vendored copy of click
        vendored = getattr(getattr(getattr(typer, "_click", None), "exceptions", None), "ClickException",
                           ClickException)
        if isinstance(exc, ClickException | vendored):
            err_console.print(f"lunge: {_usage_line(exc)}", markup=False, highlight=False, soft_wrap=True)
            return int(exc.exit_code)
        raise
    return int(result) if isinstance(result, int) else 0


def _usage_line(exc: Exception) -> str:
    """A click usage error as one line, with where to find the usage (click prints four)."""
    message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
    context = getattr(exc, "ctx", None)
    hint = f" (see '{context.command_path} --help')" if context is not None else ""
    return " ".join(message.split()) + hint


def _entry() -> None:
    sys.exit(main())


__all__ = ["Path", "app", "main"]
