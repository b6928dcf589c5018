"""Running ``bench/rate_load.py`` (latency at a fixed request rate) under the bench venv's
Python: :class:`~bench.results.LatencyResult`."""

from __future__ import annotations

from pathlib import Path

from bench.cpus import pin
from bench.paths import BENCH_DIR
from bench.results import LatencyResult
from bench.runners.load_tool import run_load_tool
from bench.scenarios import LatencyScenario

RATE_WARMUP_S = 1.0  # seconds rate_load sends before measuring (on top of the suite's warm-up)


def run_rate_load(
    python: Path,
    *,
    port: int,
    scenario: LatencyScenario,
    duration: int,
    rate: float,
    connections: int,
    cpus: str | None,
    server_pgid: int | None = None,
    server_cpus: str | None = None,
) -> LatencyResult:
    """One run: ``rate`` requests per second on ``connections`` keep-alive connections."""
    argv = pin(
        cpus,
        [
            str(python),
            str(BENCH_DIR / "rate_load.py"),
            f"--port={port}",
            f"--path={scenario.path}",
            f"--method={scenario.method}",
            f"--rate={rate}",
            f"--connections={connections}",
            f"--duration={duration}",
            f"--warmup={RATE_WARMUP_S}",
            f"--expect-status={scenario.expect_status}",
        ],
    )
    data, cpu = run_load_tool(
        argv, "rate_load", timeout=duration + 30, server_pgid=server_pgid, server_cpus=server_cpus
    )
    return LatencyResult.from_output(data, cpu)
