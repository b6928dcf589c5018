"""Measuring one scenario on every server that runs it: the check, the warm-up, then the
measured runs in rounds (the server order rotated each round so no server always goes first),
each run by the scenario's load tool, and a line per run as it goes.

A memory run gets a fresh server of its own: RSS does not shrink back after a run, so a second
run on the same process would measure reused memory. So does an instructions run: its server
runs under callgrind, and warms itself up before counting.
"""

from __future__ import annotations

from collections.abc import Sequence

from bench.cells import Cell
from bench.checks import check_scenario
from bench.hot_path import verify
from bench.plan import Plan
from bench.processes import ServerProcess, command, free_port
from bench.report import log, run_line
from bench.results import MemoryResult, Result
from bench.runners.fanout_load import run_fanout_load
from bench.runners.instructions import run_instructions
from bench.runners.memory import run_memory
from bench.runners.rate_load import run_rate_load
from bench.runners.wrk import run_wrk, wrk_script
from bench.runners.ws_load import run_ws_load
from bench.scenarios import (
    FanoutScenario,
    InstructionsScenario,
    LatencyScenario,
    MemoryScenario,
    Scenario,
    ThroughputScenario,
    WebSocketEchoScenario,
)
from bench.servers import MEMORY_SERVER_ARGS


def measure_memory(
    process: ServerProcess, scenario: MemoryScenario, plan: Plan, run_number: int
) -> MemoryResult:
    """One memory run on a fresh server, started with the server's ``MEMORY_SERVER_ARGS`` on
    a port of its own, measured, stopped. The suite's long-running process of that server
    stays as it is, idle. A Berth server's hot path is checked again first (a rebuild may
    have come since the run started)."""
    server = process.server
    verify(server, plan.python, process.env)
    port = free_port()
    fresh = ServerProcess(
        server=server,
        argv=command(
            server, plan.python, port, plan.server_cpus, MEMORY_SERVER_ARGS.get(server.name, ())
        ),
        port=port,
        log_path=plan.log_dir / f"{server.name}-{scenario.name}-{run_number}.log",
        env=process.env,
    )
    try:
        fresh.start()
        if not fresh.wait_ready(plan.load.ready_timeout or server.ready_timeout):
            raise RuntimeError(f"fresh server for {scenario.name}: {fresh.error}")
        assert fresh.pgid is not None
        return run_memory(
            plan.python,
            port=port,
            scenario=scenario,
            connections=plan.load.mem_connections,
            cpus=plan.client_cpus,
            server_pgid=fresh.pgid,
            server_argv=fresh.argv,
            server_cpus=plan.server_cpus,
        )
    finally:
        fresh.stop()


def measure(cell: Cell, process: ServerProcess, plan: Plan, duration: int) -> Result | None:
    """One run of the cell's scenario against a live server; failures land in
    ``cell.error``."""
    if not process.alive():
        cell.error = f"server died ({process.exit_description()}); see {process.log_path}"
        return None
    load = plan.load
    try:
        match cell.scenario:
            case ThroughputScenario() as scenario:
                return run_wrk(
                    plan.wrk,
                    port=process.port,
                    scenario=scenario,
                    script=plan.script_dir / f"{scenario.name}.lua",
                    duration=duration,
                    connections=load.connections,
                    threads=load.threads,
                    cpus=plan.client_cpus,
                    server_pgid=process.pgid,
                    server_cpus=plan.server_cpus,
                )
            case WebSocketEchoScenario() as scenario:
                return run_ws_load(
                    plan.python,
                    port=process.port,
                    scenario=scenario,
                    duration=duration,
                    connections=load.ws_connections,
                    window=load.ws_window,
                    cpus=plan.client_cpus,
                    server_pgid=process.pgid,
                    server_cpus=plan.server_cpus,
                )
            case LatencyScenario() as scenario:
                return run_rate_load(
                    plan.python,
                    port=process.port,
                    scenario=scenario,
                    duration=duration,
                    rate=load.rate,
                    connections=load.rate_connections,
                    cpus=plan.client_cpus,
                    server_pgid=process.pgid,
                    server_cpus=plan.server_cpus,
                )
            case MemoryScenario() as scenario:
                return measure_memory(process, scenario, plan, len(cell.runs) + 1)
            case FanoutScenario() as scenario:
                return run_fanout_load(
                    plan.python,
                    server=cell.server,
                    port=process.port,
                    scenario=scenario,
                    duration=duration,
                    clients=load.fanout_clients,
                    window=load.fanout_window,
                    rate=load.fanout_rate,
                    cpus=plan.client_cpus,
                    server_pgid=process.pgid,
                    redis_pgid=plan.redis_pgid,
                    server_cpus=plan.server_cpus,
                )
            case InstructionsScenario() as scenario:
                if plan.valgrind is None:
                    raise RuntimeError("no valgrind (bench/callgrind.py)")
                return run_instructions(
                    process.server,
                    plan=plan,
                    valgrind=plan.valgrind,
                    scenario=scenario,
                    env=process.env,
                    run_number=len(cell.runs) + 1,
                )
    except RuntimeError as exc:
        cell.error = str(exc)
        return None


def run_scenario(
    scenario: Scenario,
    servers: Sequence[str],
    processes: dict[str, ServerProcess],
    plan: Plan,
    results: list[Cell],
) -> None:
    """Measure one scenario on every server named; its cells go into ``results`` as they
    start (an interruption keeps what was measured)."""
    load = plan.load
    if isinstance(scenario, ThroughputScenario):
        (plan.script_dir / f"{scenario.name}.lua").write_text(wrk_script(scenario))
    cells = {name: Cell(server=name, scenario=scenario) for name in servers}
    results += cells.values()
    log(f"\n== {scenario.name}: {scenario.description}")
    for name, cell in cells.items():
        process = processes[name]
        if process.error:
            cell.error = process.error
            continue
        problem = check_scenario(process.port, scenario, name)
        if problem:
            cell.error = f"check failed: {problem}"
            log(f"  ERROR {name}: {cell.error}")
            continue
        # Memory: a fresh server per run, nothing to warm up; fan-out and instructions: each
        # run warms up on its own (bench/fanout_load.py, bench/runners/instructions.py).
        if load.warmup > 0 and not isinstance(
            scenario, MemoryScenario | FanoutScenario | InstructionsScenario
        ):
            log(f"  warm-up {name} ({load.warmup} s)")
            measure(cell, process, plan, load.warmup)
            if cell.error:
                log(f"  ERROR {name}: {cell.error}")
    names = list(cells)
    for index in range(load.runs):
        # Rotate the order each round so no server always goes first.
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            cell = cells[name]
            if cell.error:
                continue
            run = measure(cell, processes[name], plan, load.duration)
            label = f"  [{scenario.name} {index + 1}/{load.runs}] {name:<25}"
            if run is None:
                log(f"{label} ERROR {cell.error}")
                continue
            cell.runs.append(run)
            line, problems = run_line(label, run, plan.server_cpu_count)
            for problem in problems:
                cell.warnings.append(f"run {index + 1}: {problem}")
                line += f"  WARNING {problem}"
            log(line)
