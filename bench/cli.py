"""``python bench/run.py``: run the suite, print a summary, write bench/results/<stamp>.json."""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from bench import harness
from bench.harness import BenchError, ServerProcess, WrkRun, log
from bench.suite import (
    BASELINE,
    COMPARISONS,
    HOST,
    MEMORY_SERVER_ARGS,
    SCENARIOS,
    SERVERS,
    Scenario,
    Server,
    serves,
)

EXIT_FAILED = 1  # a server or scenario failed
EXIT_SETUP = 2  # bad arguments, no wrk, no venv
EXIT_BELOW_TARGET = 3  # --check and a comparison missed its target
EXIT_INTERRUPTED = 130
CLIENT_SATURATED = 0.9  # wrk CPU per wall second above which a run is flagged
SERVER_BUSY = 0.9  # a throughput run whose server used less of its CPUs than this is flagged
FOREIGN_LOAD = 0.05  # CPU per second others used on the server CPUs above which a run is flagged


@dataclass
class Cell:
    """One server on one scenario: its measured runs, or why there are none."""

    server: str
    scenario: str
    kind: str = "http"  # the scenario's: "ws" runs count WebSocket messages, not requests
    runs: list[WrkRun] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    def median(self, key: str) -> float | None:
        if not self.runs:
            return None
        if key == "requests_per_sec":
            return statistics.median(run.requests_per_sec for run in self.runs)
        values = [run.latency_ms.get(key, run.details.get(key)) for run in self.runs]
        if any(isinstance(v, bool) or not isinstance(v, int | float) for v in values):
            return None  # WebSocket runs measure no latency, only memory runs KiB/conn
        return statistics.median(values)

    @property
    def metric(self) -> str:
        """The figure the summary's main column shows: KiB/conn for memory, else per second."""
        return "kib_per_conn" if self.kind == "memory" else "requests_per_sec"

    @property
    def ratio_metric(self) -> str:
        """The figure the ratio column divides (at a fixed rate, req/s is the same for all)."""
        return "p99" if self.kind == "rate" else self.metric

    @property
    def unit(self) -> str:
        return {"ws": "msgs/s", "memory": "KiB/conn", "rate": "req/s, fixed rate (ratio: p99)"}.get(
            self.kind, "req/s"
        )

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs)


# --- arguments and selection ------------------------------------------------------------------


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
    parser.add_argument(
        "--venv", type=Path, default=harness.DEFAULT_VENV, help="venv the servers run in"
    )
    parser.add_argument(
        "--no-install", action="store_true", help="use --venv as it is (no pip install)"
    )
    parser.add_argument("--results-dir", type=Path, default=harness.RESULTS_DIR)
    args = parser.parse_args(argv)
    counts = (args.runs, args.duration, args.connections, args.threads)
    if min(*counts, args.ws_connections, args.ws_window) < 1 or args.warmup < 0:
        parser.error(
            "--runs, --duration, --connections, --threads, --ws-connections and --ws-window "
            "must be positive"
        )
    if min(args.rate_connections, args.mem_connections) < 1 or args.rate <= 0:
        parser.error("--rate, --rate-connections and --mem-connections must be positive")
    return args


def select(args: argparse.Namespace) -> tuple[list[Server], list[Scenario]]:
    tokens = [token.strip() for token in args.only.split(",") if token.strip()]
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
        return default or args.all

    servers = [s for s in SERVERS if picked(s.name, s.default, server_names)]
    scenarios = [s for s in SCENARIOS if picked(s.name, s.default, scenario_names)]
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


def pinning(args: argparse.Namespace) -> tuple[str | None, str | None]:
    if args.no_pin:
        return None, None
    available = os.sched_getaffinity(0)
    if len(available) < 2:
        log(f"warning: only CPUs {sorted(available)} available: not pinning server and client")
        return None, None
    return args.server_cpus, args.client_cpus


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


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Plan:
    wrk: str
    python: Path
    server_cpus: str | None
    client_cpus: str | None
    log_dir: Path
    script_dir: Path

    @property
    def server_cpu_count(self) -> int:
        return len(harness.parse_cpu_list(self.server_cpus)) if self.server_cpus else 1


def start_servers(
    servers: list[Server], plan: Plan, args: argparse.Namespace, stack: contextlib.ExitStack
) -> dict[str, ServerProcess]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(harness.ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    processes: dict[str, ServerProcess] = {}
    for server in servers:
        port = harness.free_port()
        fields = {
            "python": str(plan.python),
            "bin": str(plan.python.parent),
            "host": HOST,
            "port": str(port),
        }
        argv = harness.pin(plan.server_cpus, [part.format(**fields) for part in server.argv])
        process = ServerProcess(
            server=server,
            argv=argv,
            port=port,
            log_path=plan.log_dir / f"{server.name}.log",
            env={**env, **server.env},
        )
        stack.callback(process.stop)
        log(f"starting {server.name} on {HOST}:{port}: {' '.join(argv)}")
        process.start()
        processes[server.name] = process
    for name, process in processes.items():
        timeout = args.ready_timeout or process.server.ready_timeout
        if process.wait_ready(timeout):
            log(f"  {name} ready after {process.ready_after:.1f} s")
        else:
            log(f"  ERROR {name}: {process.error}; log {process.log_path}:")
            for line in harness.tail(process.log_path).splitlines():
                log(f"    | {line}")
            process.stop()
    return processes


def measure_memory(
    cell: Cell, process: ServerProcess, scenario: Scenario, plan: Plan, args: argparse.Namespace
) -> WrkRun | None:
    """One memory run on a fresh server (its RSS never shrinks back after a run, so a second
    run on the same process would measure reused memory): started with the server's
    ``MEMORY_SERVER_ARGS`` on a port of its own, measured, stopped. The suite's long-running
    process of that server stays as it is, idle."""
    server = process.server
    port = harness.free_port()
    fields = {
        "python": str(plan.python),
        "bin": str(plan.python.parent),
        "host": HOST,
        "port": str(port),
    }
    argv = [part.format(**fields) for part in server.argv]
    argv += MEMORY_SERVER_ARGS.get(server.name, ())
    fresh = ServerProcess(
        server=server,
        argv=harness.pin(plan.server_cpus, argv),
        port=port,
        log_path=plan.log_dir / f"{server.name}-{scenario.name}-{len(cell.runs) + 1}.log",
        env=process.env,
    )
    try:
        fresh.start()
        if not fresh.wait_ready(args.ready_timeout or server.ready_timeout):
            raise RuntimeError(f"fresh server for {scenario.name}: {fresh.error}")
        assert fresh.pgid is not None
        run = harness.run_memory(
            plan.python,
            port=port,
            scenario=scenario,
            connections=args.mem_connections,
            cpus=plan.client_cpus,
            server_pgid=fresh.pgid,
            server_cpus=plan.server_cpus,
        )
        run.details["server_argv"] = fresh.argv
        return run
    finally:
        fresh.stop()


def measure(
    cell: Cell,
    process: ServerProcess,
    scenario: Scenario,
    plan: Plan,
    args: argparse.Namespace,
    duration: int,
) -> WrkRun | None:
    """One wrk run against a live server; failures land in ``cell.error``."""
    if not process.alive():
        cell.error = f"server died ({process.exit_description()}); see {process.log_path}"
        return None
    try:
        if scenario.kind == "memory":
            return measure_memory(cell, process, scenario, plan, args)
        if scenario.kind == "rate":
            return harness.run_rate_load(
                plan.python,
                port=process.port,
                scenario=scenario,
                duration=duration,
                rate=args.rate,
                connections=args.rate_connections,
                cpus=plan.client_cpus,
                server_pgid=process.pgid,
                server_cpus=plan.server_cpus,
            )
        if scenario.kind == "ws":
            return harness.run_ws_load(
                plan.python,
                port=process.port,
                scenario=scenario,
                duration=duration,
                connections=args.ws_connections,
                window=args.ws_window,
                cpus=plan.client_cpus,
                server_pgid=process.pgid,
                server_cpus=plan.server_cpus,
            )
        return harness.run_wrk(
            plan.wrk,
            port=process.port,
            scenario=scenario,
            script=plan.script_dir / f"{scenario.name}.lua",
            duration=duration,
            connections=args.connections,
            threads=args.threads,
            cpus=plan.client_cpus,
            server_pgid=process.pgid,
            server_cpus=plan.server_cpus,
        )
    except RuntimeError as exc:
        cell.error = str(exc)
        return None


def rate_or_memory_line(label: str, scenario: Scenario, run: WrkRun) -> tuple[str, list[str]]:
    """The progress line of a fixed-rate or memory run, and what to flag in it.

    Neither loads the server to its limit and rate_load spins on its core by design, so of the
    throughput runs' CPU checks only the one for other processes on the server CPUs applies.
    """
    details = run.details
    problems = []
    if scenario.kind == "rate":
        lat = run.latency_ms
        line = (
            f"{label} {run.requests_per_sec:>10,.0f} req/s  p50 {lat['p50']:5.2f} "
            f"p99 {lat['p99']:5.2f} p999 {lat['p999']:5.2f} max {lat['max']:5.2f} ms  "
            f"cpu server {run.server_cpu or 0:.2f}"
        )
        if details["fell_behind"]:
            # Requests wait for a free connection when the server is slow to answer; if few
            # did, the client itself did not keep up with the schedule.
            who = "server" if details["waited"] > 0.01 * max(1, run.requests) else "client"
            problems.append(
                f"{who} fell behind: sent {details['send_rate']:,.0f} of "
                f"{details['target_rate']:,.0f} req/s ({details['waited']:,} requests waited "
                "for a free connection): not latencies at that rate"
            )
        if run.error_count:
            problems.append(f"rate_load errors {run.errors} ({details['first_error']})")
        if run.server_cpus_busy is not None and run.server_cpu is not None:
            foreign = run.server_cpus_busy - run.server_cpu
            if foreign > FOREIGN_LOAD:
                problems.append(f"other processes took {foreign:.2f} of the server CPU")
    else:
        line = (
            f"{label} {details['kib_per_conn']:>10.2f} KiB/conn  RSS "
            f"{details['rss_before_kib'] / 1024:.1f} -> {details['rss_after_kib'] / 1024:.1f} MiB "
            f"holding {details['held']:,}; {details['open_at_end']:,} still open, "
            f"{details['probe_ok']}/{details['probed']} probes answered"
        )
        if run.error_count:
            problems.append(f"memory errors {run.errors} ({details['first_error']})")
        if not details["settled"]:
            problems.append("RSS still growing when read")
    return line, problems


def run_scenario(
    scenario: Scenario,
    servers: list[Server],
    processes: dict[str, ServerProcess],
    plan: Plan,
    args: argparse.Namespace,
    results: list[Cell],
) -> None:
    """Measure one scenario on every server; its cells go into ``results`` as they start."""
    if scenario.kind == "http":
        (plan.script_dir / f"{scenario.name}.lua").write_text(harness.wrk_script(scenario))
    cells = {
        server.name: Cell(server=server.name, scenario=scenario.name, kind=scenario.kind)
        for server in servers
    }
    results += cells.values()
    log(f"\n== {scenario.name}: {scenario.description}")
    for name, cell in cells.items():
        process = processes[name]
        if process.error:
            cell.error = process.error
            continue
        problem = harness.check_scenario(process.port, scenario)
        if problem:
            cell.error = f"check failed: {problem}"
            log(f"  ERROR {name}: {cell.error}")
            continue
        if args.warmup > 0 and scenario.kind != "memory":  # memory: a fresh server per run
            log(f"  warm-up {name} ({args.warmup} s)")
            measure(cell, process, scenario, plan, args, args.warmup)
            if cell.error:
                log(f"  ERROR {name}: {cell.error}")
    names = list(cells)
    for index in range(args.runs):
        # Rotate the order each round so no server always goes first.
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            cell = cells[name]
            if cell.error:
                continue
            run = measure(cell, processes[name], scenario, plan, args, args.duration)
            label = f"  [{scenario.name} {index + 1}/{args.runs}] {name:<25}"
            if run is None:
                log(f"{label} ERROR {cell.error}")
                continue
            cell.runs.append(run)
            if scenario.kind in ("rate", "memory"):
                line, problems = rate_or_memory_line(label, scenario, run)
                for problem in problems:
                    cell.warnings.append(f"run {index + 1}: {problem}")
                    line += f"  WARNING {problem}"
                log(line)
                continue
            client = "ws_load" if scenario.kind == "ws" else "wrk"
            if scenario.kind == "ws":
                line = f"{label} {run.requests_per_sec:>10,.0f} msgs/s" + " " * 13
            else:
                line = (
                    f"{label} {run.requests_per_sec:>10,.0f} req/s  "
                    f"p99 {run.latency_ms['p99']:5.2f} ms"
                )
            line += f"  cpu server {run.server_cpu or 0:.2f} {client} {run.client_cpu:.2f}"
            problems = []
            if run.error_count:
                problems.append(f"{client} errors {run.errors}")
            if run.client_cpu > CLIENT_SATURATED:
                problems.append(f"{client} used its whole core: the client may be the bottleneck")
            if run.server_cpus_busy is not None and run.server_cpu is not None:
                foreign = run.server_cpus_busy - run.server_cpu
                if foreign > FOREIGN_LOAD:
                    problems.append(f"other processes took {foreign:.2f} of the server CPU")
                elif run.server_cpu < SERVER_BUSY * plan.server_cpu_count:
                    problems.append(
                        f"server used only {run.server_cpu:.2f} CPU: disturbed run "
                        "(hypervisor, client) or the server waits on something"
                    )
            for problem in problems:
                cell.warnings.append(f"run {index + 1}: {problem}")
                line += f"  WARNING {problem}"
            log(line)


# --- reporting --------------------------------------------------------------------------------


def comparisons(cells: list[Cell]) -> list[dict[str, Any]]:
    by_key = {(cell.server, cell.scenario): cell for cell in cells}
    out: list[dict[str, Any]] = []
    for comp in COMPARISONS:
        subject = by_key.get((comp.subject, comp.scenario))
        baseline = by_key.get((comp.baseline, comp.scenario))
        if subject is None or baseline is None:
            continue  # not selected in this run
        entry: dict[str, Any] = {**asdict(comp), "ratio": None, "met": None, "error": None}
        value, base = subject.median(comp.metric), baseline.median(comp.metric)
        if subject.ok and baseline.ok and (value is None or not base):
            entry["error"] = f"no {comp.metric} to compare ({value} / {base})"
        elif subject.ok and baseline.ok:
            ratio = (value or 0.0) / (base or 1.0)
            entry["ratio"] = round(ratio, 3)
            # Lower is better (latency, memory): the subject may use at most target x.
            entry["met"] = ratio >= comp.target if comp.higher_is_better else ratio <= comp.target
        else:
            failed = subject if not subject.ok else baseline
            entry["error"] = f"{failed.server}: {failed.error}"
        out.append(entry)
    return out


def print_summary(cells: list[Cell], baseline: str, comps: list[dict[str, Any]]) -> None:
    base_rps = {
        cell.scenario: cell.median(cell.ratio_metric)
        for cell in cells
        if cell.server == baseline and cell.ok
    }
    header = (
        f"{'scenario':<16} {'server':<25} {'value':>10} {'min..max':>17} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'vs ' + baseline:>22}  unit"
    )
    log("\n" + header)
    log("-" * len(header))
    for cell in cells:
        start = f"{cell.scenario:<16} {cell.server:<25}"
        if not cell.ok:
            log(f"{start} ERROR: {cell.error or 'not measured'}")
            continue
        rps = cell.median(cell.metric) or 0.0
        values = [
            run.requests_per_sec if cell.metric == "requests_per_sec" else run.details[cell.metric]
            for run in cell.runs
        ]
        low, high = min(values), max(values)
        base = base_rps.get(cell.scenario)
        mine = cell.median(cell.ratio_metric)
        ratio = f"{round(mine / base, 3):.2f}x" if base and mine is not None else "-"
        warn = "  (warnings: see above)" if cell.warnings else ""
        p50, p99 = cell.median("p50"), cell.median("p99")
        latency = f"{p50:>7.2f} {p99:>7.2f}" if p50 is not None and p99 is not None else " " * 15
        digits = 2 if cell.kind == "memory" else 0
        spread = f"{low:,.{digits}f}..{high:,.{digits}f}"
        log(f"{start} {rps:>10,.{digits}f} {spread:>17} {latency} {ratio:>22}  {cell.unit}{warn}")
    for comp in comps:
        name = f"{comp['subject']} / {comp['baseline']} on {comp['scenario']}"
        if comp["ratio"] is None:
            log(f"{name}: not measured ({comp['error']})")
        else:
            verdict = "met" if comp["met"] else "NOT met"
            sign = ">=" if comp["higher_is_better"] else "<="
            metric = "" if comp["metric"] == "requests_per_sec" else f" {comp['metric']}"
            log(
                f"{name}{metric}: {comp['ratio']:.2f}x "
                f"(target {sign} {comp['target']:.2f}x: {verdict})"
            )


def write_results(
    path: Path,
    *,
    args: argparse.Namespace,
    plan: Plan,
    started: datetime,
    processes: dict[str, ServerProcess],
    cells: list[Cell],
    comps: list[dict[str, Any]],
    interrupted: bool,
) -> None:
    data = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "params": {
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "ws_connections": args.ws_connections,
            "ws_window": args.ws_window,
            "rate": args.rate,
            "rate_connections": args.rate_connections,
            "mem_connections": args.mem_connections,
            "server_cpus": plan.server_cpus,
            "client_cpus": plan.client_cpus,
            "baseline": args.baseline,
        },
        "machine": {
            "cpu": harness.cpu_model(),
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
        },
        "versions": {
            **harness.package_versions(plan.python),
            "wrk": harness.wrk_version(plan.wrk),
        },
        "git": harness.git_describe(),
        "servers": {
            name: {
                "description": process.server.description,
                "argv": process.argv,
                "ready_after_s": round(process.ready_after, 2) if process.ready_after else None,
                "error": process.error,
                "log": str(process.log_path),
            }
            for name, process in processes.items()
        },
        "results": [
            {
                "scenario": cell.scenario,
                "server": cell.server,
                "kind": cell.kind,
                # of "median": msgs/s for a WebSocket scenario, KiB/conn for a memory one
                "unit": cell.unit,
                "metric": cell.metric,
                "median": cell.median(cell.metric),
                "median_requests_per_sec": cell.median("requests_per_sec")
                if cell.kind != "memory"
                else None,
                "median_latency_ms": {
                    key: cell.median(key) for key in ("p50", "p90", "p99", "p999")
                }
                if cell.runs and cell.kind in ("http", "rate")
                else None,
                "error": cell.error,
                "warnings": cell.warnings,
                "runs": [asdict(run) for run in cell.runs],
            }
            for cell in cells
        ],
        "comparisons": comps,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        print_list()
        return 0
    try:
        servers, scenarios = select(args)
        wrk = harness.ensure_wrk()
        python = harness.ensure_venv(args.venv.resolve(), install=not args.no_install)
    except BenchError as exc:
        log(f"error: {exc}")
        return EXIT_SETUP
    server_cpus, client_cpus = pinning(args)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    results_dir: Path = args.results_dir
    per_cell = args.warmup + args.runs * (args.duration + 0.3)
    log(
        f"berth bench: servers {', '.join(s.name for s in servers)}; "
        f"scenarios {', '.join(s.name for s in scenarios)}; "
        f"{args.runs} x {args.duration} s runs, {args.connections} connections, "
        f"server on CPU {server_cpus}, wrk/ws_load on CPU {client_cpus}; "
        f"about {sum(serves(a, b) for a in servers for b in scenarios) * per_cell:.0f} s"
    )
    cells: list[Cell] = []
    processes: dict[str, ServerProcess] = {}
    interrupted = False
    with (
        tempfile.TemporaryDirectory(prefix="berth-bench-") as scripts,
        contextlib.ExitStack() as stack,
        interrupt_on_termination(),
    ):
        plan = Plan(
            wrk=wrk,
            python=python,
            server_cpus=server_cpus,
            client_cpus=client_cpus,
            log_dir=results_dir / f"{stamp}-logs",
            script_dir=Path(scripts),
        )
        try:
            processes = start_servers(servers, plan, args, stack)
            for scenario in scenarios:
                eligible = [s for s in servers if serves(s, scenario)]
                run_scenario(scenario, eligible, processes, plan, args, cells)
        except KeyboardInterrupt:
            interrupted = True
            log("\ninterrupted: stopping the servers")
        finally:
            stack.close()  # every server's process group, before anything else
    comps = comparisons(cells)
    print_summary(cells, args.baseline, comps)
    out = results_dir / f"{stamp}.json"
    write_results(
        out,
        args=args,
        plan=plan,
        started=started,
        processes=processes,
        cells=cells,
        comps=comps,
        interrupted=interrupted,
    )
    log(f"\nresults: {out.relative_to(harness.ROOT) if out.is_relative_to(harness.ROOT) else out}")
    if interrupted:
        return EXIT_INTERRUPTED
    if any(not cell.ok for cell in cells):
        return EXIT_FAILED
    if args.check and any(comp["met"] is False for comp in comps):
        return EXIT_BELOW_TARGET
    return 0


if __name__ == "__main__":
    sys.exit(main())
