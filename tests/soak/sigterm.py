"""sigterm: what clients opening fresh connections see while gunicorn stops gracefully.

For each server and round a fresh gunicorn (``-w 2``) gets ``--storm-concurrency`` client
loops, each a fresh connection and one ``GET /`` (``Connection: close``, 5 s timeout) after
the other, for ``--seconds``; 30 % into it the master gets SIGTERM. Just before it,
``--slow-requests`` requests of ``GET /sleep?s=3`` start, so the workers have work in flight
and drain for about 3 s, as a worker being stopped usually does. Every attempt is one of:
answered, refused (ECONNREFUSED at connect), reset (ECONNRESET/EPIPE, or the connection ended
before a complete response), timeout, error; counted before the SIGTERM, during the stop
(SIGTERM until the master exited) and after it. A graceful stop should answer or refuse;
a reset is a client that was let in and then dropped. The slow requests should all be
answered (a graceful stop finishes them).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from pathlib import Path
from typing import Any

from tests.soak import clients, report
from tests.soak.servers import HOST, Gunicorn, Options, load_average

NAME = "sigterm"
DEFAULT_SECONDS = 10.0
QUICK_SECONDS = 10.0
SIGTERM_AT = 0.3
SLOW_SECONDS = 3.0
STOP_WAIT = 45.0  # longer than gunicorn's default graceful_timeout (30 s)
WINDOWS = ("before", "stopping", "after")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sigterm")
    group.add_argument("--rounds", type=int, default=None, help="runs per server (default 3)")
    group.add_argument("--storm-concurrency", type=int, default=32, help="client loops")
    group.add_argument(
        "--slow-requests", type=int, default=4, help="3 s requests in flight at SIGTERM"
    )


async def measure(gunicorn: Gunicorn, args: argparse.Namespace) -> dict[str, Any]:
    t0 = time.monotonic()
    storm = asyncio.create_task(
        clients.connect_storm(
            HOST, gunicorn.port, duration=args.seconds, concurrency=args.storm_concurrency
        )
    )
    await asyncio.sleep(max(0.0, args.seconds * SIGTERM_AT - 0.5))
    slow = [
        asyncio.create_task(
            clients.get_once(HOST, gunicorn.port, path=f"/sleep?s={SLOW_SECONDS}", timeout=15)
        )
        for _ in range(args.slow_requests)
    ]
    await asyncio.sleep(0.5)
    sigterm_at = time.monotonic() - t0
    gunicorn.send_signal(signal.SIGTERM)
    workers_gone_at = exited_at = None
    code = None
    while time.monotonic() - t0 < sigterm_at + STOP_WAIT:
        if workers_gone_at is None and not gunicorn.worker_pids():
            workers_gone_at = time.monotonic() - t0
        code = gunicorn.proc.poll() if gunicorn.proc else None
        if code is not None:
            exited_at = time.monotonic() - t0
            break
        await asyncio.sleep(0.01)
    result = await storm
    slow_attempts = await asyncio.gather(*slow)

    def window(start: float) -> str:
        if start < sigterm_at:
            return "before"
        if exited_at is None or start < exited_at:
            return "stopping"
        return "after"

    counts = {w: dict.fromkeys(clients.OUTCOMES, 0) for w in WINDOWS}
    for attempt in result.attempts:
        counts[window(attempt.start)][attempt.outcome] += 1
    after_sig = [a for a in result.attempts if a.start >= sigterm_at]
    answered_after = [a.start for a in after_sig if a.outcome == clients.ANSWERED]
    refused_after = [a.start for a in after_sig if a.outcome == clients.REFUSED]
    resets = [a for a in result.attempts if a.outcome == clients.RESET]
    return {
        "attempts": len(result.attempts),
        "totals": result.counts(),
        "windows": counts,
        "not_answered": result.details(),
        "sigterm_at_s": round(sigterm_at, 2),
        "workers_gone_s": _since(workers_gone_at, sigterm_at),
        "master_exit_s": _since(exited_at, sigterm_at),
        "master_exit_code": code,
        "last_answered_s": _since(max(answered_after, default=None), sigterm_at),
        "first_refused_s": _since(min(refused_after, default=None), sigterm_at),
        "reset_started_s": [round(a.start - sigterm_at, 2) for a in resets[:50]],
        "slow_answered": sum(1 for a in slow_attempts if a.status == 200),
        "slow_outcomes": [f"{a.outcome}:{a.status or a.detail}" for a in slow_attempts],
    }


def _since(value: float | None, origin: float) -> float | None:
    return None if value is None else round(value - origin, 2)


async def run(args: argparse.Namespace, servers: list[str], log_dir: Path) -> dict[str, Any]:
    rounds = args.rounds or (1 if args.quick else 3)
    print(
        f"\n== sigterm: {args.storm_concurrency} client loops of fresh connection + GET for "
        f"{args.seconds:.0f} s, SIGTERM to the master at {SIGTERM_AT:.0%} with "
        f"{args.slow_requests} {SLOW_SECONDS:.0f} s requests in flight, {rounds} round(s) "
        f"per server (load {load_average()})",
        flush=True,
    )
    results: dict[str, Any] = {}
    rows = []
    for server in servers:
        runs = []
        for n in range(rounds):
            options = Options(workers=2, uvloop=args.uvloop, berth_root=args.berth_root)
            gunicorn = Gunicorn(server, options, log_dir, tag=f"sigterm{n}")
            with gunicorn:
                figures = await measure(gunicorn, args)
            figures["load_after"] = load_average()
            runs.append(figures)
            t = figures["totals"]
            print(
                f"  {server:8} round {n + 1}: {figures['attempts']} attempts, answered "
                f"{t['answered']}, refused {t['refused']}, reset {t['reset']}, timeout "
                f"{t['timeout']}; master exited {figures['master_exit_s']} s after SIGTERM "
                f"(load {figures['load_after']})",
                flush=True,
            )
            stopping = figures["windows"]["stopping"]
            rows.append(
                [
                    server,
                    n + 1,
                    figures["attempts"],
                    t["answered"],
                    t["refused"],
                    t["reset"],
                    t["timeout"],
                    t["error"],
                    "/".join(str(stopping[o]) for o in ("answered", "refused", "reset")),
                    figures["last_answered_s"],
                    figures["first_refused_s"],
                    figures["master_exit_s"],
                    f"{figures['slow_answered']}/{args.slow_requests}",
                ]
            )
        totals = {o: sum(r["totals"][o] for r in runs) for o in clients.OUTCOMES}
        results[server] = {"rounds": runs, "totals": totals}
    print()
    header = ["server", "round", "attempts", "answered", "refused", "reset", "timeout", "error"]
    header += ["stopping a/f/r", "last answered s", "first refused s", "master exit s", "slow"]
    print(report.table(header, rows))
    print(
        "(stopping a/f/r: answered/refused/reset among attempts started between SIGTERM and the "
        "master's exit; times in seconds after SIGTERM; slow: /sleep requests in flight at "
        "SIGTERM answered with 200)"
    )
    return results
