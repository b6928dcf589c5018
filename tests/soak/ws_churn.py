"""ws-churn: a day's WebSocket churn in minutes, and the workers' memory while it runs.

For each server and each phase (``plain``: no compression; ``deflate``: permessage-deflate
offered and negotiated), a fresh gunicorn (``-w 2``) gets ``--concurrency`` client loops of
upgrade, a few echoed messages, close (one socket in five closed by the server on request):

1. warm-up churn (not measured), one second of rest;
2. the measured churn for ``--seconds``, the workers' VmRSS sampled every second together
   with the number of sockets closed so far;
3. one second of rest, a last sample.

Figures (RSS summed over the workers, per worker in the JSON): RSS at start (after warm-up),
at end, the max; growth per 1,000 closed sockets as ``(end - start) / closed`` and as the
least-squares slope of RSS over closed sockets (the slope ignores a one-off step at the start).
A run stops early if the workers' RSS passes ``--rss-cap-mib``.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench.memory import rss_kib
from tests.soak import clients, report
from tests.soak.servers import HOST, Gunicorn, Options, load_average

NAME = "ws-churn"
DEFAULT_SECONDS = 45.0
QUICK_SECONDS = 15.0
PHASES = {"plain": False, "deflate": True}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ws-churn")
    group.add_argument("--ws-phases", default="plain,deflate", help="plain,deflate or one")
    group.add_argument("--ws-concurrency", type=int, default=16, help="client loops")
    group.add_argument("--ws-messages", type=int, default=3, help="echoed messages per socket")
    group.add_argument("--rss-cap-mib", type=int, default=3072, help="stop a run past this RSS")


def _sample(pids: list[int]) -> dict[int, int | None]:
    return {pid: rss_kib(pid) for pid in pids}


def _total(rss: dict[int, int | None]) -> int:
    return sum(v for v in rss.values() if v is not None)


async def measure(
    gunicorn: Gunicorn, *, deflate: bool, seconds: float, args: argparse.Namespace
) -> dict[str, Any]:
    port = gunicorn.port
    churn = {
        "concurrency": args.ws_concurrency,
        "messages": args.ws_messages,
        "deflate": deflate,
    }
    warmup = max(3.0, min(10.0, seconds / 5))
    warm = await clients.ws_churn(HOST, port, duration=warmup, **churn)
    await asyncio.sleep(1.0)

    pids = gunicorn.worker_pids()
    start = _sample(pids)
    samples: list[tuple[float, int, dict[int, int | None]]] = [(0.0, 0, start)]
    stats = clients.ChurnStats()
    stop = asyncio.Event()
    cap_kib = args.rss_cap_mib * 1024
    t0 = time.monotonic()

    async def sampler() -> None:
        while True:
            await asyncio.sleep(1.0)
            rss = _sample(pids)
            samples.append((time.monotonic() - t0, stats.closed, rss))
            if _total(rss) > cap_kib:
                stop.set()

    sampling = asyncio.create_task(sampler())
    try:
        await clients.ws_churn(HOST, port, duration=seconds, stats=stats, stop=stop, **churn)
    finally:
        sampling.cancel()
    await asyncio.sleep(1.0)
    end = _sample(pids)
    samples.append((time.monotonic() - t0, stats.closed, end))

    totals = [_total(rss) for _, _, rss in samples]
    closed = stats.closed
    growth = (_total(end) - _total(start)) / closed * 1000 if closed else None
    fitted = report.slope([c for _, c, _ in samples], totals)
    per_worker = {
        str(pid): {
            "start_kib": start[pid],
            "end_kib": end.get(pid),
            "max_kib": max((rss.get(pid) or 0) for _, _, rss in samples),
        }
        for pid in pids
    }
    restarted = sorted(set(gunicorn.worker_pids()) ^ set(pids))
    return {
        "deflate": deflate,
        "seconds": round(stats.duration, 1),
        "warmup_sockets": warm.closed,
        "opened": stats.opened,
        "closed": closed,
        "closed_by_server": stats.closed_by_server,
        "deflate_negotiated": stats.deflate,
        "failed": stats.failed,
        "failures": stats.failures,
        "sockets_per_s": round(closed / stats.duration, 1) if stats.duration else None,
        "rss_start_kib": _total(start),
        "rss_end_kib": _total(end),
        "rss_max_kib": max(totals),
        "growth_kib_per_1000": round(growth, 1) if growth is not None else None,
        "slope_kib_per_1000": round(fitted * 1000, 1) if fitted is not None else None,
        "stopped_at_rss_cap": stop.is_set(),
        "workers": per_worker,
        "worker_pids_changed": restarted,
        "timeline": [(round(t, 1), c, _total(rss)) for t, c, rss in samples],
    }


async def run(args: argparse.Namespace, servers: list[str], log_dir: Path) -> dict[str, Any]:
    phases = [p.strip() for p in args.ws_phases.split(",") if p.strip()]
    for phase in phases:
        if phase not in PHASES:
            raise SystemExit(f"unknown --ws-phases entry {phase!r}: plain, deflate")
    print(
        f"\n== ws-churn: {args.seconds:.0f} s per run, {args.ws_concurrency} client loops, "
        f"{args.ws_messages} messages per socket, 1 socket in 5 closed by the server "
        f"(load {load_average()})",
        flush=True,
    )
    results: dict[str, Any] = {}
    rows = []
    for phase in phases:
        for server in servers:
            options = Options(workers=2, uvloop=args.uvloop, berth_root=args.berth_root)
            with Gunicorn(server, options, log_dir, tag=f"ws-{phase}") as gunicorn:
                figures = await measure(
                    gunicorn, deflate=PHASES[phase], seconds=args.seconds, args=args
                )
            figures["load_after"] = load_average()
            results[f"{server}/{phase}"] = figures
            print(
                f"  {server:8} {phase:8} {figures['closed']} sockets closed, "
                f"RSS {figures['rss_start_kib'] / 1024:.1f} -> "
                f"{figures['rss_end_kib'] / 1024:.1f} MiB (load {figures['load_after']})",
                flush=True,
            )
            rows.append(
                [
                    server,
                    phase,
                    figures["closed"],
                    figures["sockets_per_s"],
                    figures["failed"],
                    figures["rss_start_kib"] / 1024,
                    figures["rss_end_kib"] / 1024,
                    figures["rss_max_kib"] / 1024,
                    figures["growth_kib_per_1000"],
                    figures["slope_kib_per_1000"],
                ]
            )
    print()
    header = [
        "server",
        "phase",
        "closed",
        "per s",
        "failed",
        "RSS start MiB",
        "end MiB",
        "max MiB",
        "KiB/1000 closed",
        "slope KiB/1000",
    ]
    print(report.table(header, rows))
    print("(RSS of both workers together; KiB/1000 closed = (end - start) / closed sockets)")
    return results
