"""One run of the ``instructions`` scenario: a fresh server under callgrind, warmed up, then
counted over two windows of requests (:class:`~bench.results.InstructionsResult`).

The steps, each server on a port of its own:

1. start the server's own command line under ``valgrind --tool=callgrind`` with collection
   off, pinned to the server CPUs, with ``PYTHONHASHSEED=0`` (dictionary layouts, and with
   them a few instructions per lookup, would otherwise change from run to run);
2. open one keep-alive connection (``bench/counted_load.py``) and send ``warmup`` requests,
   not counted: imports, caches and the first requests' one-time work are done by then;
3. switch collection on, send ``small`` requests, dump; send ``3 x small``, dump (each dump
   zeroes the counters);
4. per request = the slope between the two windows (``bench/instructions.py``), so whatever a
   window costs regardless of its size (the dump, a timer firing) drops out; stop the server.

The dumps stay in ``<stamp>-logs/callgrind/`` for ``callgrind_annotate`` (where the
instructions go). Under callgrind a server answers about a thousand requests a second here,
so a run takes a few seconds plus the start-up.
"""

from __future__ import annotations

import time

from bench.callgrind import (
    Valgrind,
    callgrind_argv,
    counted_pids,
    dump_path,
    monitor,
    wait_total,
)
from bench.counted_load import CountedClient
from bench.cpus import pin
from bench.hot_path import verify
from bench.instructions import Window, fixed_part, per_request
from bench.plan import Plan
from bench.processes import ServerProcess, command, free_port
from bench.results import InstructionsResult
from bench.scenarios import InstructionsScenario
from bench.servers import Server

LARGE_FACTOR = 3  # the large window is this many times the small one
READY_TIMEOUT_S = 90.0  # start-up under valgrind, collection off: a few seconds here


def run_instructions(
    server: Server,
    *,
    plan: Plan,
    valgrind: Valgrind,
    scenario: InstructionsScenario,
    env: dict[str, str],
    run_number: int,
) -> InstructionsResult:
    """Count ``server`` answering ``GET scenario.path``; RuntimeError when it does not come up,
    a request fails, callgrind does not answer or a Berth server would run the other hot
    path than its name says (checked again for each fresh server: a rebuild may have come
    between the runs)."""
    verify(server, plan.python, env)
    load = plan.load
    port = free_port()
    out_prefix = plan.log_dir / "callgrind" / f"{server.name}-{run_number}"
    out_prefix.parent.mkdir(parents=True, exist_ok=True)
    argv = pin(
        plan.server_cpus,
        callgrind_argv(valgrind.valgrind, out_prefix, command(server, plan.python, port, None)),
    )
    process = ServerProcess(
        server=server,
        argv=argv,
        port=port,
        log_path=plan.log_dir / f"{server.name}-{scenario.name}-{run_number}.log",
        env={**env, "PYTHONHASHSEED": "0"},
    )
    try:
        process.start()
        ready_timeout = max(load.ready_timeout or 0.0, READY_TIMEOUT_S)
        if not process.wait_ready(ready_timeout):
            raise RuntimeError(f"{server.name} under callgrind: {process.error}")
        assert process.pgid is not None
        with CountedClient(port, scenario.path) as client:
            client.send(load.instr_warmup)
            pids = counted_pids(process.pgid)
            if not pids:
                raise RuntimeError(f"{server.name}: no process of its group runs under callgrind")
            for pid in pids:
                monitor(valgrind.vgdb, pid, "instrumentation on")
            windows = []
            started = time.monotonic()
            for number, size in enumerate(
                (load.instr_requests, LARGE_FACTOR * load.instr_requests)
            ):
                client.send(size)
                total = 0
                for pid in pids:
                    monitor(valgrind.vgdb, pid, "dump")
                    total += wait_total(dump_path(out_prefix, pid, number + 1))
                windows.append(Window(requests=size, instructions=total))
            window_s = time.monotonic() - started
            bad_status = client.bad_status
        for pid in pids:  # the shutdown need not be counted (nor be slow)
            monitor(valgrind.vgdb, pid, "instrumentation off")
    except OSError as exc:  # connecting, or a write the server did not take
        raise RuntimeError(f"{server.name} under callgrind: {type(exc).__name__}: {exc}") from exc
    finally:
        process.stop()
    small, large = windows
    return InstructionsResult(
        instructions_per_request=round(per_request(small, large), 1),
        fixed_instructions=round(fixed_part(small, large), 1),
        requests=[window.requests for window in windows],
        instructions=[window.instructions for window in windows],
        warmup_requests=load.instr_warmup,
        processes=len(pids),
        bad_status=bad_status,
        window_s=round(window_s, 2),
        server_argv=argv,
    )
