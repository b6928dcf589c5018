"""What the benchmark runs: servers x scenarios, and the comparisons it reports.

To add a server, append a :class:`Server` to ``SERVERS``: its command line and how to tell it
is up. To add a scenario, append a :class:`Scenario` to ``SCENARIOS`` and give every app in
``bench/apps/`` the route it needs (or list the servers that have it in ``Scenario.servers``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

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


@dataclass(frozen=True)
class Scenario:
    """One workload. ``kind="http"``: a wrk request, sent over and over on keep-alive
    connections. ``kind="ws"``: ``bench/ws_load.py`` upgrades ``path`` to a WebSocket and
    sends ``body`` as a text message over and over, counting the echoes (messages/s); only
    ``name``, ``path``, ``description``, ``body``, ``servers`` and ``default`` apply.

    Before measuring, one request is sent with ``http.client`` and its status (and body, if
    ``expect_body`` is set) checked, so a broken route fails loudly instead of benchmarking
    404s; for a WebSocket scenario, one message is echoed and compared instead.
    """

    name: str
    path: str
    description: str
    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_status: int = 200
    expect_body: bytes | None = None
    servers: frozenset[str] | None = None  # None: every server has this route
    default: bool = True
    kind: Literal["http", "ws"] = "http"


@dataclass(frozen=True)
class Comparison:
    """Report ``subject``'s req/s (msgs/s for WebSocket) as a multiple of ``baseline``'s."""

    subject: str
    baseline: str
    scenario: str
    target: float


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
)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="plaintext",
        path="/",
        description="GET / -> 200 text/plain 'Hello, World!'",
        expect_body=b"Hello, World!",
    ),
    Scenario(
        name="ws-echo",
        path="/ws",
        description="WebSocket /ws: 16-byte text messages echoed (bench/ws_load.py, msgs/s)",
        body=b"0123456789abcdef",
        kind="ws",
    ),
)

COMPARISONS: tuple[Comparison, ...] = (
    # Like for like: both under gunicorn with their uvloop workers (issues 2 and 6).
    Comparison(
        subject="berth-gunicorn", baseline="aiohttp-gunicorn", scenario="plaintext", target=1.5
    ),
    Comparison(subject="berth", baseline="aiohttp-run-app", scenario="plaintext", target=1.5),
    # Issue 5: WebSocket echo, small messages; for now "ahead of aiohttp".
    Comparison(
        subject="berth-gunicorn", baseline="aiohttp-gunicorn", scenario="ws-echo", target=1.0
    ),
)

# The column every other server is shown against in the summary table.
BASELINE = "aiohttp-gunicorn"
