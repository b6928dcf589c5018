"""The servers under test: each one's command line, how to tell it is up, and the options it
gets for the memory scenarios.

To add a server, append a :class:`Server` to ``SERVERS``. A special-purpose server (the
ceiling, a logging variant) names the only scenarios it runs in ``Server.scenarios``;
``bench/scenarios.py`` says which scenarios each server runs (:func:`bench.scenarios.serves`).

Every Berth server says which of Berth's hot paths it must run (``Server.hot_path``, issue
19): the compiled one (mypyc), or its pure-Python source, selected with ``PURE_ENV``. The
``*-pure`` servers measure the fallback in the same run as the compiled ones, and
``bench/hot_path.py`` refuses a server whose interpreter would run the other one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

HOST = "127.0.0.1"  # the only address this benchmark ever sends traffic to

HotPath = Literal["compiled", "pure"]
# What selects Berth's pure-Python hot path over its compiled modules (runtime/extensions.py).
# The servers' common environment drops it (bench/processes.py), so a name alone decides.
NO_EXTENSIONS = "BERTH_NO_EXTENSIONS"
PURE_ENV: Mapping[str, str] = {NO_EXTENSIONS: "1"}


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
    # Whether it needs Redis: the run starts one redis-server (bench/redis_server.py) and
    # gives its URL to every such server as REDIS_URL.
    redis: bool = False
    # Berth's hot path this server must run ("compiled" or "pure"), checked before it starts
    # (bench/hot_path.py); None: not Berth.
    hot_path: HotPath | None = None
    # In a default selection (the server not named in --only, no --all), only these of its
    # scenarios: a server too slow to measure everywhere by default. None: all of them.
    default_scenarios: frozenset[str] | None = None


def _gunicorn(worker_class: str, target: str, *options: str, workers: int = 1) -> tuple[str, ...]:
    """gunicorn, ``workers`` workers of ``worker_class`` (one unless said), serving ``target``
    (no access log unless ``options`` ask for one)."""
    return (
        "{bin}/gunicorn",
        "--workers",
        str(workers),
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
        "berth-gunicorn-pure",
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
# Servers with the WebSocket echo route /ws.
WEBSOCKET_SERVERS = frozenset(
    {
        "berth",
        "berth-gunicorn",
        "berth-gunicorn-asyncio",
        "berth-gunicorn-pure",
        "aiohttp-gunicorn",
        "aiohttp-run-app",
        "websockets-server",
    }
)
# The servers the instructions scenario counts under callgrind: each one process on uvloop as
# bench/run.py already starts it (granian: a master and one worker, both counted). Berth and
# aiohttp run their apps directly (python -m runtime, web.run_app): under gunicorn the master
# would be a second process doing nothing for the requests. berth-pure: Berth's pure-Python
# fallback, counted beside the compiled hot path (issue 19).
INSTRUCTION_SERVERS = frozenset(
    {"berth", "berth-pure", "aiohttp-run-app", "granian-asgi", "ceiling", "ceiling-task"}
)
# Issue 19: the pure-Python fallback measured in the same run as the compiled hot path. Under
# gunicorn it runs the throughput scenarios and the WebSocket echo; by default only plaintext,
# since all five would add about 3 minutes (5 x 33 s) to a default run.
PURE_SCENARIOS = frozenset({"plaintext", "json", "routes-200", "post-echo-16k", "ws-echo"})
PURE_DEFAULT_SCENARIOS = frozenset({"plaintext"})
# The fan-out servers (3 gunicorn workers each, Redis between them) and the dialect their
# clients speak (bench/fanout_wire.py); they run the fanout scenario only.
FANOUT_SERVERS: Mapping[str, Literal["berth", "socketio"]] = {
    "berth-cluster": "berth",
    "berth-cluster-uvloop": "berth",
    "socketio-cluster": "socketio",
}
FANOUT_WORKERS = 3
# gunicorn's keep-alive is 2 s: the publisher's connections wait longer than that between the
# phases of a run, and a close racing a publish would lose the message. 75 s is aiohttp's and
# Berth's own default.
_FANOUT_OPTIONS = ("--keep-alive", "75")
# The per-request access log lines of the logging variants go to the server's stdout/stderr,
# which bench/run.py writes to bench/results/<stamp>-logs/<server>.log: a regular file, one
# write per line, a new folder per run (75-330 bytes a request: a default run, 32 s at about
# 8k req/s, leaves 20-85 MB per server there).
_LOG_FILE = "written to <stamp>-logs/<server>.log"

# Berth under its development runner and under gunicorn: the same command lines serve the
# compiled hot path and, with PURE_ENV, the pure-Python one.
_BERTH_RUN = (
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
)
_BERTH_GUNICORN = _gunicorn(
    "runtime.workers.GunicornUVLoopWebWorker", "bench.apps.berth_hello:create_app"
)

SERVERS: tuple[Server, ...] = (
    Server(
        name="berth",
        argv=_BERTH_RUN,
        description="Berth, python -m runtime, uvloop, no access log",
        hot_path="compiled",
    ),
    Server(
        name="berth-pure",
        argv=_BERTH_RUN,
        description="berth on its pure-Python hot path (BERTH_NO_EXTENSIONS=1) (instructions only)",
        env=PURE_ENV,
        hot_path="pure",
        scenarios=frozenset({"instructions"}),
    ),
    Server(
        name="berth-gunicorn",
        argv=_BERTH_GUNICORN,
        description="Berth, gunicorn 1 worker, GunicornUVLoopWebWorker, no access log",
        hot_path="compiled",
    ),
    Server(
        name="berth-gunicorn-pure",
        argv=_BERTH_GUNICORN,
        description="berth-gunicorn on its pure-Python hot path (BERTH_NO_EXTENSIONS=1) "
        "(plaintext, json, routes-200, post-echo-16k, ws-echo; by default plaintext only)",
        env=PURE_ENV,
        hot_path="pure",
        scenarios=PURE_SCENARIOS,
        default_scenarios=PURE_DEFAULT_SCENARIOS,
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
        hot_path="compiled",
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
        "framework (plaintext and instructions only)",
        scenarios=frozenset({"plaintext", "instructions"}),
    ),
    Server(
        name="ceiling-task",
        argv=(
            "{python}",
            "-m",
            "bench.apps.ceiling",
            "--host",
            "{host}",
            "--port",
            "{port}",
            "--task-per-request",
        ),
        description="the ceiling answering each request from an asyncio.Task of its own, as "
        "aiohttp and Berth run handlers: the least aiohttp's semantics cost (plaintext and "
        "instructions only)",
        scenarios=frozenset({"plaintext", "instructions"}),
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
        hot_path="compiled",
    ),
    Server(
        name="berth-gunicorn-metrics",
        argv=_gunicorn(
            "runtime.workers.GunicornUVLoopWebWorker", "bench.apps.berth_hello:create_metrics_app"
        ),
        description="berth-gunicorn + middlewares.metrics (Prometheus, by route) (plaintext only)",
        scenarios=frozenset({"plaintext"}),
        hot_path="compiled",
    ),
    Server(
        name="berth-gunicorn-tracing",
        argv=_gunicorn(
            "runtime.workers.GunicornUVLoopWebWorker", "bench.apps.berth_hello:create_tracing_app"
        ),
        description="berth-gunicorn + middlewares.tracing (a span per request, batch processor, "
        "an exporter that drops them) (plaintext only)",
        scenarios=frozenset({"plaintext"}),
        hot_path="compiled",
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
        hot_path="compiled",
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
    # Issue 17: fan-out through Redis across 3 workers. Berth runs its reference chat under
    # the asyncio worker, as the issue deploys it; the uvloop variant shows what the loop is
    # worth (not default). python-socketio runs on aiohttp's uvloop worker.
    Server(
        name="berth-cluster",
        argv=_gunicorn(
            "runtime.workers.GunicornWebWorker",
            "examples.cluster_chat:create_app",
            *_FANOUT_OPTIONS,
            workers=FANOUT_WORKERS,
        ),
        description="examples/cluster_chat.py (runtime.cluster on Redis), gunicorn 3 workers, "
        "GunicornWebWorker (asyncio loop) (fanout only)",
        scenarios=frozenset({"fanout"}),
        redis=True,
        hot_path="compiled",
    ),
    Server(
        name="berth-cluster-uvloop",
        argv=_gunicorn(
            "runtime.workers.GunicornUVLoopWebWorker",
            "examples.cluster_chat:create_app",
            *_FANOUT_OPTIONS,
            workers=FANOUT_WORKERS,
        ),
        description="berth-cluster under GunicornUVLoopWebWorker (fanout only)",
        scenarios=frozenset({"fanout"}),
        redis=True,
        default=False,
        hot_path="compiled",
    ),
    Server(
        name="socketio-cluster",
        argv=_gunicorn(
            "aiohttp.GunicornUVLoopWebWorker",
            "bench.apps.socketio_chat:create_app",
            *_FANOUT_OPTIONS,
            workers=FANOUT_WORKERS,
        ),
        description="python-socketio AsyncServer(client_manager=AsyncRedisManager) on aiohttp, "
        "gunicorn 3 workers, aiohttp.GunicornUVLoopWebWorker (fanout only)",
        scenarios=frozenset({"fanout"}),
        redis=True,
    ),
    Server(
        name="uvicorn-starlette-logging",
        argv=_uvicorn("bench.apps.starlette_hello:app", "--log-level", "info"),
        description="uvicorn-starlette + uvicorn's access log (--log-level info) on stdout, "
        f"{_LOG_FILE} (logging only)",
        scenarios=frozenset({"logging"}),
    ),
)

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
