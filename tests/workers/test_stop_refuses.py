"""A stop refuses what it cannot serve, and resets nothing (docs/hardening.md).

After SIGTERM the workers close their copies of the listening sockets at once (the arbiter
closes its own first), so a new connection is refused at connect, which clients and
proxies retry safely, instead of being queued into a backlog nobody reads and reset when
the worker exits. What was queued before the close is served, with ``Connection: close``.
"""

from __future__ import annotations

import signal
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.workers.harness import Launcher

pytestmark = pytest.mark.slow

WORKERS = ["runtime.workers.GunicornWebWorker", "runtime.workers.GunicornUVLoopWebWorker"]


def attempt(address: tuple[str, int]) -> str:
    """One fresh connection and a GET: 'answered', 'refused' or 'reset'."""
    try:
        sock = socket.create_connection(address, timeout=5)
    except ConnectionRefusedError:
        return "refused"
    with sock:
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return "reset"
        except TimeoutError:
            return "timeout"
    return "answered" if reply.startswith(b"HTTP/1.1 ") else "reset"


@pytest.mark.parametrize("worker", WORKERS, ids=["asyncio", "uvloop"])
def test_new_connections_after_sigterm_are_refused_not_reset(
    gunicorn: Launcher, worker: str
) -> None:
    instance = gunicorn("-w", "2", "--graceful-timeout", "5", worker=worker).start()
    instance.wait_ready()
    address = instance.address
    assert isinstance(address, tuple)
    pool = ThreadPoolExecutor(1)
    in_flight = pool.submit(attempt_slow, address)
    pool.shutdown(wait=False)
    time.sleep(0.3)
    instance.signal(signal.SIGTERM)
    outcomes: dict[str, int] = {}
    deadline = time.monotonic() + 2.0  # the in-flight request keeps a worker draining
    while time.monotonic() < deadline:
        outcome = attempt(address)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        time.sleep(0.005)
    assert in_flight.result(10).startswith(b"HTTP/1.1 200 OK")
    assert instance.wait(10) == 0
    assert outcomes.get("reset", 0) == 0 and outcomes.get("timeout", 0) == 0, outcomes
    assert outcomes.get("refused", 0) > 0, outcomes
    assert "ResourceWarning" not in instance.stderr


def attempt_slow(address: tuple[str, int]) -> bytes:
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET /sleep/1.5 HTTP/1.1\r\nHost: x\r\n\r\n")
        return sock.recv(65536)
