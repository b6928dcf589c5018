"""``worker_connections`` under real gunicorn: idle and slow connections make room for new
clients; busy ones never do, and then the worker refuses (new connections wait in the
backlog) with one WARNING per episode (docs/hardening.md)."""

from __future__ import annotations

import socket
import time

import pytest

from tests.workers.harness import Address, Launcher, connect, get, read_reply, wait_for

pytestmark = pytest.mark.slow


def open_raw(address: Address, data: bytes = b"") -> socket.socket:
    assert isinstance(address, tuple)
    sock = socket.create_connection(address, timeout=5)
    if data:
        sock.sendall(data)
    return sock


def closed_by_server(sock: socket.socket, timeout: float = 2.0) -> bool:
    """Whether the server closed ``sock`` (EOF or reset) within ``timeout``."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def hold(address: Address) -> socket.socket:
    """A new client that is answered and keeps its connection (then idle)."""
    began = time.monotonic()
    sock = open_raw(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.settimeout(1)
    assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    assert time.monotonic() - began < 1
    return sock


def test_idle_connections_make_room_oldest_first(gunicorn: Launcher) -> None:
    instance = gunicorn("--worker-connections", "4", "--keep-alive", "60").start().wait_ready()
    idle = []
    for _ in range(2):
        idle.append(hold(instance.address))
        time.sleep(0.05)  # distinct idle ages
    partial = [open_raw(instance.address, b"GET / HTTP/1.1\r\nHost: x\r\n") for _ in range(2)]
    time.sleep(0.2)  # all four are open on the server's side: the limit is reached
    first = hold(instance.address)
    assert closed_by_server(idle[0]) and not closed_by_server(idle[1], 0.1)
    time.sleep(0.05)
    second = hold(instance.address)
    assert closed_by_server(idle[1])
    time.sleep(0.6)  # past the half second one ranking of the connections is kept
    third = hold(instance.address)  # the oldest idle one now is the first newcomer
    assert closed_by_server(first)
    assert not any(closed_by_server(sock, 0.1) for sock in [*partial, second, third])
    for sock in [*idle, *partial, first, second, third]:
        sock.close()
    wait_for(lambda: "episode over" in instance.stderr, 5, "the INFO line closing the episode")
    assert "closed 0 closing, 3 idle, 0 slow head" in instance.stderr
    assert "no connection can be closed" not in instance.stderr


def test_unfinished_heads_make_room_when_nothing_is_idle(gunicorn: Launcher) -> None:
    instance = gunicorn("--worker-connections", "3", "--keep-alive", "60").start().wait_ready()
    busy = open_raw(instance.address, b"GET /sleep/3 HTTP/1.1\r\nHost: x\r\n\r\n")
    partial = [open_raw(instance.address, b"GET / HTTP/1.1\r\nHost: x\r\n") for _ in range(2)]
    time.sleep(1.2)  # a head is judged slow only after a second
    assert get(instance.address, "/", timeout=1).status == 200
    assert sum(closed_by_server(sock, 0.5) for sock in partial) == 1
    assert not closed_by_server(busy, 0.1)  # a request being served is never closed
    for sock in [busy, *partial]:
        sock.close()


def test_busy_connections_are_kept_and_the_refusal_logged_once(gunicorn: Launcher) -> None:
    instance = gunicorn("--worker-connections", "2", "--keep-alive", "60").start().wait_ready()
    # Three requests being served: the third connection found the worker full with
    # nothing to close, and was still taken (one over the limit)...
    busy = [
        open_raw(instance.address, b"GET /sleep/%s HTTP/1.1\r\nHost: x\r\n\r\n" % s)
        for s in (b"2", b"2.5", b"2.5")
    ]
    time.sleep(0.3)
    # ...and from then on new connections wait in the backlog...
    with pytest.raises(TimeoutError):
        get(instance.address, "/", timeout=0.5)
    waiting = connect(instance.address, timeout=5)
    waiting.request("GET", "/info")
    # ...until a request ends and its connection (now idle) can make room.
    assert read_reply(waiting).status == 200
    for sock in busy:
        sock.settimeout(5)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        sock.close()
    waiting.close()
    wait_for(lambda: "episode over" in instance.stderr, 5, "the episode's INFO line")
    assert instance.stderr.count("no connection can be closed") == 1
