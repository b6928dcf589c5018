"""The scenarios: one type per kind of load, and the catalogue the benchmark runs.

- :class:`ThroughputScenario`: wrk sends one request over and over on keep-alive connections
  (closed loop): requests per second.
- :class:`WebSocketEchoScenario`: ``bench/ws_load.py`` upgrades ``path`` and sends
  ``message`` over and over on a window of messages in flight: echoes per second.
- :class:`LatencyScenario`: ``bench/rate_load.py`` sends ``method path`` at a fixed rate
  (``--rate``), open loop: latency percentiles from each request's scheduled time.
- :class:`MemoryScenario`: ``bench/memory.py`` reads a fresh server worker's RSS before and
  while it holds ``--mem-connections`` idle connections: KiB per connection.
- :class:`FanoutScenario`: ``bench/fanout_load.py`` holds ``--fanout-clients`` WebSockets in
  one room spread over a server's workers and publishes to the room: deliveries per second at
  saturation, and delivery latency at a fixed publish rate (``--fanout-rate``).
- :class:`InstructionsScenario`: a fresh server under valgrind's callgrind answers a fixed
  number of ``GET path`` on one keep-alive connection (``bench/runners/instructions.py``):
  instructions per request, a count that does not move with the machine's noise.

Before measuring, each server's answer is checked once (``bench/checks.py``): status, body,
the headers a scenario names, or one echoed message, so a broken route fails loudly instead of
benchmarking 404s.

To add a scenario, append one to ``SCENARIOS`` and give every app in ``bench/apps/`` the route
it needs (or list the servers that have it in ``servers``). The routes and payloads the apps
share, and the scenarios check, are in ``bench/apps/common.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from bench.apps import common
from bench.servers import (
    FANOUT_SERVERS,
    FANOUT_WORKERS,
    FRAMEWORK_SERVERS,
    INSTRUCTION_SERVERS,
    LOGGING_SERVERS,
    WEBSOCKET_SERVERS,
    Server,
)


@dataclass(frozen=True, kw_only=True)
class _Common:
    """What every scenario has. The class attributes say how its results read: ``kind`` (in
    the results JSON), ``unit`` of the main figure ``metric``, and ``ratio_metric`` (the
    figure the summary's ratio column divides)."""

    kind: ClassVar[str]
    unit: ClassVar[str]
    metric: ClassVar[str]
    ratio_metric: ClassVar[str]

    name: str
    path: str
    description: str
    servers: frozenset[str] | None = None  # None: every server has this route
    default: bool = True  # False: runs only when picked with --only or --all
    # The server the summary's ratio column divides by for this scenario (its peers are not
    # the other scenarios'); None: --baseline.
    baseline: str | None = None


@dataclass(frozen=True, kw_only=True)
class ThroughputScenario(_Common):
    """wrk: ``method path`` with ``body`` and ``headers``, as many as the server answers."""

    kind: ClassVar[str] = "throughput"
    unit: ClassVar[str] = "req/s"
    metric: ClassVar[str] = "requests_per_sec"
    ratio_metric: ClassVar[str] = "requests_per_sec"

    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_status: int = 200
    expect_body: bytes | None = None  # compared after undoing a gzip Content-Encoding
    expect_headers: Mapping[str, str] = field(default_factory=dict)  # names: any case


@dataclass(frozen=True, kw_only=True)
class WebSocketEchoScenario(_Common):
    """``bench/ws_load.py``: ``path`` upgraded, ``message`` sent as text and echoed."""

    kind: ClassVar[str] = "websocket-echo"
    unit: ClassVar[str] = "msgs/s"
    metric: ClassVar[str] = "messages_per_sec"
    ratio_metric: ClassVar[str] = "messages_per_sec"

    message: bytes


@dataclass(frozen=True, kw_only=True)
class LatencyScenario(_Common):
    """``bench/rate_load.py``: ``method path`` at a fixed rate; the ratio column is p99."""

    kind: ClassVar[str] = "latency"
    unit: ClassVar[str] = "req/s, fixed rate (ratio: p99)"
    metric: ClassVar[str] = "achieved_rate"
    ratio_metric: ClassVar[str] = "p99"

    method: str = "GET"
    expect_status: int = 200
    expect_body: bytes | None = None


@dataclass(frozen=True, kw_only=True)
class MemoryScenario(_Common):
    """``bench/memory.py``: idle keep-alive connections (``GET path`` answered once on each)
    or, with ``mode="ws"``, WebSockets (``path`` upgraded, ``message`` echoed once)."""

    kind: ClassVar[str] = "memory"
    unit: ClassVar[str] = "KiB/conn"
    metric: ClassVar[str] = "kib_per_conn"
    ratio_metric: ClassVar[str] = "kib_per_conn"

    mode: Literal["keepalive", "ws"] = "keepalive"
    message: bytes = b""  # mode="ws"
    expect_body: bytes | None = None  # mode="keepalive": the checked GET's body


@dataclass(frozen=True, kw_only=True)
class FanoutScenario(_Common):
    """``bench/fanout_load.py``: WebSockets joined to ``room`` (``dialect`` per server, see
    ``bench/fanout_wire.py``), messages published with ``POST /rooms/{room}``. The figure is
    deliveries per second at saturation; the latency phase gives ``p50`` ... ``p999``."""

    kind: ClassVar[str] = "fanout"
    unit: ClassVar[str] = "msgs/s delivered"
    metric: ClassVar[str] = "messages_per_sec"
    ratio_metric: ClassVar[str] = "messages_per_sec"

    room: str
    dialects: Mapping[str, Literal["berth", "socketio"]]  # server name -> its clients' dialect
    workers: int  # every server of this scenario runs this many workers


@dataclass(frozen=True, kw_only=True)
class InstructionsScenario(_Common):
    """``bench/runners/instructions.py``: ``GET path`` counted under callgrind, one process
    per server (no gunicorn master), after a warm-up; lower is better."""

    kind: ClassVar[str] = "instructions"
    unit: ClassVar[str] = "instructions/req"
    metric: ClassVar[str] = "instructions_per_request"
    ratio_metric: ClassVar[str] = "instructions_per_request"

    expect_body: bytes | None = None  # the checked GET's body


Scenario = (
    ThroughputScenario
    | WebSocketEchoScenario
    | LatencyScenario
    | MemoryScenario
    | FanoutScenario
    | InstructionsScenario
)


def serves(server: Server, scenario: Scenario) -> bool:
    """Whether ``server`` runs ``scenario``: both ``servers`` of the scenario and
    ``Server.scenarios`` (when set) must admit the pair."""
    return (scenario.servers is None or server.name in scenario.servers) and (
        server.scenarios is None or scenario.name in server.scenarios
    )


SCENARIOS: tuple[Scenario, ...] = (
    ThroughputScenario(
        name="plaintext",
        path="/",
        description="GET / -> 200 text/plain 'Hello, World!'",
        expect_body=b"Hello, World!",
    ),
    ThroughputScenario(
        name="json",
        path="/json",
        description='GET /json -> 200 application/json {"message":"Hello, World!"} (each '
        "framework's JSON response; compact separators, charset=utf-8)",
        expect_body=common.JSON_BODY,
        expect_headers={"Content-Type": common.JSON_CONTENT_TYPE},
    ),
    ThroughputScenario(
        name="routes-200",
        path=common.ROUTES_TARGET,
        description=f"GET {common.ROUTES_TARGET} -> '12345': 200 routes (100 static, 100 "
        "/api/v1/resource{i}/{id}), the 199th matched (not the bare ASGI app: no router)",
        expect_body=common.ROUTES_TARGET_BODY,
        servers=FRAMEWORK_SERVERS,
    ),
    ThroughputScenario(
        name="post-echo-16k",
        path=common.ECHO_PATH,
        method="POST",
        body=common.ECHO_BODY,
        headers={"Content-Type": common.ECHO_CONTENT_TYPE},
        description=f"POST {common.ECHO_PATH} with 16 KiB, read whole and echoed back "
        "(application/octet-stream)",
        expect_body=common.ECHO_BODY,
        expect_headers={"Content-Type": common.ECHO_CONTENT_TYPE},
    ),
    ThroughputScenario(
        name="compress-100k",
        path=common.COMPRESS_PATH,
        headers={"Accept-Encoding": "gzip"},
        description=f"GET {common.COMPRESS_PATH} (100 KiB text, Accept-Encoding: gzip) -> "
        f"gzip level {common.GZIP_LEVEL} (14 KiB) by the framework: Berth's compression "
        "middleware on a sub-app, aiohttp's enable_compression(), Starlette's GZipMiddleware "
        "on a Mount",
        expect_body=common.TEXT_100K,
        expect_headers={"Content-Encoding": "gzip"},
        servers=FRAMEWORK_SERVERS,
    ),
    ThroughputScenario(
        name="logging",
        path="/",
        description="plaintext with an access log line per request written to a file (the "
        "server's log in <stamp>-logs/): the *-logging / *-accesslog servers only",
        expect_body=b"Hello, World!",
        servers=LOGGING_SERVERS,
    ),
    WebSocketEchoScenario(
        name="ws-echo",
        path="/ws",
        description="WebSocket /ws: 16-byte text messages echoed (bench/ws_load.py, msgs/s)",
        message=b"0123456789abcdef",
        servers=WEBSOCKET_SERVERS,
    ),
    # Issue 9: latency at a fixed request rate, and memory per idle connection.
    LatencyScenario(
        name="latency",
        path="/",
        description="GET / at a fixed rate (--rate, 5,000 req/s) on --rate-connections (32) "
        "keep-alive connections, open loop: p50/p99 from each request's scheduled send time "
        "(bench/rate_load.py)",
        expect_body=b"Hello, World!",
    ),
    MemoryScenario(
        name="memory-keepalive",
        path="/",
        description="worker RSS while holding --mem-connections (10,000) idle keep-alive "
        "connections, one GET / answered on each: KiB per connection (bench/memory.py, a "
        "fresh server per run)",
        expect_body=b"Hello, World!",
    ),
    MemoryScenario(
        name="memory-ws",
        path="/ws",
        description="worker RSS while holding --mem-connections (10,000) idle WebSockets on "
        "/ws, one 16-byte message echoed on each: KiB per connection (bench/memory.py, a "
        "fresh server per run)",
        mode="ws",
        message=b"0123456789abcdef",
        servers=WEBSOCKET_SERVERS,
    ),
    # Issue 17: fan-out across 3 workers through one Redis, Berth's cluster against
    # python-socketio's AsyncRedisManager.
    # Issue 19: a deterministic measure beside wrk's noisy one. The servers that are one
    # process on uvloop as they stand (python -m runtime, web.run_app, the ceiling, granian's
    # worker with its master), so no gunicorn master is counted.
    InstructionsScenario(
        name="instructions",
        path="/",
        description="GET / counted under valgrind's callgrind, one process per server, one "
        "keep-alive connection, one request at a time: instructions per request, the slope "
        "between two windows (--instr-requests and 3x that) after --instr-warmup uncounted "
        "(bench/runners/instructions.py)",
        expect_body=b"Hello, World!",
        servers=INSTRUCTION_SERVERS,
        baseline="aiohttp-run-app",
    ),
    FanoutScenario(
        name="fanout",
        path="/rooms/" + common.FANOUT_ROOM,
        description="--fanout-clients (1,000) WebSockets in one room over 3 gunicorn workers, "
        "one redis-server; POST /rooms/{room} publishes 64-byte messages: deliveries/s at "
        "saturation (--fanout-window in flight), p99 at --fanout-rate (5) messages/s, losses "
        "(bench/fanout_load.py)",
        room=common.FANOUT_ROOM,
        dialects=dict(FANOUT_SERVERS),
        workers=FANOUT_WORKERS,
        servers=frozenset(FANOUT_SERVERS),
        baseline="socketio-cluster",
    ),
)
