"""Heartbeat: a dead peer is found even when the handler only sends (aiohttp issue 2368)."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime.http.ws import WSCloseCode, WSMsgType
from runtime.web.request import BaseRequest
from runtime.web.response import StreamResponse
from runtime.web.websocket import WebSocketResponse
from tests.support import serve
from tests.ws.helpers import RawClient, connect


def sender(result: dict[str, Any], heartbeat: float, duration: float | None = None) -> Any:
    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(heartbeat=heartbeat)
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        start = loop.time()
        try:
            while duration is None or loop.time() - start < duration:
                await ws.send_str("tick")  # only sends, never calls receive()
                await asyncio.sleep(0.02)
        except ConnectionResetError as exc:
            result["error"] = exc
            result["after"] = loop.time() - start
        result["code"] = ws.close_code
        result["exception"] = ws.exception()
        result["closed"] = ws.closed
        await ws.close()
        return ws

    return handler


async def answer_pings(client: RawClient, stop: asyncio.Event) -> int:
    pings = 0
    while not stop.is_set():
        msg = await client.recv()
        if msg.type is WSMsgType.PING:
            pings += 1
            client.send_raw(client.frames.pong(msg.data))
        elif msg.type is WSMsgType.CLOSE:
            client.send_raw(client.frames.close(msg.data))
        elif msg.type is WSMsgType.CLOSED:
            break
    return pings


async def test_dead_peer_found_while_the_handler_only_sends() -> None:
    result: dict[str, Any] = {}
    async with serve(sender(result, heartbeat=0.1)) as port:
        client = await connect(port)  # reads nothing, answers no ping: a dead peer
        async with asyncio.timeout(3):
            while "code" not in result:
                await asyncio.sleep(0.02)
        await client.close()
    assert isinstance(result["error"], ConnectionResetError)
    assert result["after"] < 1.0  # heartbeat 0.1 s + pong wait 0.05 s, with slack
    assert result["code"] == WSCloseCode.ABNORMAL_CLOSURE
    assert isinstance(result["exception"], TimeoutError)
    assert result["closed"] is True


async def test_live_peer_keeps_the_connection() -> None:
    result: dict[str, Any] = {}
    async with serve(sender(result, heartbeat=0.05, duration=0.5)) as port:
        client = await connect(port)
        stop = asyncio.Event()
        pings = await answer_pings(client, stop)
        await client.close()
    assert "error" not in result
    assert result["code"] is None  # still open when the handler finished sending
    assert pings >= 2


async def test_pending_receive_sees_the_dead_peer() -> None:
    seen: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(heartbeat=0.1)
        await ws.prepare(request)
        msg = await ws.receive()
        seen.append(msg.type)
        seen.append(type(msg.data))
        seen.append((await ws.receive()).type)
        seen.append(ws.close_code)
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        async with asyncio.timeout(3):
            while len(seen) < 4:
                await asyncio.sleep(0.02)
        await client.close()
    assert seen == [WSMsgType.ERROR, TimeoutError, WSMsgType.CLOSED, 1006]


async def test_traffic_counts_as_alive() -> None:
    # A peer that keeps sending needs no pong: any bytes prove it alive.
    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(heartbeat=0.05, autoping=False)
        await ws.prepare(request)
        count = 0
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                count += 1
                if count == 15:
                    await ws.send_str(str(count))
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        for _ in range(15):
            await client.send_text("x")
            await asyncio.sleep(0.02)
        while (msg := await client.recv()).type is WSMsgType.PING:
            pass
        assert msg.data == "15"
        client.send_raw(client.frames.close(1000))
        await client.recv_until_closed()
        await client.close()
