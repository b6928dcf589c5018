"""Slow readers through real loopback sockets: a client that asks for a large response and
never reads it (a small receive buffer, so the server's writes block soon) is aborted after
``send_timeout`` and leaves nothing behind; a slow client that keeps reading is served to
the end; a WebSocket peer that stops reading is aborted the same way (docs/hardening.md)."""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import weakref
from typing import Any

import pytest

from runtime import web
from runtime.server.protocol import HttpProtocol
from runtime.web.request import BaseRequest
from tests.support import serve
from tests.ws.helpers import handshake_request

SEND_TIMEOUT = 0.5
CHUNK = 65536


async def slow_client(port: int, data: bytes, rcvbuf: int = 4096) -> socket.socket:
    """A client with a small receive buffer that sends ``data`` and reads nothing."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", port))
    await loop.sock_sendall(sock, data)
    return sock


def read_to_the_end(sock: socket.socket) -> int:
    """What the client still gets once it reads (the kernel's buffers, then EOF or a
    reset); fails if the server has not closed the connection."""
    sock.setblocking(True)
    sock.settimeout(5)
    got = 0
    try:
        while data := sock.recv(1 << 20):
            got += len(data)
    except ConnectionResetError:
        pass
    return got


def alive() -> int:
    """HttpProtocol objects alive (they have slots and no weak references)."""
    return sum(1 for obj in gc.get_objects() if type(obj) is HttpProtocol)


class Watch:
    """What the server side did: its handler tasks (weakly) and how they ended."""

    def __init__(self) -> None:
        self.tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self.ended: asyncio.Queue[str] = asyncio.Queue()
        self.keep: list[HttpProtocol] = []  # only where a test keeps them (no leak check)

    def enter(self, request: BaseRequest) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)


def app_for(watch: Watch, size: int) -> web.Application:
    async def stream(request: web.Request) -> web.StreamResponse:
        watch.enter(request)
        response = web.StreamResponse()
        response.content_length = size
        await response.prepare(request)
        began = time.monotonic()
        try:
            for _ in range(size // CHUNK):
                await response.write(b"x" * CHUNK)
        except ConnectionResetError as exc:
            # Only its text: the exception's traceback would keep the frames alive.
            await watch.ended.put(f"reset: {exc}")
            raise
        await watch.ended.put(f"complete in {time.monotonic() - began:.1f} s")
        return response

    async def whole(request: web.Request) -> web.StreamResponse:
        watch.enter(request)
        watch.keep.append(request.protocol)
        return web.Response(body=b"x" * size)

    async def ws_feed(request: web.Request) -> web.StreamResponse:
        watch.enter(request)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        web.websockets(request.app).add(ws)
        try:
            while True:
                await ws.send_bytes(b"x" * CHUNK)
        except ConnectionResetError as exc:
            await watch.ended.put(f"reset: {exc}")
        return ws

    app = web.Application(handler_args={"send_timeout": SEND_TIMEOUT})
    app.router.add_get("/stream", stream)
    app.router.add_get("/whole", whole)
    app.router.add_get("/ws", ws_feed)
    return app


async def wait_gone(watch: Watch, before: int) -> None:
    """Every connection and handler task is freed (by reference counting: the tests turn
    the cycle collector off)."""
    for _ in range(100):
        if alive() <= before and not len(watch.tasks):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"left behind: {alive() - before} connections, {len(watch.tasks)} tasks")


async def test_a_client_that_never_reads_a_stream_is_aborted_and_leaves_nothing() -> None:
    watch = Watch()
    size = 16 * 2**20  # 16 MiB: far more than the kernel's buffers hold
    async with serve(app_for(watch, size)) as port:
        gc.collect()
        before = alive()
        gc.disable()  # freed by reference counting alone
        sock = await slow_client(port, b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            began = time.monotonic()
            ended = await asyncio.wait_for(watch.ended.get(), 10)
            took = time.monotonic() - began
            # The handler's pending write raised, saying why.
            assert ended.startswith("reset: Connection lost: the peer read nothing for 0.")
            assert SEND_TIMEOUT <= took < SEND_TIMEOUT * 1.25 + 1.0, took
            assert read_to_the_end(sock) < size  # cut short, and closed
            await wait_gone(watch, before)
        finally:
            gc.enable()
            sock.close()


async def test_a_whole_response_never_read_is_aborted() -> None:
    # One transport.write: the handler is long done, the response sits in the buffer and
    # the connection looks idle (keep-alive 60 s), but must not be held for ever by it.
    watch = Watch()
    size = 16 * 2**20
    async with serve(app_for(watch, size), keepalive_timeout=60) as port:
        sock = await slow_client(port, b"GET /whole HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            began = time.monotonic()
            for _ in range(100):
                await asyncio.sleep(0.05)
                if watch.keep and watch.keep[0].transport is None:
                    break
            took = time.monotonic() - began
            assert len(watch.keep) == 1 and watch.keep[0].transport is None, "still open"
            assert SEND_TIMEOUT <= took < SEND_TIMEOUT * 1.25 + 1.0, took
            assert read_to_the_end(sock) < size
        finally:
            sock.close()


def test_a_whole_response_never_read_is_aborted_on_uvloop() -> None:
    # On uvloop a large whole body leaves through writelines beside its head (no copy):
    # the transport must still pause the protocol, so the send timeout still applies.
    uvloop = pytest.importorskip("uvloop")
    loop = uvloop.new_event_loop()
    try:
        loop.run_until_complete(test_a_whole_response_never_read_is_aborted())
    finally:
        loop.close()


async def test_a_slow_but_reading_client_is_cut_only_once_it_stops() -> None:
    # The kernel takes the first few MiB (its send buffer grows to 4 MiB) before the
    # handler's writes block; then the client reads 4 KiB every 0.1 s for six times
    # send_timeout: a trickle next to those buffers (the kernel would not wake the writer
    # for a minute), yet never silent for send_timeout. Then it stops reading.
    watch = Watch()
    size = 16 * 2**20
    async with serve(app_for(watch, size)) as port:
        sock = await slow_client(port, b"GET /stream HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(0.1)  # the server's writes block meanwhile
            for _ in range(int(6 * SEND_TIMEOUT / 0.1)):
                assert await loop.sock_recv(sock, 4096)
                await asyncio.sleep(0.1)
            assert watch.ended.empty(), "cut while reading"
            stopped = time.monotonic()
            ended = await asyncio.wait_for(watch.ended.get(), 10)
            took = time.monotonic() - stopped
            assert ended.startswith("reset: Connection lost: the peer read nothing for 0.")
            assert SEND_TIMEOUT - 0.1 <= took < SEND_TIMEOUT * 1.25 + 1.0, took
        finally:
            sock.close()


async def test_a_websocket_peer_that_stops_reading_is_aborted() -> None:
    watch = Watch()
    app = app_for(watch, 0)
    async with serve(app) as port:
        gc.collect()
        before = alive()
        gc.disable()
        sock = await slow_client(port, handshake_request("/ws"))
        try:
            began = time.monotonic()
            ended = await asyncio.wait_for(watch.ended.get(), 10)
            took = time.monotonic() - began
            assert ended.startswith("reset: Connection lost: the peer read nothing for 0.")
            assert SEND_TIMEOUT <= took < SEND_TIMEOUT * 1.25 + 1.0, took
            read_to_the_end(sock)
            await wait_gone(watch, before)
            assert len(web.websockets(app)) == 0
        finally:
            gc.enable()
            sock.close()
