"""``python bench/run.py``: the options, which servers and scenarios run, and the run itself:
set up, start the servers, measure every scenario, print the summary, write
``bench/results/<stamp>.json`` and its chart ``<stamp>.svg`` (a full run, no ``--only``, also
``docs/img/bench-latest.svg``); the exit status says how it went. ``--chart FILE`` only draws
an existing results file's chart."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fnmatch
import json
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from bench.callgrind import ensure_valgrind
from bench.cells import Cell
from bench.chart import write_chart
from bench.cpus import pinning
from bench.measure import run_scenario
from bench.paths import DEFAULT_VENV, DOCS_CHART, RESULTS_DIR, shown
from bench.peers import ensure_venv
from bench.plan import BenchError, LoadSettings, Plan
from bench.processes import ServerProcess, free_port, start_all
from bench.redis_server import RedisServer, find_redis_server
from bench.report import log, print_summary
from bench.results_file import write_results
from bench.runners.fanout_load import FANOUT_WARMUP_S
from bench.runners.instructions import LARGE_FACTOR
from bench.runners.wrk import ensure_wrk
from bench.scenarios import SCENARIOS, FanoutScenario, InstructionsScenario, Scenario, serves
from bench.servers import SERVERS, Server
from bench.targets import BASELINE, any_missed, evaluate

EXIT_FAILED = 1  # a server or scenario failed
EXIT_SETUP = 2  # bad arguments, no wrk, no venv
EXIT_BELOW_TARGET = 3  # --check and a comparison missed its target
EXIT_INTERRUPTED = 130


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py",
        description="wrk on loopback against Berth and its peers; req/s and Berth's ratio.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per cell (median)")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured wrk first")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads (one client core)")
    parser.add_argument(
        "--ws-connections", type=int, default=16, help="WebSocket connections (bench/ws_load.py)"
    )
    parser.add_argument(
        "--ws-window", type=int, default=16, help="WebSocket messages in flight per connection"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=5000.0,
        help="requests per second of the fixed-rate (latency) scenarios (bench/rate_load.py)",
    )
    parser.add_argument(
        "--rate-connections",
        type=int,
        default=32,
        help="keep-alive connections of the fixed-rate scenarios",
    )
    parser.add_argument(
        "--mem-connections",
        type=int,
        default=10_000,
        help="idle connections each memory run holds (bench/memory.py)",
    )
    parser.add_argument(
        "--fanout-clients",
        type=int,
        default=1000,
        help="WebSockets in the fanout scenario's room, spread over the server's workers",
    )
    parser.add_argument(
        "--fanout-window",
        type=int,
        default=16,
        help="fanout: messages in flight at saturation (published, not yet delivered to all)",
    )
    parser.add_argument(
        "--fanout-rate",
        type=float,
        default=5.0,
        help="fanout: messages per second of the latency phase",
    )
    parser.add_argument(
        "--instr-requests",
        type=int,
        default=1000,
        help="instructions: requests in the small counted window (the large one is 3x)",
    )
    parser.add_argument(
        "--instr-warmup",
        type=int,
        default=500,
        help="instructions: requests answered before counting starts",
    )
    parser.add_argument(
        "--chart",
        type=Path,
        metavar="RESULTS_JSON",
        help="only draw the chart of an existing results file (next to it, or --chart-out)",
    )
    parser.add_argument(
        "--chart-out", type=Path, metavar="SVG", help="where --chart writes the chart"
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated server and/or scenario names (shell wildcards allowed), "
        "e.g. 'berth,aiohttp-gunicorn' or 'plaintext'",
    )
    parser.add_argument("--all", action="store_true", help="also run non-default servers/scenarios")
    parser.add_argument("--list", action="store_true", help="list servers and scenarios, then exit")
    parser.add_argument("--baseline", default=BASELINE, help="server the ratio column divides by")
    parser.add_argument(
        "--check", action="store_true", help=f"exit {EXIT_BELOW_TARGET} if a target is missed"
    )
    parser.add_argument("--server-cpus", default="0", help="taskset CPU list for the servers")
    parser.add_argument("--client-cpus", default="1", help="taskset CPU list for wrk")
    parser.add_argument("--no-pin", action="store_true", help="do not pin anything to CPUs")
    parser.add_argument(
        "--ready-timeout", type=float, default=None, help="seconds a server has to answer"
    )
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="venv the servers run in")
    parser.add_argument(
        "--no-install", action="store_true", help="use --venv as it is (no pip install)"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    counts = (args.runs, args.duration, args.connections, args.threads)
    if min(*counts, args.ws_connections, args.ws_window) < 1 or args.warmup < 0:
        parser.error(
            "--runs, --duration, --connections, --threads, --ws-connections and --ws-window "
            "must be positive"
        )
    if min(args.rate_connections, args.mem_connections) < 1 or args.rate <= 0:
        parser.error("--rate, --rate-connections and --mem-connections must be positive")
    if min(args.fanout_clients, args.fanout_window) < 1 or args.fanout_rate <= 0:
        parser.error("--fanout-clients, --fanout-window and --fanout-rate must be positive")
    if args.instr_requests < 1 or args.instr_warmup < 0:
        parser.error("--instr-requests must be positive and --instr-warmup not negative")
    if args.chart_out is not None and args.chart is None:
        parser.error("--chart-out goes with --chart")
    return args


def select(only: str, *, include_all: bool) -> tuple[list[Server], list[Scenario]]:
    """The servers and scenarios ``--only`` (and ``--all``) pick: names or shell wildcards;
    a kind not named keeps its default set. A server with ``default_scenarios`` runs only those
    unless it is named or ``--all`` is given. Only servers that run a picked scenario start."""
    tokens = [token.strip() for token in only.split(",") if token.strip()]
    server_names = [server.name for server in SERVERS]
    scenario_names = [scenario.name for scenario in SCENARIOS]
    for token in tokens:
        if not fnmatch.filter(server_names + scenario_names, token):
            raise BenchError(
                f"--only {token!r} matches nothing; servers: {', '.join(server_names)}; "
                f"scenarios: {', '.join(scenario_names)}"
            )

    def picked(name: str, default: bool, names: list[str]) -> bool:
        named = [token for token in tokens if fnmatch.filter(names, token)]
        if named:
            return any(fnmatch.fnmatchcase(name, token) for token in named)
        return default or include_all

    servers = [s for s in SERVERS if picked(s.name, s.default, server_names)]
    scenarios = [s for s in SCENARIOS if picked(s.name, s.default, scenario_names)]
    # A server picked by default (not named, no --all) runs only its default scenarios.
    named = {s for token in tokens for s in fnmatch.filter(server_names, token)}
    servers = [
        dataclasses.replace(s, scenarios=s.default_scenarios)
        if s.default_scenarios is not None and s.name not in named and not include_all
        else s
        for s in servers
    ]
    # Start only the servers that run one of the scenarios (a ceiling, a logging variant).
    servers = [s for s in servers if any(serves(s, scenario) for scenario in scenarios)]
    if not servers or not scenarios:
        raise BenchError("nothing selected")
    return servers, scenarios


def print_list() -> None:
    log("servers:")
    for server in SERVERS:
        flag = "" if server.default else "  (not default)"
        log(f"  {server.name:<25} {server.description}{flag}")
    log("scenarios:")
    for scenario in SCENARIOS:
        flag = "" if scenario.default else "  (not default)"
        log(f"  {scenario.name:<25} {scenario.description}{flag}")


@contextlib.contextmanager
def interrupt_on_termination() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so cleanup runs as for Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def load_settings(args: argparse.Namespace) -> LoadSettings:
    return LoadSettings(
        runs=args.runs,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        ws_connections=args.ws_connections,
        ws_window=args.ws_window,
        rate=args.rate,
        rate_connections=args.rate_connections,
        mem_connections=args.mem_connections,
        fanout_clients=args.fanout_clients,
        fanout_window=args.fanout_window,
        fanout_rate=args.fanout_rate,
        instr_requests=args.instr_requests,
        instr_warmup=args.instr_warmup,
        ready_timeout=args.ready_timeout,
    )


def chart_paths(results_json: Path, *, only: str, interrupted: bool) -> list[Path]:
    """Where a run's chart goes: next to its results file; a full run's (no ``--only``, not
    interrupted) also to ``docs/img/bench-latest.svg``, the picture docs/performance.md shows,
    so a subset never replaces the whole picture with part of it."""
    paths = [results_json.with_suffix(".svg")]
    if not only.strip() and not interrupted:
        paths.append(DOCS_CHART)
    return paths


def draw_chart(results_json: Path, svg: Path) -> None:
    """The chart of a results file (``bench/chart.py``), written to ``svg``."""
    write_chart(json.loads(results_json.read_text()), svg, source=str(shown(results_json)))
    log(f"chart: {shown(svg)}")


def chart_only(results_json: Path, svg: Path | None) -> int:
    """``--chart``: draw an existing results file's chart; exit status 2 when it cannot be
    read."""
    try:
        draw_chart(results_json, svg or results_json.with_suffix(".svg"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log(f"error: {results_json}: {type(exc).__name__}: {exc}")
        return EXIT_SETUP
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print_list()
        return 0
    if args.chart is not None:
        return chart_only(args.chart, args.chart_out)
    try:
        servers, scenarios = select(args.only, include_all=args.all)
        wrk = ensure_wrk()
        python = ensure_venv(args.venv.resolve(), install=not args.no_install)
        redis_server = find_redis_server() if any(s.redis for s in servers) else None
        counting = any(isinstance(s, InstructionsScenario) for s in scenarios)
        valgrind = ensure_valgrind() if counting else None
    except BenchError as exc:
        log(f"error: {exc}")
        return EXIT_SETUP
    server_cpus, client_cpus = pinning(args.server_cpus, args.client_cpus, enabled=not args.no_pin)
    load = load_settings(args)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    results_dir: Path = args.results_dir

    def cell_seconds(scenario: Scenario) -> float:
        if isinstance(scenario, FanoutScenario):
            # Each run: connecting, warm-up, saturation, the fixed-rate phase, draining.
            return load.runs * (2 * load.duration + FANOUT_WARMUP_S + 8)
        if isinstance(scenario, InstructionsScenario):
            # Start-up under valgrind, then about a thousand requests a second.
            return load.runs * (6 + (1 + LARGE_FACTOR) * load.instr_requests / 1000)
        return load.warmup + load.runs * (load.duration + 0.3)

    log(
        f"berth bench: servers {', '.join(s.name for s in servers)}; "
        f"scenarios {', '.join(s.name for s in scenarios)}; "
        f"{load.runs} x {load.duration} s runs, {load.connections} connections, "
        f"server on CPU {server_cpus}, wrk/ws_load on CPU {client_cpus}; "
        f"about {sum(cell_seconds(b) for a in servers for b in scenarios if serves(a, b)):.0f} s"
    )
    cells: list[Cell] = []
    processes: dict[str, ServerProcess] = {}
    interrupted = False
    with (
        tempfile.TemporaryDirectory(prefix="berth-bench-") as scripts,
        contextlib.ExitStack() as stack,
        interrupt_on_termination(),
    ):
        redis: RedisServer | None = None
        if redis_server is not None:
            # One redis-server for the whole run, shared by every server that needs it.
            redis = RedisServer(
                redis_server, free_port(), results_dir / f"{stamp}-logs", server_cpus
            )
            stack.callback(redis.stop)
            try:
                redis.start()
            except BenchError as exc:
                log(f"error: {exc}")
                return EXIT_SETUP
            log(f"redis-server on {redis.url}: {' '.join(redis.argv)}")
        plan = Plan(
            load=load,
            wrk=wrk,
            python=python,
            server_cpus=server_cpus,
            client_cpus=client_cpus,
            log_dir=results_dir / f"{stamp}-logs",
            script_dir=Path(scripts),
            redis_pgid=redis.pgid if redis is not None else None,
            valgrind=valgrind,
        )
        try:
            processes = start_all(
                servers,
                python=python,
                cpus=server_cpus,
                log_dir=plan.log_dir,
                ready_timeout=load.ready_timeout,
                stack=stack,
                redis_url=redis.url if redis is not None else None,
            )
            for scenario in scenarios:
                eligible = [s.name for s in servers if serves(s, scenario)]
                run_scenario(scenario, eligible, processes, plan, cells)
        except KeyboardInterrupt:
            interrupted = True
            log("\ninterrupted: stopping the servers")
        finally:
            stack.close()  # every server's process group, before anything else
    outcomes = evaluate(cells)
    hot_paths = {name: p.hot_path for name, p in processes.items() if p.hot_path is not None}
    print_summary(cells, args.baseline, outcomes, hot_paths)
    out = results_dir / f"{stamp}.json"
    write_results(
        out,
        plan=plan,
        baseline=args.baseline,
        started=started,
        processes=processes,
        cells=cells,
        outcomes=outcomes,
        interrupted=interrupted,
        selection={"only": args.only, "all": args.all},
    )
    log(f"\nresults: {shown(out)}")
    for svg in chart_paths(out, only=args.only, interrupted=interrupted):
        draw_chart(out, svg)
    if interrupted:
        return EXIT_INTERRUPTED
    if any(not cell.ok for cell in cells):
        return EXIT_FAILED
    if args.check and any_missed(outcomes):
        return EXIT_BELOW_TARGET
    return 0


if __name__ == "__main__":
    sys.exit(main())
