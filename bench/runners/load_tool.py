"""Running one load tool to completion: the CPU it and the server used per second of the run,
and the JSON of its ``BENCH_RESULT`` line (wrk's Lua ``done()`` prints the same line as our
clients, ``bench/loadgen.py``)."""

from __future__ import annotations

import json
import resource
import subprocess
import time
from collections.abc import Sequence
from typing import Any

from bench.cpus import parse_cpu_list
from bench.loadgen import RESULT_MARKER
from bench.paths import ROOT
from bench.procfs import cpus_busy_seconds, group_cpu_seconds
from bench.results import CpuUsage


def result_line(done: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    """The JSON of a load tool's result line; RuntimeError when there is none."""
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            data: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return data
    output = (done.stdout + done.stderr).strip()
    raise RuntimeError(f"{what} exited {done.returncode} without a result:\n{output}")


def run_load_tool(
    argv: Sequence[str],
    what: str,
    *,
    timeout: float,
    server_pgid: int | None,
    server_cpus: str | None,
) -> tuple[dict[str, Any], CpuUsage]:
    """Run a load tool (``argv``, already pinned) from the repository root; return its result
    line and the CPU it, the server's process group and the server CPUs used per second.

    RuntimeError when it runs past ``timeout`` or prints no result line.
    """
    server_before = group_cpu_seconds(server_pgid) if server_pgid else 0.0
    server_set = parse_cpu_list(server_cpus) if server_cpus else set()
    busy_before = cpus_busy_seconds(server_set)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall_before = time.monotonic()
    try:
        done = subprocess.run(
            argv,
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} did not finish within {timeout:g} s") from exc
    wall = time.monotonic() - wall_before
    server_cpu = (group_cpu_seconds(server_pgid) - server_before) / wall if server_pgid else None
    busy = (cpus_busy_seconds(server_set) - busy_before) / wall if server_set else None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_seconds = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    usage = CpuUsage(
        server=round(server_cpu, 3) if server_cpu is not None else None,
        client=round(client_seconds / wall, 3),
        server_cpus_busy=round(busy, 3) if busy is not None else None,
    )
    return result_line(done, what), usage
