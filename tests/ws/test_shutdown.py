"""Graceful shutdown with open WebSockets: 1001 Going Away, and no hang."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime import web
from runtime.http.ws import WSMessage, WSMsgType
from runtime.web import runner as runner_module
from runtime.web.request import BaseRequest
from runtime.web.response import StreamResponse
from runtime.web.runner import ServerRunner, TCPSite
from runtime.web.server import Server
from runtime.web.websocket import WebSocketResponse
from runtime.web.websocket_registry import shutdown_websockets, websockets
from tests.ws.helpers import connect, handshake_request


class HookedRunner(ServerRunner):
    """The runner with the proposed hook: close WebSockets with 1001 after on_shutdown."""

    async def _run_shutdown_hooks(self) -> None:
        await super()._run_shutdown_hooks()
        assert self.server is not None
        await shutdown_websockets(self.server.connections, timeout=self._shutdown_timeout)


async def start(runner: ServerRunner) -> int:
    """Start a runner the test stops itself (the stop is what these tests are about)."""
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site.port is not None
    return site.port


def reader_handler(log: list[Any]) -> Any:
    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        try:
            async for _ in ws:
                pass
        except asyncio.CancelledError:
            log.append("cancelled")
            raise
        log.append(ws.close_code)
        return ws

    return handler


async def test_shutdown_closes_websockets_with_1001() -> None:
    log: list[Any] = []
    runner = HookedRunner(Server(reader_handler(log), access_log=None), shutdown_timeout=5)
    port = await start(runner)
    clients = [await connect(port) for _ in range(3)]
    await asyncio.sleep(0.05)

    async def answer(client: Any) -> WSMessage:
        msg = await client.recv()
        client.send_raw(client.frames.close(msg.data))
        assert (await client.recv()).type is WSMsgType.CLOSED
        return msg

    answers = asyncio.gather(*(answer(c) for c in clients))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await runner.cleanup()
    assert loop.time() - started < 2
    assert await answers == [WSMessage(WSMsgType.CLOSE, 1001, "Server shutdown")] * 3
    assert log == [None, None, None]  # async for ended (on CLOSING) without a cancel
    for client in clients:
        await client.close()


async def test_shutdown_does_not_wait_for_a_silent_peer() -> None:
    log: list[Any] = []
    runner = HookedRunner(Server(reader_handler(log), access_log=None), shutdown_timeout=0.3)
    port = await start(runner)
    client = await connect(port)  # never answers the Close
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await runner.cleanup()
    assert loop.time() - started < 1.5
    msgs = await client.recv_until_closed()
    assert msgs[0] == WSMessage(WSMsgType.CLOSE, 1001, "Server shutdown")
    await client.close()


async def test_plain_runner_cleanup_does_not_hang_on_open_websockets() -> None:
    # Without the hook the grace period ends with the handler cancelled; the FAQ's
    # "catch CancelledError, then await ws.close()" handler still finishes.
    log: list[Any] = []

    async def faq_handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(timeout=0.2)
        await ws.prepare(request)
        try:
            async for _ in ws:
                pass
        except asyncio.CancelledError:
            log.append("cancelled")
        await ws.close()
        log.append(ws.close_code)
        return ws

    runner = ServerRunner(Server(faq_handler, access_log=None), shutdown_timeout=0.3)
    port = await start(runner)
    client = await connect(port)
    await asyncio.sleep(0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await runner.cleanup()
    assert loop.time() - started < 1.5
    await client.recv_until_closed()
    await client.close()
    await asyncio.sleep(0.3)
    # Cancelled at the end of the grace period (or, with the runner's 1001 hook, its loop
    # ended before that): either way the handler ran to its end.
    assert log and log[-1] != "cancelled" and set(log[:-1]) <= {"cancelled"}


async def test_app_on_shutdown_with_the_registry() -> None:
    # What an application can do today: close its sockets from on_shutdown.
    log: list[Any] = []

    async def close_sockets(app: web.Application) -> None:
        log.append(await websockets(app).close_all(message="bye"))

    app = web.Application()
    app.router.add_get("/ws", reader_handler(log))
    app.on_shutdown.append(close_sockets)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site.port is not None
    client = await connect(site.port, handshake_request("/ws"))
    await asyncio.sleep(0.05)

    async def answer() -> WSMessage:
        msg = await client.recv()
        client.send_raw(client.frames.close(msg.data))
        return msg

    answered = asyncio.ensure_future(answer())
    await runner.cleanup()
    assert await answered == WSMessage(WSMsgType.CLOSE, 1001, "bye")
    assert log == [None, 1]
    await client.close()


@pytest.mark.skipif(
    not hasattr(runner_module, "shutdown_websockets"), reason="runner hook not wired yet"
)
async def test_the_runner_itself_sends_1001() -> None:
    log: list[Any] = []
    runner = ServerRunner(Server(reader_handler(log), access_log=None), shutdown_timeout=5)
    port = await start(runner)
    client = await connect(port)
    await asyncio.sleep(0.05)

    async def answer() -> WSMessage:
        msg = await client.recv()
        client.send_raw(client.frames.close(msg.data))
        return msg

    answered = asyncio.ensure_future(answer())
    await runner.cleanup()
    assert await answered == WSMessage(WSMsgType.CLOSE, 1001, "Server shutdown")
    assert log == [None]
    await client.close()
