"""Server memory per idle connection: RSS of the worker before and while it holds N of them.

``python bench/memory.py --port P --pgid G [--mode keepalive|ws] [--path /]
[--connections 10000] [--batch 500]``

``--pgid`` is the server's process group (bench/run.py starts every server in its own). The
worker is found in /proc: of the group's processes, the one holding the most file descriptors
once the connections are open (gunicorn's worker, not its master; the server itself for a
single-process server). Its VmRSS is read from /proc/<pid>/status:

1. *before*: with no connection open (after one checked request on a connection of its own);
2. the connections are opened in batches of ``--batch`` (each batch at once, the next when it is
   done: 100 stays under the listen backlogs of asyncio (100) and aiohttp (128), past which the
   kernel drops handshakes that then wait a 1 s retransmission); a connection that fails is
   retried, up to ``--retries`` times; no batch starts after ``--open-for`` seconds (a server
   with a connection limit is reported with what it holds). ``--mode keepalive``: each sends one
   ``GET --path`` and reads the whole response (Content-Length or chunked), then stays open,
   idle. ``--mode ws``: each upgrades ``--path`` (status 101 checked), sends one text message
   and reads its echo, then stays open, idle;
3. *after*: once the worker's RSS has stopped growing (no growth over ``--settle`` seconds,
   sampled every 0.1 s, at most ``--settle-timeout`` seconds), with every connection still open.

``kib_per_conn = (after - before) / connections open when after was read``. Then it checks
the connections are still there: how many the server closed (seen as EOF: an idle timeout
shorter than the measurement shows up here), and one more request (or echo) on ``--sample``
of them spread over the set. Then it closes them all and waits (bounded) for the worker's
descriptors to go back down.

RSS never shrinks back after a run (freed memory stays with the allocator), so a second run
on the same process measures reused memory, next to nothing: bench/run.py starts a fresh
server for every memory run.

It prints one line ``BENCH_RESULT {json}``. Standard library only (uvloop optional); the
connections are in ``bench/held_connections.py``, the /proc readers in ``bench/procfs.py``.
The client raises its own RLIMIT_NOFILE to the hard limit; the server needs room for N
descriptors too.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import http_wire, loadgen, ws_wire
from bench.held_connections import Held, open_all
from bench.http_wire import HOST
from bench.procfs import fd_count, group_pids, rss_kib

# rss_kib: tests/soak reads a worker's RSS with it, from here.
__all__ = ["main", "rss_kib", "run"]

POLL = 0.1  # seconds between RSS samples while settling
DEFAULT_MESSAGE = b"0123456789abcdef"


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


# --- the measurement ----------------------------------------------------------------------------


def settle(pid: int, quiet: float, timeout: float) -> tuple[int | None, float, bool]:
    """Sample RSS until it has not grown for ``quiet`` seconds (or ``timeout``).

    Returns the last RSS, the seconds waited, and whether it settled.
    """
    started = time.monotonic()
    peak = rss_kib(pid)
    peak_at = started
    while True:
        now = time.monotonic()
        if now - peak_at >= quiet:
            return peak, now - started, True
        if now - started >= timeout:
            return rss_kib(pid), now - started, False
        time.sleep(POLL)
        rss = rss_kib(pid)
        if rss is None:
            return None, time.monotonic() - started, False
        if peak is None or rss > peak:
            peak, peak_at = rss, time.monotonic()


async def run(
    port: int,
    pgid: int,
    *,
    mode: str,
    path: str,
    message: bytes,
    connections: int,
    batch: int,
    retries: int,
    quiet: float,
    settle_timeout: float,
    sample: int,
    timeout: float,
    open_for: float,
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    pids = group_pids(pgid)
    if not pids:
        raise RuntimeError(f"no process in group {pgid}")
    errors: dict[str, int] = {"setup": 0, "retried": 0, "closed_by_server": 0, "probe": 0}
    fds_before = {pid: fd_count(pid) for pid in pids}
    before = {pid: rss_kib(pid) for pid in pids}
    started = time.monotonic()
    held: list[Held] = []
    worker = pids[0]
    try:
        held, first_error = await open_all(
            mode,
            port,
            path,
            message,
            count=connections,
            batch=batch,
            retries=retries,
            timeout=timeout,
            deadline=started + open_for,
            errors=errors,
        )
        opened_s = time.monotonic() - started
        if not held:
            raise RuntimeError(f"no connection could be opened: {first_error}")
        # The worker: the process of the group holding the connections.
        worker = max(pids, key=lambda pid: fd_count(pid) - fds_before.get(pid, 0))
        worker_fds = fd_count(worker)
        rss_after, settle_s, settled = await loop.run_in_executor(
            None, settle, worker, quiet, settle_timeout
        )
        after = {pid: rss_kib(pid) for pid in pids}
        after[worker] = rss_after
        open_at_measure = sum(1 for conn in held if not conn.lost)
        measured_s = time.monotonic() - started
        # Still there? EOFs first (an idle timeout closes them), then a probe on a sample.
        open_at_end = sum(1 for conn in held if not conn.lost)
        errors["closed_by_server"] = len(held) - open_at_end
        step = max(1, len(held) // max(1, sample))
        probed = held[::step][:sample]
        results = await asyncio.gather(
            *(asyncio.wait_for(conn.probe(), timeout) for conn in probed), return_exceptions=True
        )
        probe_failures = [r for r in results if isinstance(r, BaseException)]
        errors["probe"] = len(probe_failures)
        if probe_failures and first_error is None:
            first_error = f"probe: {probe_failures[0]!r}"
        held_s = time.monotonic() - started
    finally:
        for conn in held:
            conn.close()
        await asyncio.sleep(0.1)
    closed_s = await loop.run_in_executor(None, wait_closed, worker, fds_before.get(worker, 0))
    rss_before = before.get(worker)
    if rss_before is None or rss_after is None:
        raise RuntimeError(f"worker {worker} went away")
    return {
        "mode": mode,
        "path": path,
        "connections": connections,
        "held": len(held),
        "open_at_end": open_at_end,
        "probed": len(probed),
        "probe_ok": len(probed) - len(probe_failures),
        "worker_pid": worker,
        "worker_fds": worker_fds,
        "group_pids": pids,
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        # Per connection the server held when RSS was read (all of them, unless it closed some).
        "kib_per_conn": round((rss_after - rss_before) / max(1, open_at_measure), 3),
        "open_at_measure": open_at_measure,
        "group_rss_before_kib": sum(v or 0 for v in before.values()),
        "group_rss_after_kib": sum(v or 0 for v in after.values()),
        "settled": settled,
        "settle_s": round(settle_s, 2),
        "open_s": round(opened_s, 2),
        "measured_after_s": round(measured_s, 2),
        "held_s": round(held_s, 2),
        "closed_after_s": round(closed_s, 2),
        "errors": errors,
        "first_error": first_error,
        "cpu_s": round(time.process_time(), 3),
    }


def wait_closed(pid: int, fds: int, timeout: float = 15.0) -> float:
    """Wait (bounded) until the worker holds no more descriptors than it did before."""
    started = time.monotonic()
    while time.monotonic() - started < timeout and fd_count(pid) > fds + 16:
        time.sleep(POLL)
    return time.monotonic() - started


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/memory.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, required=True, help=f"server port on {HOST}")
    parser.add_argument("--pgid", type=int, required=True, help="the server's process group")
    parser.add_argument("--mode", choices=("keepalive", "ws"), default="keepalive")
    parser.add_argument("--path", default=None, help="default: / (keepalive), /ws (ws)")
    parser.add_argument("--message", default=DEFAULT_MESSAGE.decode(), help="ws: text echoed")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=100, help="connections opened at once")
    parser.add_argument("--retries", type=int, default=3, help="per connection that fails")
    parser.add_argument(
        "--settle", type=float, default=1.0, help="seconds without RSS growth that count as settled"
    )
    parser.add_argument("--settle-timeout", type=float, default=10.0)
    parser.add_argument("--sample", type=int, default=200, help="connections probed at the end")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per connection setup")
    parser.add_argument(
        "--open-for",
        type=float,
        default=40.0,
        help="seconds after which no more batches start (the rest count as not opened)",
    )
    args = parser.parse_args(argv)
    if min(args.connections, args.batch, args.sample) < 1 or args.retries < 0:
        parser.error("--connections, --batch and --sample must be positive")
    path = args.path or ("/ws" if args.mode == "ws" else "/")
    message = args.message.encode()
    limit = raise_fd_limit()
    if limit != resource.RLIM_INFINITY and limit < args.connections + 64:
        print(f"memory: RLIMIT_NOFILE {limit} is too low for {args.connections}", file=sys.stderr)
        return 1
    if args.mode == "ws":
        problem = ws_wire.check_echo(port=args.port, path=path, message=message)
    else:
        problem = http_wire.check(args.port, "GET", path, 200)
    if problem:
        print(f"memory: check failed: {problem}", file=sys.stderr)
        return 1
    work = run(
        args.port,
        args.pgid,
        mode=args.mode,
        path=path,
        message=message,
        connections=args.connections,
        batch=args.batch,
        retries=args.retries,
        quiet=args.settle,
        settle_timeout=args.settle_timeout,
        sample=args.sample,
        timeout=args.timeout,
        open_for=args.open_for,
    )
    return loadgen.report("memory", work)


if __name__ == "__main__":
    sys.exit(main())
