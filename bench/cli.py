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
from bench.suite import BASELINE, COMPARISONS, HOST, SCENARIOS, SERVERS, Scenario, Server

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
        if any(key not in run.latency_ms for run in self.runs):
            return None  # WebSocket runs measure no latency
        return statistics.median(run.latency_ms[key] for run in self.runs)

    @property
    def unit(self) -> str:
        return "msgs/s" if self.kind == "ws" else "req/s"

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
    if not servers or not scenarios:
        raise BenchError("nothing selected")
    return servers, scenarios


def print_list() -> None:
    log("servers:")
    for server in SERVERS:
        flag = "" if server.default else "  (not default)"
        log(f"  {server.name:<20} {server.description}{flag}")
    log("scenarios:")
    for scenario in SCENARIOS:
        flag = "" if scenario.default else "  (not default)"
        log(f"  {scenario.name:<20} {scenario.description}{flag}")


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
        if args.warmup > 0:
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
            label = f"  [{scenario.name} {index + 1}/{args.runs}] {name:<20}"
            if run is None:
                log(f"{label} ERROR {cell.error}")
                continue
            cell.runs.append(run)
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
        if subject.ok and baseline.ok:
            ratio = (subject.median("requests_per_sec") or 0) / (
                baseline.median("requests_per_sec") or 1
            )
            entry["ratio"] = round(ratio, 3)
            entry["met"] = ratio >= comp.target
        else:
            failed = subject if not subject.ok else baseline
            entry["error"] = f"{failed.server}: {failed.error}"
        out.append(entry)
    return out


def print_summary(cells: list[Cell], baseline: str, comps: list[dict[str, Any]]) -> None:
    base_rps = {
        cell.scenario: cell.median("requests_per_sec")
        for cell in cells
        if cell.server == baseline and cell.ok
    }
    header = (
        f"{'scenario':<12} {'server':<20} {'per s':>10} {'min..max':>17} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'vs ' + baseline:>22}  unit"
    )
    log("\n" + header)
    log("-" * len(header))
    for cell in cells:
        start = f"{cell.scenario:<12} {cell.server:<20}"
        if not cell.ok:
            log(f"{start} ERROR: {cell.error or 'not measured'}")
            continue
        rps = cell.median("requests_per_sec") or 0.0
        low = min(run.requests_per_sec for run in cell.runs)
        high = max(run.requests_per_sec for run in cell.runs)
        base = base_rps.get(cell.scenario)
        ratio = f"{round(rps / base, 3):.2f}x" if base else "-"
        warn = "  (warnings: see above)" if cell.warnings else ""
        p50, p99 = cell.median("p50"), cell.median("p99")
        latency = f"{p50:>7.2f} {p99:>7.2f}" if p50 is not None and p99 is not None else " " * 15
        log(
            f"{start} {rps:>10,.0f} {f'{low:,.0f}..{high:,.0f}':>17} "
            f"{latency} {ratio:>22}  {cell.unit}{warn}"
        )
    for comp in comps:
        name = f"{comp['subject']} / {comp['baseline']} on {comp['scenario']}"
        if comp["ratio"] is None:
            log(f"{name}: not measured ({comp['error']})")
        else:
            verdict = "met" if comp["met"] else "NOT met"
            log(f"{name}: {comp['ratio']:.2f}x (target >= {comp['target']:.2f}x: {verdict})")


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
                "unit": cell.unit,  # of median_requests_per_sec: msgs/s for a WebSocket scenario
                "median_requests_per_sec": cell.median("requests_per_sec"),
                "median_latency_ms": {
                    key: cell.median(key) for key in ("p50", "p90", "p99", "p999")
                }
                if cell.runs and cell.kind == "http"
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
        f"about {len(servers) * len(scenarios) * per_cell:.0f} s"
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
                eligible = [
                    s for s in servers if scenario.servers is None or s.name in scenario.servers
                ]
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
