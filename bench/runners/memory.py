"""Running ``bench/memory.py`` (RSS per idle connection) under the bench venv's Python:
:class:`~bench.results.MemoryResult`. The server it measures is a fresh one
(``bench/measure.py`` starts it)."""

from __future__ import annotations

from pathlib import Path

from bench.cpus import pin
from bench.paths import BENCH_DIR
from bench.results import MemoryResult
from bench.runners.load_tool import run_load_tool
from bench.scenarios import MemoryScenario

MEMORY_TIMEOUT_S = 120.0  # opening, settling, probing and closing 10,000 connections


def run_memory(
    python: Path,
    *,
    port: int,
    scenario: MemoryScenario,
    connections: int,
    cpus: str | None,
    server_pgid: int,
    server_argv: list[str],
    server_cpus: str | None = None,
) -> MemoryResult:
    """One run: the worker's RSS before and while it holds ``connections`` idle keep-alive
    connections or WebSockets (``scenario.mode``). ``server_argv`` is recorded with it."""
    argv = pin(
        cpus,
        [
            str(python),
            str(BENCH_DIR / "memory.py"),
            f"--port={port}",
            f"--pgid={server_pgid}",
            f"--mode={scenario.mode}",
            f"--path={scenario.path}",
            f"--connections={connections}",
            *([f"--message={scenario.message.decode()}"] if scenario.mode == "ws" else []),
        ],
    )
    data, cpu = run_load_tool(
        argv, "memory", timeout=MEMORY_TIMEOUT_S, server_pgid=server_pgid, server_cpus=server_cpus
    )
    return MemoryResult.from_output(data, cpu, server_argv=server_argv)
