"""What the benchmark runs: servers x scenarios, and the comparisons it reports.

To add a server, append a :class:`Server` to ``SERVERS``: its command line and how to tell it
is up. To add a scenario, append a :class:`Scenario` to ``SCENARIOS`` and give every app in
``bench/apps/`` the route it needs (or list the servers that have it in ``Scenario.servers``).
A special-purpose server (the ceiling, a logging variant) names the only scenarios it runs in
``Server.scenarios``; :func:`serves` is the rule. The routes and payloads the apps share, and
the scenarios check, are in ``bench/apps/common.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bench.apps import common

HOST = "127.0.0.1"  # the only address this benchmark ever sends traffic to


@dataclass(frozen=True)
class Server:
    """One server under test: a command line and a readiness check.

    ``argv`` is formatted with ``python`` (the bench venv's interpreter), ``bin`` (its
    scripts folder), ``host`` and ``port``. The process runs from the repository root, in its
    own process group, pinned to the server CPUs.
    """

    name: str
    argv: tuple[str, ...]
    description: str
    env: Mapping[str, str] = field(default_factory=dict)
    ready_path: str = "/"  # any HTTP response on this path means the server is up
    ready_timeout: float = 20.0  # seconds; --ready-timeout overrides
    default: bool = True  # False: runs only when picked with --only or --all
    # The only scenarios this server runs (a special-purpose server: a ceiling, a logging
    # variant); None: every scenario whose ``servers`` admits it.
    scenarios: frozenset[str] | None = None


@dataclass(frozen=True)
class Scenario:
    """One workload. ``kind="http"``: a wrk request, sent over and over on keep-alive
    connections. ``kind="ws"``: ``bench/ws_load.py`` upgrades ``path`` to a WebSocket and
    sends ``body`` as a text message over and over, counting the echoes (messages/s); only
    ``name``, ``path``, ``description``, ``body``, ``servers`` and ``default`` apply.

    Before measuring, one request is sent with ``http.client`` and its status (and body, if
    ``expect_body`` is set) checked, so a broken route fails loudly instead of benchmarking
    404s; for a WebSocket scenario, one message is echoed and compared instead.

    ``kind="rate"``: ``bench/rate_load.py`` sends ``method path`` at a fixed rate (``--rate``)
    and reports latency percentiles from each request's scheduled time (open loop).
    ``kind="memory"``: ``bench/memory.py`` reads a fresh server worker's RSS before and while
    it holds ``--mem-connections`` idle connections (KiB per connection; see ``websocket``).
    """

    name: str
    path: str
    description: str
    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_status: int = 200
    expect_body: bytes | None = None  # compared after undoing a gzip Content-Encoding
    expect_headers: Mapping[str, str] = field(default_factory=dict)  # names: any case
    servers: frozenset[str] | None = None  # None: every server has this route
    default: bool = True
    kind: Literal["http", "ws", "rate", "memory"] = "http"
    # kind="memory" only: hold WebSockets (upgrades of ``path``, ``body`` echoed once) instead
    # of idle keep-alive connections (``GET path`` answered once).
    websocket: bool = False


@dataclass(frozen=True)
class Comparison:
    """Report ``subject``'s ``metric`` as a multiple of ``baseline``'s.

    ``metric``: ``requests_per_sec`` (msgs/s for WebSocket), a latency percentile (``p99``)
    or ``kib_per_conn`` (memory). ``met`` is ``ratio >= target`` when ``higher_is_better``,
    else ``ratio <= target`` (latency, memory: the subject may use at most target x).
    """

    subject: str
    baseline: str
    scenario: str
    target: float
    metric: str = "requests_per_sec"
    higher_is_better: bool = True


def serves(server: Server, scenario: Scenario) -> bool:
    """Whether ``server`` runs ``scenario``: both ``Scenario.servers`` and
    ``Server.scenarios`` (when set) must admit the pair."""
    return (scenario.servers is None or server.name in scenario.servers) and (
        server.scenarios is None or scenario.name in server.scenarios
    )


def _gunicorn(worker_class: str, target: str, *options: str) -> tuple[str, ...]:
    """gunicorn, one worker of ``worker_class``, serving ``target`` (no access log unless
    ``options`` ask for one)."""
    return (
        "{bin}/gunicorn",
        "--workers",
        "1",
        "--worker-class",
        worker_class,
        "--no-control-socket",
        "--bind",
        "{host}:{port}",
        "--log-level",
        "warning",
        *options,
        target,
    )


def _uvicorn(target: str, *options: str) -> tuple[str, ...]:
    """uvicorn, one process, uvloop and httptools."""
    return (
        "{bin}/uvicorn",
        target,
        "--host",
        "{host}",
        "--port",
        "{port}",
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        *options,
    )


# Servers with a router and every route of bench/apps/berth_hello.py (the bare ASGI app has
# no router and no compression; the special-purpose servers set Server.scenarios).
FRAMEWORK_SERVERS = frozenset(
    {
        "berth",
        "berth-gunicorn",
        "berth-gunicorn-asyncio",
        "aiohttp-gunicorn",
        "aiohttp-run-app",
        "uvicorn-starlette",
    }
)
# The logging variants: the logging scenario runs on these only.
LOGGING_SERVERS = frozenset(
    {
        "berth-gunicorn-logging",
        "berth-gunicorn-accesslog",
        "aiohttp-gunicorn-logging",
        "uvicorn-starlette-logging",
    }
)
# The per-request access log lines of the logging variants go to the server's stdout/stderr,
# which bench/run.py writes to bench/results/<stamp>-logs/<server>.log: a regular file, one
# write per line, a new folder per run (75-330 bytes a request: a default run, 32 s at about
# 8k req/s, leaves 20-85 MB per server there).
_LOG_FILE = "written to <stamp>-logs/<server>.log"

SERVERS: tuple[Server, ...] = (
    Server(
        name="berth",
        argv=(
            "{python}",
            "-m",
            "runtime",
            "bench.apps.berth_hello:create_app",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "--uvloop",
            "--no-access-log",
        ),
        description="Berth, python -m runtime, uvloop, no access log",
    ),
    Server(
        name="berth-gunicorn",
        argv=(
            "{bin}/gunicorn",
            "--workers",
            "1",
            "--worker-class",
            "runtime.workers.GunicornUVLoopWebWorker",
            "--no-control-socket",
            "--bind",
            "{host}:{port}",
            "--log-level",
            "warning",
            "bench.apps.berth_hello:create_app",
        ),
        description="Berth, gunicorn 1 worker, GunicornUVLoopWebWorker, no access log",
    ),
    Server(
        name="aiohttp-gunicorn",
        argv=(
            "{bin}/gunicorn",
            "--workers",
            "1",
            "--worker-class",
            "aiohttp.worker.GunicornUVLoopWebWorker",
            "--no-control-socket",
            "--bind",
            "{host}:{port}",
            "--log-level",
            "warning",
            "bench.apps.aiohttp_hello:create_app",
        ),
        description="aiohttp 3.14, gunicorn 1 worker, GunicornUVLoopWebWorker, no access log",
    ),
    Server(
        name="aiohttp-run-app",
        argv=("{python}", "-m", "bench.apps.aiohttp_hello", "--host", "{host}", "--port", "{port}"),
        description="aiohttp 3.14, web.run_app on a uvloop loop, no access log",
    ),
    Server(
        name="berth-gunicorn-asyncio",
        argv=_gunicorn("runtime.workers.GunicornWebWorker", "bench.apps.berth_hello:create_app"),
        description="Berth, gunicorn 1 worker, GunicornWebWorker (asyncio loop), no access log",
    ),
    Server(
        name="uvicorn-asgi",
        argv=_uvicorn("bench.apps.asgi_hello:app", "--no-access-log", "--log-level", "warning"),
        description="uvicorn 1 process, uvloop + httptools, bare ASGI callable, no access log",
    ),
    Server(
        name="uvicorn-starlette",
        argv=_uvicorn(
            "bench.apps.starlette_hello:app", "--no-access-log", "--log-level", "warning"
        ),
        description="uvicorn 1 process, uvloop + httptools, Starlette app, no access log",
    ),
    Server(
        name="granian-asgi",
        argv=(
            "{bin}/granian",
            "--interface",
            "asgi",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "--workers",
            "1",
            "--runtime-threads",
            "1",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
            "bench.apps.asgi_hello:app",
        ),
        description="granian 1 worker, 1 runtime thread, --interface asgi, uvloop, bare ASGI "
        "callable, no access log",
    ),
    Server(
        name="ceiling",
        argv=("{python}", "-m", "bench.apps.ceiling", "--host", "{host}", "--port", "{port}"),
        description="uvloop + httptools Protocol answering canned bytes: a ceiling, not a "
        "framework (plaintext only)",
        scenarios=frozenset({"plaintext"}),
    ),
    Server(
        name="websockets-server",
        argv=(
            "{python}",
            "-m",
            "bench.apps.websockets_echo",
            "--host",
            "{host}",
            "--port",
            "{port}",
        ),
        description="websockets' asyncio server on uvloop echoing messages (ws-echo, memory-ws)",
        scenarios=frozenset({"ws-echo", "memory-ws"}),
    ),
    Server(
        name="berth-gunicorn-logging",
        argv=_gunicorn(
            "runtime.workers.GunicornUVLoopWebWorker", "bench.apps.berth_hello:create_logging_app"
        ),
        description="berth-gunicorn + middlewares.access_logging: one structlog JSON line per "
        f"request written by structlog to stderr (direct_stream), {_LOG_FILE} (logging only)",
        scenarios=frozenset({"logging"}),
    ),
    Server(
        name="berth-gunicorn-accesslog",
        argv=_gunicorn(
            "runtime.workers.GunicornUVLoopWebWorker",
            "bench.apps.berth_hello:create_app",
            "--access-logfile",
            "-",
        ),
        description="berth-gunicorn + gunicorn's access log (--access-logfile -, its default "
        f"format) on stdout, {_LOG_FILE} (logging only)",
        scenarios=frozenset({"logging"}),
    ),
    Server(
        name="aiohttp-gunicorn-logging",
        argv=_gunicorn(
            "aiohttp.worker.GunicornUVLoopWebWorker",
            "bench.apps.aiohttp_hello:create_app",
            "--access-logfile",
            "-",
        ),
        description="aiohttp-gunicorn + aiohttp's AccessLogger on gunicorn's access log "
        f"(--access-logfile -, gunicorn's default format) on stdout, {_LOG_FILE} (logging only)",
        scenarios=frozenset({"logging"}),
    ),
    Server(
        name="uvicorn-starlette-logging",
        argv=_uvicorn("bench.apps.starlette_hello:app", "--log-level", "info"),
        description="uvicorn-starlette + uvicorn's access log (--log-level info) on stdout, "
        f"{_LOG_FILE} (logging only)",
        scenarios=frozenset({"logging"}),
    ),
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="plaintext",
        path="/",
        description="GET / -> 200 text/plain 'Hello, World!'",
        expect_body=b"Hello, World!",
    ),
    Scenario(
        name="json",
        path="/json",
        description='GET /json -> 200 application/json {"message":"Hello, World!"} (each '
        "framework's JSON response; compact separators, charset=utf-8)",
        expect_body=common.JSON_BODY,
        expect_headers={"Content-Type": common.JSON_CONTENT_TYPE},
    ),
    Scenario(
        name="routes-200",
        path=common.ROUTES_TARGET,
        description=f"GET {common.ROUTES_TARGET} -> '12345': 200 routes (100 static, 100 "
        "/api/v1/resource{i}/{id}), the 199th matched (not the bare ASGI app: no router)",
        expect_body=common.ROUTES_TARGET_BODY,
        servers=FRAMEWORK_SERVERS,
    ),
    Scenario(
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
    Scenario(
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
    Scenario(
        name="logging",
        path="/",
        description="plaintext with an access log line per request written to a file (the "
        "server's log in <stamp>-logs/): the *-logging / *-accesslog servers only",
        expect_body=b"Hello, World!",
        servers=LOGGING_SERVERS,
    ),
    Scenario(
        name="ws-echo",
        path="/ws",
        description="WebSocket /ws: 16-byte text messages echoed (bench/ws_load.py, msgs/s)",
        body=b"0123456789abcdef",
        kind="ws",
        servers=frozenset(
            {
                "berth",
                "berth-gunicorn",
                "berth-gunicorn-asyncio",
                "aiohttp-gunicorn",
                "aiohttp-run-app",
                "websockets-server",
            }
        ),
    ),
    # Issue 9: latency at a fixed request rate, and memory per idle connection.
    Scenario(
        name="latency",
        path="/",
        description="GET / at a fixed rate (--rate, 5,000 req/s) on --rate-connections (32) "
        "keep-alive connections, open loop: p50/p99 from each request's scheduled send time "
        "(bench/rate_load.py)",
        expect_body=b"Hello, World!",
        kind="rate",
    ),
    Scenario(
        name="memory-keepalive",
        path="/",
        description="worker RSS while holding --mem-connections (10,000) idle keep-alive "
        "connections, one GET / answered on each: KiB per connection (bench/memory.py, a "
        "fresh server per run)",
        expect_body=b"Hello, World!",
        kind="memory",
    ),
    Scenario(
        name="memory-ws",
        path="/ws",
        description="worker RSS while holding --mem-connections (10,000) idle WebSockets on "
        "/ws, one 16-byte message echoed on each: KiB per connection (bench/memory.py, a "
        "fresh server per run)",
        body=b"0123456789abcdef",
        kind="memory",
        websocket=True,
        servers=frozenset(
            {
                "berth",
                "berth-gunicorn",
                "berth-gunicorn-asyncio",
                "aiohttp-gunicorn",
                "aiohttp-run-app",
                "websockets-server",
            }
        ),
    ),
)

COMPARISONS: tuple[Comparison, ...] = (
    # Like for like: both under gunicorn with their uvloop workers (issues 2 and 6).
    # Issue 9 raised the plaintext target from 1.5x (issue 2) to 2.0x.
    Comparison(
        subject="berth-gunicorn", baseline="aiohttp-gunicorn", scenario="plaintext", target=2.0
    ),
    Comparison(subject="berth", baseline="aiohttp-run-app", scenario="plaintext", target=1.5),
    # Issue 9: the peers. Plaintext: on par with granian (Rust HTTP, Python ASGI app) and
    # within 0.35x of a Protocol that parses and answers canned bytes.
    Comparison(subject="berth-gunicorn", baseline="granian-asgi", scenario="plaintext", target=1.0),
    Comparison(subject="berth-gunicorn", baseline="ceiling", scenario="plaintext", target=0.35),
    # Every other throughput scenario: ahead of aiohttp and of Starlette on uvicorn.
    *(
        Comparison(subject="berth-gunicorn", baseline=baseline, scenario=scenario, target=1.0)
        for scenario in ("json", "routes-200", "post-echo-16k", "compress-100k")
        for baseline in ("aiohttp-gunicorn", "uvicorn-starlette")
    ),
    # Logging: Berth's structured access log middleware, and gunicorn's plain access log
    # under Berth's worker, against aiohttp's access log and uvicorn's.
    Comparison(
        subject="berth-gunicorn-logging",
        baseline="aiohttp-gunicorn-logging",
        scenario="logging",
        target=1.0,
    ),
    Comparison(
        subject="berth-gunicorn-logging",
        baseline="uvicorn-starlette-logging",
        scenario="logging",
        target=1.0,
    ),
    Comparison(
        subject="berth-gunicorn-accesslog",
        baseline="aiohttp-gunicorn-logging",
        scenario="logging",
        target=1.0,
    ),
    # Issue 5: WebSocket echo, small messages; for now "ahead of aiohttp".
    Comparison(
        subject="berth-gunicorn", baseline="aiohttp-gunicorn", scenario="ws-echo", target=1.0
    ),
    Comparison(
        subject="berth-gunicorn", baseline="websockets-server", scenario="ws-echo", target=1.0
    ),
    # Issue 9: p99 latency at a fixed rate, and memory per idle connection (keep-alive and
    # WebSocket): lower is better, at most aiohttp's.
    Comparison(
        subject="berth-gunicorn",
        baseline="aiohttp-gunicorn",
        scenario="latency",
        target=1.0,
        metric="p99",
        higher_is_better=False,
    ),
    *(
        Comparison(
            subject="berth-gunicorn",
            baseline="aiohttp-gunicorn",
            scenario=scenario,
            target=1.0,
            metric="kib_per_conn",
            higher_is_better=False,
        )
        for scenario in ("memory-keepalive", "memory-ws")
    ),
)

# The column every other server is shown against in the summary table.
BASELINE = "aiohttp-gunicorn"

# Options appended to a server's argv for the memory scenarios (which start a fresh server per
# run), so that one worker can hold --mem-connections idle connections for the measurement:
# gunicorn's keep-alive is 2 s and Berth's worker stops accepting at worker_connections (1000)
# by default (aiohttp's worker ignores that setting); uvicorn's keep-alive is 5 s. 75 s is
# aiohttp's and Berth's own default (web.run_app, python -m runtime). granian serves at most
# --backpressure (backlog / workers = 1024) connections at once by default; its 30 s header
# read timeout and websockets (no pings) keep idle connections long enough as they are.
_GUNICORN_IDLE = ("--keep-alive", "75", "--worker-connections", "20000")
MEMORY_SERVER_ARGS: Mapping[str, tuple[str, ...]] = {
    "berth-gunicorn": _GUNICORN_IDLE,
    "berth-gunicorn-asyncio": _GUNICORN_IDLE,
    "aiohttp-gunicorn": _GUNICORN_IDLE,
    "uvicorn-asgi": ("--timeout-keep-alive", "75"),
    "uvicorn-starlette": ("--timeout-keep-alive", "75"),
    "granian-asgi": ("--backpressure", "20000"),
}
