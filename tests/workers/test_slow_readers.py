"""Clients that ask for large responses and never read them, under real gunicorn: at
``worker_connections`` they make room for new clients (after a second without reading)
instead of locking them out, and on their own they are aborted after ``send_timeout``
(docs/hardening.md)."""

from __future__ import annotations

import re
import socket
import time

import pytest

from tests.workers.harness import Address, Launcher, get, wait_for

pytestmark = pytest.mark.slow

APP = "tests.workers.apps.slow_read:create_app"


def slow_reader(address: Address, mib: int = 32) -> socket.socket:
    """A client with a small receive buffer that asks for ``mib`` MiB and reads nothing."""
    assert isinstance(address, tuple)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(address)
    sock.sendall(b"GET /stream/%d HTTP/1.1\r\nHost: x\r\n\r\n" % mib)
    return sock


def closed_by_server(sock: socket.socket, timeout: float = 2.0) -> bool:
    """Whether the server ended ``sock`` within ``timeout``: reading what the kernel still
    holds for it ends in EOF or a reset, not in a wait."""
    sock.settimeout(timeout)
    try:
        while sock.recv(1 << 20):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def test_slow_readers_make_room_for_new_clients(gunicorn: Launcher) -> None:
    instance = (
        gunicorn("--worker-connections", "3", "--keep-alive", "60", target=APP).start().wait_ready()
    )
    readers = []
    for _ in range(4):  # the fourth finds the worker full and is kept, one over the limit
        readers.append(slow_reader(instance.address))
        time.sleep(0.1)  # distinct stall ages: the first is the longest stalled
    time.sleep(1.5)  # a peer not reading ranks after a second without reading
    # Without this, four requests being served keep the worker full and refusing: new
    # clients wait in the listen backlog for as long as the readers like (send_timeout is
    # 60 s here).
    for _ in range(3):
        began = time.monotonic()
        assert get(instance.address, "/", timeout=2).status == 200
        assert time.monotonic() - began < 1
    # The longest stalled made room first (and perhaps the next, if a newcomer came
    # before the last one's close was seen); the most recent one was never needed.
    # Reading them, even briefly, is progress: so they are looked at last.
    assert closed_by_server(readers[0])
    assert not closed_by_server(readers[3], 0.1)
    for sock in readers:
        sock.close()
    # Two episodes: the fourth reader's (refused until the first reader had stalled a
    # second), and the newcomers'.
    made_room = re.compile(r"0 slow body, [1-3] not reading to make room")
    wait_for(lambda: made_room.search(instance.stderr), 5, "the episode's INFO line")
    assert instance.stderr.count("no connection can be closed") == 1


def test_a_reader_alone_is_aborted_after_send_timeout(gunicorn: Launcher) -> None:
    instance = gunicorn("--log-level", "info", target=APP)
    instance.start(extra_env={"SEND_TIMEOUT": "1"}).wait_ready()
    sock = slow_reader(instance.address)
    try:
        # Any read would be progress: wait past the timeout first, then look.
        wait_for(lambda: "(send_timeout)" in instance.stderr, 5, "the send_timeout line")
        assert closed_by_server(sock)
    finally:
        sock.close()
    assert "it read nothing of its response for 1.0 s" in instance.stderr
    assert get(instance.address, "/", timeout=2).status == 200
