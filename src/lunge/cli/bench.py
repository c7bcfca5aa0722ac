"""``lunge bench ...``: each measures lunge against a bare baseline in one run and prints its
figures (``--json``: one JSON document)."""

from __future__ import annotations

from typing import Annotated

import typer

from lunge.cli.output import JsonFlag, console, err_console, print_json
from lunge.node.exit import ExitCode

bench_app = typer.Typer(help="Measure lunge against a bare baseline in one run.", no_args_is_help=True)


@bench_app.command("proxy")
def bench_proxy_command(
    runs: Annotated[int, typer.Option("--runs", min=1, help="Runs (a fresh proxy each); medians are reported.")] = 3,
    latency_requests: Annotated[int, typer.Option("--latency-requests", min=10, help="Requests at concurrency 1.")]
    = 500,
    throughput_requests: Annotated[int, typer.Option("--throughput-requests", min=10,
                                                     help="Requests at concurrency 10.")] = 3000,
    ingest_rows: Annotated[int, typer.Option("--ingest-rows", min=100, help="Rows for the store's ingest rate.")]
    = 20_000,
    as_json: JsonFlag = False,
) -> None:
    """Measure the recording proxy: added latency, throughput with recording on, store ingest rate."""
    from lunge.bench.proxy import run, table

    figures = run(runs=runs, latency_requests=latency_requests, throughput_requests=throughput_requests,
                  ingest_rows=ingest_rows)
    if as_json:
        print_json(figures)
    else:
        console.print(table(figures))


@bench_app.command("points")
def bench_points_command(
    runs: Annotated[int, typer.Option(min=1, help="Runs of each measurement; the median is reported.")] = 5,
    seconds: Annotated[float, typer.Option(min=0.05, help="CPU seconds per run.")] = 0.4,
    as_json: JsonFlag = False,
) -> None:
    """Requests parsed into points and attack variants built per second, on one core."""
    from rich.table import Table
    from rich.text import Text

    from lunge.bench.points import run as run_bench

    figures = run_bench(runs=runs, seconds_per_run=seconds).as_dict()
    if as_json:
        print_json(figures)
        return
    table = Table(title="lunge bench points (a ~2 KB JSON request with a JWT and a base64 cookie)",
                  title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int | float) else Text(str(value)))
    console.print(table)


@bench_app.command("store")
def bench_store_command(
    db: Annotated[str | None, typer.Option("--db", help="Database URL to measure (default: a throwaway SQLite "
                                                        "file; the benchmark writes ~140k baselines into it).")]
    = None,
    rows: Annotated[int, typer.Option(help="Baselines per measured batch run.")] = 20_000,
    batch: Annotated[int, typer.Option(help="Baselines per statement and commit.")] = 500,
    as_json: JsonFlag = False,
) -> None:
    """The store's batched ingest rate and the batching writer's latency."""
    import tempfile

    from rich.table import Table

    from lunge.bench.store import ingest

    with tempfile.TemporaryDirectory() as tmp:
        figures = ingest(db or f"sqlite:///{tmp}/bench.db", rows, batch)
    if as_json:
        print_json(figures)
        return
    table = Table(title="lunge bench store", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console.print(table)


@bench_app.command("engine")
def bench_engine_command(
    baselines: Annotated[int, typer.Option(help="Baselines in the record the rates are measured on.")] = 1000,
    large: Annotated[int, typer.Option(help="Baselines in the larger record of the memory comparison.")] = 10_000,
    workers: Annotated[int, typer.Option(help="Concurrent requests, for both the bare loop and the engine.")] = 10,
    runs: Annotated[int, typer.Option(help="Runs of each rate measurement; the median is reported.")] = 5,
    as_json: JsonFlag = False,
) -> None:
    """The attack engine against a bare aiohttp loop on one fast loopback target; memory at 1k and 10k."""
    from lunge.bench.engine import run as run_bench
    from lunge.bench.engine import table

    if not as_json:
        err_console.print(f"measuring ({runs} runs of {baselines} baselines, then memory at {baselines} and "
                          f"{large} baselines; this takes a few minutes) ...")
    figures = run_bench(baselines=baselines, large=large, workers=workers, runs=runs)
    if as_json:
        print_json(figures)
        return
    console.print(table(figures))


@bench_app.command("faults")
def bench_faults_command(
    baselines: Annotated[int, typer.Option(min=2, help="Baselines in each case's record.")] = 16,
    as_json: JsonFlag = False,
) -> int:
    """Faults of the target, the store and the node: per case the run's final state, exit code and
    whether anything recorded was lost; exit 1 on a false pass or a stuck run."""
    from lunge.bench.faults import run as run_bench
    from lunge.bench.faults import table

    figures = run_bench(baselines=baselines)
    if as_json:
        print_json(figures)
    else:
        console.print(table(figures))
    return int(ExitCode.FAILED) if figures["false_passes"] or figures["stuck_runs"] else 0


@bench_app.command("control")
def bench_control_command(
    db: Annotated[str | None, typer.Option("--db", help="A PostgreSQL database the bench may write to "
                                                         "(default: LUNGE_DB).")] = None,
    baselines: Annotated[int, typer.Option(min=10, help="Baselines each node uploads.")] = 2000,
    batch: Annotated[int, typer.Option(min=1, help="Baselines per add_baselines call.")] = 50,
    nodes: Annotated[str, typer.Option(help="Node counts, comma-separated.")] = "1,2,4,8",
    as_json: JsonFlag = False,
) -> int:
    """Baselines per second uploaded by N concurrent remote nodes into one control plane on
    PostgreSQL, and the API's p99 read latency meanwhile; exit 1 if any baseline was lost or doubled."""
    from lunge.bench.control import run as run_bench
    from lunge.bench.control import table
    from lunge.node.settings import store_settings

    url = store_settings({"db": db}, remote=False).url
    if not url.startswith("postgresql"):
        err_console.print(f"--db/LUNGE_DB: {url.split('://')[0]}://... is not allowed; "
                          "a PostgreSQL URL, postgresql+psycopg://USER@HOST/DB")
        return int(ExitCode.CONFIG)
    counts = tuple(int(n) for n in nodes.split(",") if n.strip().isdigit() and 1 <= int(n) <= 64)
    if not counts or len(counts) != len(nodes.split(",")):
        err_console.print(f"--nodes: {nodes!r} is not allowed; node counts 1-64, comma-separated, e.g. 1,2,4,8")
        return int(ExitCode.CONFIG)
    figures = run_bench(url, nodes=counts, baselines=baselines, batch=batch)
    if as_json:
        print_json(figures)
    else:
        console.print(table(figures))
    return int(ExitCode.FAILED) if figures["lost"] or figures["doubled"] else 0


@bench_app.command("scale")
def bench_scale_command(
    baselines: Annotated[int, typer.Option(min=10, help="Baselines in the run's record.")] = 2000,
    nodes: Annotated[str, typer.Option(help="Node processes per run, comma-separated.")] = "1,2,4,8",
    kill: Annotated[int, typer.Option(min=0, help="Nodes SIGKILLed mid-run in the last run.")] = 2,
    shard_size: Annotated[int, typer.Option(min=1, help="Baselines per shard.")] = 50,
    pg: Annotated[str, typer.Option(help="A PostgreSQL URL; the bench makes (and drops) a database beside it.")]
        = "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    as_json: JsonFlag = False,
) -> int:
    """One run of many baselines tested by 1, 2, 4, 8 API-mode nodes on one PostgreSQL, then with
    nodes SIGKILLed mid-run: baselines per second, lost shards and doubled findings (exit 1 unless both 0)."""
    from lunge.bench.scale import run as run_bench
    from lunge.bench.scale import table

    try:
        counts = tuple(int(n) for n in nodes.split(","))
    except ValueError:
        err_console.print(f"--nodes {nodes!r}: expected positive integers separated by commas, e.g. 1,2,4,8")
        return int(ExitCode.CONFIG)
    if not counts or min(counts) < 1:
        err_console.print(f"--nodes {nodes!r}: expected positive integers separated by commas, e.g. 1,2,4,8")
        return int(ExitCode.CONFIG)
    figures = run_bench(baselines=baselines, nodes=counts, kill=kill, shard_size=shard_size, pg=pg)
    if as_json:
        print_json(figures)
    else:
        console.print(table(figures))
    return int(ExitCode.FAILED) if figures["lost_shards"] or figures["doubled_findings"] else 0


__all__ = ["bench_app"]
