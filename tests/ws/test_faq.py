"""docs/faq.md's three WebSocket answers, as tests.

1. Iterate messages in the handler (``async for msg in ws``).
2. Read in the handler while other tasks send on the same socket (parallel reads are
   forbidden; sends from several tasks are safe and never interleave on the wire).
3. Close a user's sockets from another endpoint (/logout_user) with the FAQ's original
   pattern (cancel the handler task, which catches ``CancelledError`` and awaits
   ``ws.close()``), and close a socket from another task. The registry's way, the FAQ's
   code, is examples/faq/close_sockets.py, run by tests/test_faq_examples.py.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict

from runtime import web
from runtime.http.ws import WSMessage, WSMsgType
from runtime.web.websocket import WebSocketResponse
from tests.support import fetch, serve
from tests.ws.helpers import RawClient, connect, handshake_request


async def http(port: int, method: str, path: str) -> tuple[int, bytes]:
    reply = await fetch(port, method, path, [("Connection", "close")], host="x")
    return reply.status, reply.body


# -- 1. iterate messages ------------------------------------------------------------------


async def echo(request: web.Request) -> web.StreamResponse:
    ws = WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            if msg.data == "close":
                await ws.close()
            else:
                await ws.send_str(msg.data + "/answer")
        elif msg.type is WSMsgType.ERROR:
            print("ws connection closed with exception", ws.exception())
    return ws


async def test_iterate_messages() -> None:
    app = web.Application()
    app.router.add_get("/ws", echo)
    async with serve(app, shutdown_timeout=2) as port:
        client = await connect(port, handshake_request("/ws"))
        for text in ["one", "two", "three"]:
            await client.send_text(text)
            assert await client.recv() == WSMessage(WSMsgType.TEXT, text + "/answer", "")
        await client.send_text("close")
        assert (await client.recv()).data == 1000
        client.send_raw(client.frames.close(1000))
        assert (await client.recv()).type is WSMsgType.CLOSED
        await client.close()


# -- 2. another task sends while the handler reads ----------------------------------------


async def test_other_tasks_send_while_the_handler_reads() -> None:
    big = "x" * 200_000
    events: asyncio.Queue[str] = asyncio.Queue()  # stands in for the FAQ's Redis channel

    async def read_subscription(ws: WebSocketResponse) -> None:
        while True:
            event = await events.get()
            await ws.send_str(event)

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        task = asyncio.create_task(read_subscription(ws))
        try:
            async for msg in ws:
                await ws.send_str("echo:" + msg.data)
        finally:
            task.cancel()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    async with serve(app, shutdown_timeout=2) as port:
        client = await connect(port, handshake_request("/ws"))
        for i in range(20):
            events.put_nowait(f"event {i} " + big)
            await client.send_text(f"msg {i} " + big)
        got = [await client.recv() for _ in range(40)]
        # Every frame parsed whole: nothing interleaved on the wire.
        assert sorted(m.data.split(" ", 2)[1] for m in got if m.data.startswith("event")) == sorted(
            str(i) for i in range(20)
        )
        echoes = [m.data for m in got if m.data.startswith("echo:")]
        assert echoes == [f"echo:msg {i} " + big for i in range(20)]
        client.send_raw(client.frames.close(1000))
        assert (await client.recv()).data == 1000
        await client.close()


# -- 3. close a user's sockets from another endpoint --------------------------------------


def authenticate_user(request: web.Request) -> str:
    return request.query["user"]


async def open_as(port: int, user: str) -> RawClient:
    client = await connect(port, handshake_request(f"/echo?user={user}"))
    assert client.status == 101
    return client


async def test_faq_pattern_cancelling_the_handler_task_still_works() -> None:
    handlers: defaultdict[str, set[asyncio.Task[object]]] = defaultdict(set)
    log: list[str] = []

    async def echo_handler(request: web.Request) -> web.StreamResponse:
        ws = WebSocketResponse()
        user_id = authenticate_user(request)
        await ws.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        handlers[user_id].add(task)
        try:
            async for msg in ws:
                await ws.send_str(msg.data)
        except asyncio.CancelledError:
            log.append("websocket cancelled")
        finally:
            handlers[user_id].discard(task)
        await ws.close()
        return ws

    async def logout_handler(request: web.Request) -> web.StreamResponse:
        for task in list(handlers[authenticate_user(request)]):
            task.cancel()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/echo", echo_handler)
    app.router.add_post("/logout_user", logout_handler)
    async with serve(app, shutdown_timeout=2) as port:
        client = await open_as(port, "carol")
        await client.send_text("hi")
        assert (await client.recv()).data == "hi"
        assert await http(port, "POST", "/logout_user?user=carol") == (200, b"ok")
        msg = await client.recv()
        assert msg == WSMessage(WSMsgType.CLOSE, 1000, "")
        client.send_raw(client.frames.close(1000))
        assert (await client.recv()).type is WSMsgType.CLOSED
        await client.close()
    assert log == ["websocket cancelled"]


async def test_close_from_another_task_ends_the_readers_loop() -> None:
    ended: list[object] = []
    sockets: list[WebSocketResponse] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        sockets.append(ws)
        async for _ in ws:
            pass
        ended.append(ws.closed)  # woken with CLOSING while the handshake completes
        return ws

    async def closer(request: web.Request) -> web.StreamResponse:
        await sockets[0].close(code=4002, message=b"from elsewhere")
        return web.Response(text=str(sockets[0].close_code))

    app = web.Application()
    app.router.add_get("/ws", handler)
    app.router.add_post("/close", closer)
    async with serve(app, shutdown_timeout=2) as port:
        client = await connect(port, handshake_request("/ws"))
        await asyncio.sleep(0.05)
        reply = asyncio.ensure_future(http(port, "POST", "/close"))
        assert await client.recv() == WSMessage(WSMsgType.CLOSE, 4002, "from elsewhere")
        client.send_raw(client.frames.close(4002))
        assert await reply == (200, b"4002")
        assert (await client.recv()).type is WSMsgType.CLOSED
        await client.close()
    assert ended == [True]
    assert sockets[0].close_code == 4002
