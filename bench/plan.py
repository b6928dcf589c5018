"""What a run is set up to do: the shape of the load (the options), and where everything runs
(wrk, the bench venv's Python, the CPUs, the folders); and the error that stops a run before
it starts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cpus import parse_cpu_list

if TYPE_CHECKING:
    from bench.callgrind import Valgrind


class BenchError(Exception):
    """A setup problem that stops the whole run (bad selection, no wrk, no venv)."""


@dataclass(frozen=True)
class LoadSettings:
    """The options that shape the measurement; the results file keeps them as ``params``."""

    runs: int  # measured runs per cell (median)
    duration: int  # seconds per run
    warmup: int  # seconds of unmeasured load first (not for memory)
    connections: int  # wrk
    threads: int  # wrk
    ws_connections: int  # ws_load
    ws_window: int  # ws_load: messages in flight per connection
    rate: float  # rate_load: requests per second
    rate_connections: int  # rate_load
    mem_connections: int  # memory: idle connections held
    fanout_clients: int  # fanout_load: WebSockets in the room
    fanout_window: int  # fanout_load: messages in flight at saturation
    fanout_rate: float  # fanout_load: messages per second in the latency phase
    instr_requests: int  # instructions: the small counted window (the large one is 3x)
    instr_warmup: int  # instructions: requests answered before counting starts
    ready_timeout: float | None  # seconds a server has to answer; None: the server's own


@dataclass(frozen=True)
class Plan:
    """Where the measurement runs."""

    load: LoadSettings
    wrk: str  # wrk's path
    python: Path  # the bench venv's interpreter: servers and our load clients run under it
    server_cpus: str | None  # taskset lists; None: not pinned
    client_cpus: str | None
    log_dir: Path  # each server's output
    script_dir: Path  # the wrk Lua scripts
    redis_pgid: int | None = None  # the run's redis-server (fanout), for its CPU time
    valgrind: Valgrind | None = None  # the instructions scenario's counter

    @property
    def server_cpu_count(self) -> int:
        return len(parse_cpu_list(self.server_cpus)) if self.server_cpus else 1
