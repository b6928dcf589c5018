"""Running ``bench/fanout_load.py`` (fan-out to a room's WebSockets through Redis) under the
bench venv's Python: :class:`~bench.results.FanoutResult`."""

from __future__ import annotations

from pathlib import Path

from bench.cpus import pin
from bench.paths import BENCH_DIR
from bench.results import FanoutResult
from bench.runners.load_tool import run_load_tool
from bench.scenarios import FanoutScenario

FANOUT_WARMUP_S = 2.0  # seconds of unmeasured saturation before the measured one
SETUP_ALLOWANCE_S = 150.0  # connecting and probing 1,000 clients, draining, closing


def run_fanout_load(
    python: Path,
    *,
    server: str,
    port: int,
    scenario: FanoutScenario,
    duration: int,
    clients: int,
    window: int,
    rate: float,
    cpus: str | None,
    server_pgid: int | None,
    redis_pgid: int | None,
    server_cpus: str | None = None,
) -> FanoutResult:
    """One run against ``server`` (its clients speak the scenario's dialect for it): a
    saturation phase and a fixed-rate phase of ``duration`` seconds each."""
    argv = pin(
        cpus,
        [
            str(python),
            str(BENCH_DIR / "fanout_load.py"),
            f"--port={port}",
            f"--dialect={scenario.dialects[server]}",
            f"--room={scenario.room}",
            f"--clients={clients}",
            f"--workers={scenario.workers}",
            f"--window={window}",
            f"--rate={rate}",
            f"--duration={duration}",
            f"--warmup={FANOUT_WARMUP_S}",
            "--no-check",  # the harness checked the server before its first run
            *([f"--pgid={server_pgid}"] if server_pgid else []),
            *([f"--redis-pgid={redis_pgid}"] if redis_pgid else []),
        ],
    )
    data, cpu = run_load_tool(
        argv,
        "fanout_load",
        timeout=FANOUT_WARMUP_S + 2 * duration + SETUP_ALLOWANCE_S,
        server_pgid=server_pgid,
        server_cpus=server_cpus,
    )
    return FanoutResult.from_output(data, cpu)
