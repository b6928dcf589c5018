"""A closed WebSocket frees everything it held: the socket object, its HTTP connection,
the transport, its task, and the compressor's zlib state (docs/hardening.md).

A server runs for weeks; one object kept per closed WebSocket is a leak that takes it down
in hours. These tests open and close WebSockets through a real loopback server, then check
with ``gc.collect()`` that nothing made for them survives.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from runtime import web
from runtime.client import ClientSession
from runtime.server.protocol import HttpProtocol
from runtime.web.request import BaseRequest
from runtime.web.response import StreamResponse
from runtime.web.websocket import WebSocketResponse
from tests.support import serve

ROUNDS = 150


def _alive(kind: type) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS in /proc/self/status")


async def _churn(port: int, rounds: int, *, compress: bool, server_closes: bool) -> None:
    async with ClientSession() as session:
        for i in range(rounds):
            async with session.ws_connect(
                f"http://127.0.0.1:{port}/ws", compress=15 if compress else 0
            ) as ws:
                await ws.send_str(f"hello {i}" * 20)
                reply = await ws.receive()
                assert reply.data == f"hello {i}" * 20
                if server_closes:
                    await ws.send_str("bye")
                    await ws.receive()  # the server's Close
                else:
                    await ws.close()


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("server_closes", [False, True], ids=["client-closes", "server-closes"])
@pytest.mark.parametrize("heartbeat", [None, 30.0], ids=["no-heartbeat", "heartbeat"])
async def test_closed_websockets_leave_nothing_behind(
    compress: bool, server_closes: bool, heartbeat: float | None
) -> None:
    sockets: weakref.WeakSet[WebSocketResponse] = weakref.WeakSet()
    tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()

    async def handler(request: BaseRequest) -> StreamResponse:
        # With a heartbeat, the socket's pinger refers back to it: closing must undo that.
        ws = WebSocketResponse(compress=compress, heartbeat=heartbeat)
        sockets.add(ws)
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)
        await ws.prepare(request)
        web.websockets(request.app).add(ws, key="room")
        async for msg in ws:
            if msg.data == "bye":
                await ws.close()
                break
            await ws.send_str(msg.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    async with serve(app) as port:
        await _churn(port, 20, compress=compress, server_closes=server_closes)  # warm-up
        protocols_before = _alive(HttpProtocol)
        gc.disable()  # freed by reference counting alone, without the cycle collector
        try:
            await _churn(port, 30, compress=compress, server_closes=server_closes)
            await asyncio.sleep(0.05)  # the last connection_lost callbacks
            assert len(sockets) == 0, f"{len(sockets)} sockets wait for the cycle collector"
        finally:
            gc.enable()
        rss_before = _rss_kib()
        await _churn(port, ROUNDS, compress=compress, server_closes=server_closes)
        await asyncio.sleep(0.05)
        gc.collect()
        assert len(sockets) == 0, f"{len(sockets)} WebSocketResponse objects survived"
        assert len(tasks) == 0, f"{len(tasks)} handler tasks survived"
        assert _alive(HttpProtocol) <= protocols_before
        assert len(web.websockets(app)) == 0
        assert web.websockets(app).keys() == []
        # Leaked, each deflate socket held ~107 KiB (its zlib windows) and each plain one
        # ~10 KiB; what is left must not grow with the number of sockets closed.
        growth = _rss_kib() - rss_before
        assert growth < ROUNDS * (20 if compress else 4), f"RSS grew {growth} KiB"


async def test_a_closed_socket_leaves_every_registry_it_joined() -> None:
    # A socket on a sub-application's route is in the root's registry and the sub-app's;
    # each registry's discard() takes itself off the socket's list while the socket walks
    # it, which once left every second registry holding the closed socket.
    root = web.Application()
    sub = web.Application()
    extra = web.WebSocketRegistry()
    done = asyncio.Event()

    async def chat(request: web.Request) -> web.StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        extra.add(ws, key="alice")
        async for _ in ws:
            pass
        done.set()
        return ws

    sub.router.add_get("/ws", chat)
    root.add_subapp("/sub", sub)
    async with serve(root) as port, ClientSession() as session:
        async with session.ws_connect(f"http://127.0.0.1:{port}/sub/ws") as ws:
            await ws.send_str("hi")
            for _ in range(100):
                if len(extra):
                    break
                await asyncio.sleep(0.01)
            assert len(web.websockets(root)) == len(web.websockets(sub)) == len(extra) == 1
        await asyncio.wait_for(done.wait(), 5)
        for _ in range(100):
            if not (len(web.websockets(root)) or len(web.websockets(sub)) or len(extra)):
                break
            await asyncio.sleep(0.01)
        assert (len(web.websockets(root)), len(web.websockets(sub)), len(extra)) == (0, 0, 0)
