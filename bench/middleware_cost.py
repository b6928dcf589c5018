"""What each catalogue middleware costs per request: ``python bench/middleware_cost.py``.

Two measurements, each comparing configurations in the same run:

* ``inproc`` (default): the application's request path (routing, middleware chain, handler)
  called in-process, one task per request as the server does, no sockets. Configurations
  are interleaved in rounds and the median per-request time is kept, so the difference to
  the bare app is the middleware's CPU cost in microseconds.
* ``--wrk``: a real server per configuration (``python -m runtime``-style, one process),
  loaded by wrk over loopback keep-alive connections; reports req/s.

Results go to stdout; docs/middlewares/*.md quote them.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import http.client
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import structlog

from middlewares import access_logging, deprecation, proxy
from runtime import web
from runtime.http.message import HttpVersion11, RequestMessage
from runtime.server.streams import EMPTY_PAYLOAD

SINCE = datetime.date(2025, 1, 1)


async def hello(request: web.Request) -> web.StreamResponse:
    return web.Response(text="Hello, World!")


@deprecation.deprecated(since=SINCE, replacement="/")
async def old_hello(request: web.Request) -> web.StreamResponse:
    return web.Response(text="Hello, World!")


def _devnull_logging() -> None:
    # Rendered for real (JSON), written to /dev/null: the cost without the disk.
    stream = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    access_logging.configure(renderer="json", handler=logging.StreamHandler(stream))


def _quiet_logger() -> Any:
    # The middleware's own work (context, ids, headers): its events are filtered by level.
    logging.getLogger("bench.quiet").setLevel(logging.WARNING)
    return structlog.stdlib.get_logger("bench.quiet")


@web.middleware
async def _one_header(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    response.headers["X-Extra"] = "1"
    return response


CONFIGS: dict[str, Callable[[], list[Any]]] = {
    "bare": list,
    "reference: a middleware adding 1 header": lambda: [_one_header],
    "access_log": lambda: [access_logging.access_log_middleware()],
    "access_log (events below the log level)": lambda: [
        access_logging.access_log_middleware(logger=_quiet_logger())
    ],
    "deprecation (route not deprecated)": lambda: [deprecation.deprecation_middleware()],
    "deprecation (route deprecated)": lambda: [deprecation.deprecation_middleware()],
    "x_forwarded (untrusted peer)": lambda: [proxy.x_forwarded_middleware([{"10.0.0.1"}])],
    "x_forwarded (trusted, applied)": lambda: [proxy.x_forwarded_middleware([{"127.0.0.1"}])],
    "forwarded (trusted, applied)": lambda: [proxy.forwarded_middleware([{"127.0.0.1"}])],
    "allowed_hosts": lambda: [proxy.allowed_hosts_middleware(["example.com", "*.example.org"])],
    "https (secure: HSTS)": lambda: [
        proxy.x_forwarded_middleware([{"127.0.0.1"}]),
        proxy.https_middleware(),
    ],
}
BASELINES = {
    "https (secure: HSTS)": "x_forwarded (trusted, applied)",
}
HEADERS = [
    ("Host", "example.com"),
    ("User-Agent", "bench/1.0"),
    ("X-Request-ID", "0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
    ("X-Forwarded-For", "203.0.113.9"),
    ("X-Forwarded-Proto", "https"),
    ("Forwarded", "for=203.0.113.9;proto=https"),
]


def build(name: str) -> web.Application:
    app = web.Application(middlewares=CONFIGS[name]())
    app.router.add_get("/", hello)
    app.router.add_get("/old", old_hello)
    app.freeze()
    return app


def _request(target: str) -> web.Request:
    raw = tuple((k.encode(), v.encode()) for k, v in HEADERS)
    message = RequestMessage("GET", target, HttpVersion11, raw)
    protocol = SimpleNamespace(peername=("127.0.0.1", 40000), transport=None)
    return web.Request(message, EMPTY_PAYLOAD, protocol, None, None, None)  # type: ignore[arg-type]


async def _time(app: web.Application, target: str, n: int) -> float:
    handle = app._handle
    loop = asyncio.get_running_loop()
    requests = [_request(target) for _ in range(n)]
    gc.collect()
    # CPU time of this process: other processes competing for the core do not count.
    start = time.process_time()
    for request in requests:
        await loop.create_task(handle(request))
    await asyncio.sleep(0)  # the last done-callback
    return (time.process_time() - start) / n * 1e6


async def inproc(rounds: int, n: int) -> dict[str, tuple[float, float]]:
    apps = {name: build(name) for name in CONFIGS}
    samples: dict[str, list[float]] = {name: [] for name in CONFIGS}
    for _ in range(rounds):
        for name, app in apps.items():
            target = "/old" if name.endswith("(route deprecated)") else "/"
            samples[name].append(await _time(app, target, n))
    return {name: (min(values), statistics.median(values)) for name, values in samples.items()}


SERVER = """
import asyncio, sys, warnings
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
from bench.middleware_cost import build, _devnull_logging
from runtime import web
_devnull_logging()
web.run_app(build({name!r}), host="127.0.0.1", port={port}, access_log=None, print=None)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def _check(port: int, target: str) -> None:
    """Benchmark 200s, not a refusal: every configuration must accept these headers."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", target, headers=dict(HEADERS))
        status = conn.getresponse().status
    finally:
        conn.close()
    if status != 200:
        raise RuntimeError(f"GET {target} on port {port} answered {status}")


def _cpu_seconds(pid: int) -> float:
    # /proc/<pid>/stat fields 14 and 15: user and system time, in clock ticks.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wrk_once(server: subprocess.Popen[bytes], port: int, target: str, seconds: int) -> Sample:
    headers = [arg for name, value in HEADERS for arg in ("-H", f"{name}: {value}")]
    cpu = _cpu_seconds(server.pid)
    out = subprocess.run(
        ["taskset", "-c", "1", "wrk", "-t1", "-c32", f"-d{seconds}s", *headers,
         f"http://127.0.0.1:{port}{target}"],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    cpu = _cpu_seconds(server.pid) - cpu
    rate = next(line for line in out.splitlines() if line.startswith("Requests/sec"))
    count = next(line for line in out.splitlines() if " requests in " in line)
    return Sample(float(rate.split()[1]), cpu / int(count.split()[0]) * 1e6)


@dataclass
class Sample:
    rate: float  # req/s
    cpu_us: float  # server CPU time per request, µs


def wrk(seconds: int, rounds: int) -> dict[str, Sample]:
    """Best of ``rounds`` interleaved runs per configuration (servers stay up, idle between
    their turns). Besides req/s, the server's own CPU time per request is measured: unlike
    req/s it does not depend on what else the machine is running."""
    root = str(Path(__file__).resolve().parent.parent)
    servers: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for name in CONFIGS:
            port = _free_port()
            code = SERVER.format(root=root, name=name, port=port)
            servers[name] = (
                port,
                subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", code]),
            )
        for name, (port, _) in servers.items():
            _wait(port)
            _check(port, "/old" if name.endswith("(route deprecated)") else "/")
        best: dict[str, Sample] = {}
        for _ in range(rounds):
            for name, (port, server) in servers.items():
                target = "/old" if name.endswith("(route deprecated)") else "/"
                sample = _wrk_once(server, port, target, seconds)
                old = best.get(name)
                best[name] = Sample(
                    max(sample.rate, old.rate if old else 0.0),
                    min(sample.cpu_us, old.cpu_us if old else float("inf")),
                )
        return best
    finally:
        for _, server in servers.values():
            server.terminate()
            server.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("-n", type=int, default=4000, help="requests per round and config")
    parser.add_argument("--wrk", type=int, metavar="SECONDS", help="also run wrk this long")
    parser.add_argument("--wrk-rounds", type=int, default=3)
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # DeprecationWarning filtering is part of the cost
    _devnull_logging()
    costs = asyncio.run(inproc(args.rounds, args.n))
    print(f"in-process, {args.rounds} rounds x {args.n} requests, CPU µs per request")
    print(f"  {'configuration':40s} {'min':>7s} {'median':>7s}  extra (min, median)")
    for name, (low, mid) in costs.items():
        base = BASELINES.get(name, "bare")
        extra = f"+{low - costs[base][0]:.2f}, +{mid - costs[base][1]:.2f} over {base}"
        print(f"  {name:40s} {low:7.2f} {mid:7.2f}  {extra}")
    if args.wrk:
        if shutil.which("wrk") is None or shutil.which("taskset") is None:
            print("wrk or taskset not found", file=sys.stderr)
            return 1
        samples = wrk(args.wrk, args.wrk_rounds)
        print(f"wrk, best of {args.wrk_rounds} x {args.wrk}s, 32 keep-alive connections")
        print(f"  {'configuration':40s} {'req/s':>9s} {'server CPU µs/req':>18s}")
        for name, sample in samples.items():
            base = BASELINES.get(name, "bare")
            extra_us = sample.cpu_us - samples[base].cpu_us
            print(
                f"  {name:40s} {sample.rate:9.0f} {sample.cpu_us:10.1f} "
                f"(+{extra_us:.1f} over {base})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
