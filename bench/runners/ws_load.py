"""Running ``bench/ws_load.py`` (WebSocket echo) under the bench venv's Python:
:class:`~bench.results.WebSocketEchoResult`."""

from __future__ import annotations

from pathlib import Path

from bench.cpus import pin
from bench.paths import BENCH_DIR
from bench.results import WebSocketEchoResult
from bench.runners.load_tool import run_load_tool
from bench.scenarios import WebSocketEchoScenario
from bench.ws_wire import server_frame_size

WS_RAMP_S = 0.5  # seconds ws_load runs before counting: connections and upgrades, not measured


def run_ws_load(
    python: Path,
    *,
    port: int,
    scenario: WebSocketEchoScenario,
    duration: int,
    connections: int,
    window: int,
    cpus: str | None,
    server_pgid: int | None = None,
    server_cpus: str | None = None,
) -> WebSocketEchoResult:
    """One run: ``connections`` upgraded, ``window`` messages in flight on each."""
    argv = pin(
        cpus,
        [
            str(python),
            str(BENCH_DIR / "ws_load.py"),
            f"--port={port}",
            f"--path={scenario.path}",
            f"--connections={connections}",
            f"--window={window}",
            f"--duration={duration}",
            f"--warmup={WS_RAMP_S}",
            f"--message={scenario.message.decode()}",
        ],
    )
    data, cpu = run_load_tool(
        argv, "ws_load", timeout=duration + 30, server_pgid=server_pgid, server_cpus=server_cpus
    )
    return WebSocketEchoResult.from_output(
        data, cpu, frame_bytes=server_frame_size(len(scenario.message))
    )
