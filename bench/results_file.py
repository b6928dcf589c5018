"""The results file, ``bench/results/<UTC stamp>.json``: what was run, where, on what, and
every cell with its runs, then the comparisons."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import peers, provenance
from bench.callgrind import valgrind_version
from bench.cells import Cell
from bench.plan import Plan
from bench.processes import ServerProcess
from bench.runners.wrk import wrk_version
from bench.targets import Outcome


def write_results(
    path: Path,
    *,
    plan: Plan,
    baseline: str,
    started: datetime,
    processes: Mapping[str, ServerProcess],
    cells: Sequence[Cell],
    outcomes: Sequence[Outcome],
    interrupted: bool,
    selection: Mapping[str, Any] | None = None,
) -> None:
    load = plan.load
    data: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "interrupted": interrupted,
        "params": {
            "runs": load.runs,
            "duration_s": load.duration,
            "warmup_s": load.warmup,
            "connections": load.connections,
            "threads": load.threads,
            "ws_connections": load.ws_connections,
            "ws_window": load.ws_window,
            "rate": load.rate,
            "rate_connections": load.rate_connections,
            "mem_connections": load.mem_connections,
            "fanout_clients": load.fanout_clients,
            "fanout_window": load.fanout_window,
            "fanout_rate": load.fanout_rate,
            "instr_requests": load.instr_requests,
            "instr_warmup": load.instr_warmup,
            "server_cpus": plan.server_cpus,
            "client_cpus": plan.client_cpus,
            "baseline": baseline,
            # --only and --all: which servers and scenarios were picked ("" and False: the
            # default set, a full run)
            **dict(selection or {}),
        },
        "machine": provenance.machine(),
        "versions": {
            **peers.package_versions(plan.python),
            "wrk": wrk_version(plan.wrk),
            **({"valgrind": valgrind_version(plan.valgrind)} if plan.valgrind else {}),
        },
        "git": provenance.git_describe(),
        "servers": {
            name: {
                "description": process.server.description,
                "argv": process.argv,
                "ready_after_s": round(process.ready_after, 2) if process.ready_after else None,
                "error": process.error,
                "log": str(process.log_path),
                # Berth's servers: `python -m runtime --version` in the server's environment
                # before it started, e.g. "berth 0.1.0, hot path compiled (mypyc, 11 modules)"
                **({"hot_path": process.hot_path} if process.server.hot_path else {}),
            }
            for name, process in processes.items()
        },
        "results": [cell.to_json() for cell in cells],
        "comparisons": [outcome.to_json() for outcome in outcomes],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
