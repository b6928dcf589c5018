"""idle-slow: attacker connections past ``worker_connections``, and whether anyone else gets in.

For each server and phase a fresh gunicorn (``-w 2 --worker-connections 1000``, keep-alive
``--keepalive``) gets ``--attackers`` connections (opened at 500/s and reopened whenever the
server closes one):

- ``idle``: one GET answered, then silent (a keep-alive connection parked);
- ``slowloris``: a partial request head, then one header line every ``--interval`` seconds;
- ``slowbody``: a complete ``POST /upload`` head with Content-Length 1 MB, then 16 bytes of
  body every ``--interval`` seconds;
- ``mix``: a third of each.

Once the attackers are in, a legitimate client opens a fresh connection for a ``GET /`` at
``--rate`` per second for ``--seconds`` (10 s timeout each); the attack stops when the last
legitimate request is done. Figures: share of legitimate requests answered with 200,
p50/p99/max latency, how attacker connections ended (median seconds until the server closed
them), and attacker connections open over time, as the client sees them and as the workers
hold them (their open descriptors above the count before the attack).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from tests.soak import clients, report
from tests.soak.servers import HOST, Gunicorn, Options, fd_count, load_average

NAME = "idle-slow"
DEFAULT_SECONDS = 20.0
QUICK_SECONDS = 12.0
PHASES = ("idle", "slowloris", "slowbody", "mix")
LEGIT_TIMEOUT = 10.0
RAMP = 500.0  # attacker connections opened per second (the clients' default)
TIMELINE_STEP = 5


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("idle-slow")
    group.add_argument("--phases", default=",".join(PHASES), help="idle,slowloris,slowbody,mix")
    group.add_argument("--attackers", type=int, default=2000, help="attacker connections")
    group.add_argument("--rate", type=float, default=50.0, help="legitimate GETs per second")
    group.add_argument(
        "--interval", type=float, default=5.0, help="seconds between slow header lines/bytes"
    )
    group.add_argument(
        "--keepalive",
        type=int,
        default=75,
        help="gunicorn --keep-alive (75: the production setting docs/gunicorn-worker.md gives)",
    )
    group.add_argument("--worker-connections", type=int, default=1000)


def _split(kind: str, count: int) -> list[tuple[str, int]]:
    if kind != "mix":
        return [(kind, count)]
    third = count // 3
    return [("idle", third), ("slowloris", third), ("slowbody", count - 2 * third)]


def _open_at(samples: list[tuple[float, int]], t: float) -> int:
    """The last sample at or before ``t`` (0 before the first)."""
    value = 0
    for at, count in samples:
        if at > t + 0.5:
            break
        value = count
    return value


async def measure(gunicorn: Gunicorn, phase: str, args: argparse.Namespace) -> dict[str, Any]:
    port = gunicorn.port
    pids = gunicorn.worker_pids()
    base_fds = {pid: fd_count(pid) or 0 for pid in pids}
    warmup = args.attackers / RAMP + 2.0
    duration = warmup + args.seconds + LEGIT_TIMEOUT + 2.0
    stop = asyncio.Event()
    t0 = time.monotonic()
    server_conns: list[tuple[float, int]] = []

    async def sampler() -> None:
        while True:
            held = sum(max(0, (fd_count(pid) or 0) - base) for pid, base in base_fds.items())
            server_conns.append((round(time.monotonic() - t0, 2), held))
            await asyncio.sleep(1.0)

    attacks = [
        asyncio.create_task(
            clients.attack(
                kind, HOST, port, count=n, duration=duration, interval=args.interval, stop=stop
            )
        )
        for kind, n in _split(phase, args.attackers)
    ]
    sampling = asyncio.create_task(sampler())
    await asyncio.sleep(warmup)
    legit = await clients.legit_gets(
        HOST, port, rate=args.rate, duration=args.seconds, timeout=LEGIT_TIMEOUT
    )
    stop.set()
    stopped_at = time.monotonic() - t0
    results = await asyncio.gather(*attacks)
    sampling.cancel()

    latencies = legit.latencies()
    lifetimes = [t for r in results for t in r.lifetimes]
    timeline = []  # while the attack ran at full strength, up to the stop
    for step in range(0, int(stopped_at) + 1, TIMELINE_STEP):
        client_open = sum(_open_at(r.open_samples, step) for r in results)
        timeline.append((step, client_open, _open_at(server_conns, step)))
    return {
        "legit": {
            "sent": len(legit.attempts),
            "ok_pct": round(100 * legit.answered_ratio(200), 1),
            "answered_any_pct": round(100 * legit.answered_ratio(None), 1),
            "outcomes": legit.counts(),
            "not_answered": legit.details(),
            "p50_ms": _ms(report.percentile(latencies, 50)),
            "p99_ms": _ms(report.percentile(latencies, 99)),
            "max_ms": _ms(latencies[-1] if latencies else None),
            "started_at_s": round(warmup, 1),
        },
        "attack": {
            r.kind: {
                "count": r.count,
                "connects": r.connects,
                "closed_by_server": r.closed_by_server,
                "median_survival_s": _round(r.median_lifetime()),
                "open_at_end": r.open_at_end,
                "connect_failures": r.connect_failures,
                "statuses": r.statuses,
                "errors": r.errors,
            }
            for r in results
        },
        "attack_median_survival_s": _round(report.median(lifetimes)),
        "attack_closed_by_server": len(lifetimes),
        "attack_connects": sum(r.connects for r in results),
        "attack_open_at_end": sum(r.open_at_end for r in results),
        "server_conns_max": max((n for _, n in server_conns), default=0),
        "timeline": timeline,
        "worker_pids_changed": sorted(set(gunicorn.worker_pids()) ^ set(pids)),
    }


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def run(args: argparse.Namespace, servers: list[str], log_dir: Path) -> dict[str, Any]:
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    for phase in phases:
        if phase not in PHASES:
            raise SystemExit(f"unknown --phases entry {phase!r}: {', '.join(PHASES)}")
    print(
        f"\n== idle-slow: {args.attackers} attackers vs --worker-connections "
        f"{args.worker_connections} x 2 workers, --keep-alive {args.keepalive}; legitimate "
        f"GETs at {args.rate:.0f}/s for {args.seconds:.0f} s per phase, {LEGIT_TIMEOUT:.0f} s "
        f"timeout (load {load_average()})",
        flush=True,
    )
    results: dict[str, Any] = {}
    for phase in phases:
        for server in servers:
            options = Options(
                workers=2,
                worker_connections=args.worker_connections,
                keepalive=args.keepalive,
                uvloop=args.uvloop,
                berth_root=args.berth_root,
            )
            with Gunicorn(server, options, log_dir, tag=f"idle-{phase}") as gunicorn:
                figures = await measure(gunicorn, phase, args)
            figures["load_after"] = load_average()
            results[f"{server}/{phase}"] = figures
            legit = figures["legit"]
            print(
                f"  {server:8} {phase:10} legit ok {legit['ok_pct']}% p50 {legit['p50_ms']} ms"
                f", attackers closed by server {figures['attack_closed_by_server']}"
                f" (load {figures['load_after']})",
                flush=True,
            )

    print("\nlegitimate requests (fresh connection + GET /, 10 s timeout):")
    rows = []
    for key, fig in results.items():
        server, phase = key.split("/")
        legit = fig["legit"]
        outcomes = legit["outcomes"]
        rows.append(
            [
                server,
                phase,
                legit["sent"],
                legit["ok_pct"],
                legit["p50_ms"],
                legit["p99_ms"],
                legit["max_ms"],
                outcomes["timeout"],
                outcomes["refused"],
                outcomes["reset"] + outcomes["error"],
            ]
        )
    header = ["server", "phase", "sent", "200 %", "p50 ms", "p99 ms", "max ms"]
    print(report.table([*header, "timeout", "refused", "reset/err"], rows))

    print("\nattacker connections:")
    rows = []
    for key, fig in results.items():
        server, phase = key.split("/")
        for kind, a in fig["attack"].items():
            statuses = ",".join(f"{s}x{n}" for s, n in sorted(a["statuses"].items())) or "-"
            failures = sum(a["connect_failures"].values())
            rows.append(
                [
                    server,
                    phase,
                    kind,
                    a["connects"],
                    failures,
                    a["closed_by_server"],
                    a["median_survival_s"],
                    a["open_at_end"],
                    statuses,
                ]
            )
    header = ["server", "phase", "kind", "connects", "conn fail", "closed by srv"]
    print(report.table([*header, "median s", "open at end", "responses"], rows))

    step = TIMELINE_STEP
    print(f"\nattacker connections open (client side / held by the workers), every {step} s:")
    for key, fig in results.items():
        server, phase = key.split("/")
        cells = " ".join(f"{c}/{s}" for _, c, s in fig["timeline"])
        print(f"  {server:8} {phase:10} {cells}")
    return results
