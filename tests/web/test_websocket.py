"""``web.WebSocketResponse`` as aiohttp 3.14 has it: ``decode_text=False`` and the generic
``WebSocketResponse[...]``, ``writer_limit``, and a status set before the handshake."""

from __future__ import annotations

import json
from typing import Any, Literal

import aiohttp

from runtime import web
from runtime.http.ws import WSCloseCode, WSMsgType
from tests.web.support import ClientFactory, ServerFactory
from tests.ws.helpers import connect, masked

Handler = Any


def app_at(handler: Handler) -> web.Application:
    app = web.Application()
    app.router.add_get("/", handler)
    return app


async def test_decode_text_false_hands_text_on_as_bytes(make_server: ServerFactory) -> None:
    # The real aiohttp client as the peer; what the server received is echoed as a repr.
    async def handler(request: web.Request) -> web.WebSocketResponse[Literal[False]]:
        ws = web.WebSocketResponse(decode_text=False)
        await ws.prepare(request)
        first = await ws.receive_str()
        loaded = await ws.receive_json(loads=lambda data: ("loads got", json.loads(data), data))
        msg = await ws.receive()
        await ws.send_str(repr([first, loaded, msg.type.name, msg.data]))
        await ws.close()
        return ws

    server = await make_server(app_at(handler))
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"http://127.0.0.1:{server.port}/") as ws,
    ):
        await ws.send_str("héllo")
        await ws.send_str('{"a": 1}')
        await ws.send_str("ü")
        answer = await ws.receive_str()
    assert answer == repr(
        [
            "héllo".encode(),
            ("loads got", {"a": 1}, b'{"a": 1}'),
            "TEXT",
            "ü".encode(),
        ]
    )


async def test_decode_text_false_still_refuses_invalid_utf8(make_server: ServerFactory) -> None:
    # RFC 6455 8.1: whether or not we decode, a text message that is not UTF-8 fails the
    # connection with 1007 (aiohttp hands such bytes on unchecked).
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.WebSocketResponse[Literal[False]]:
        ws = web.WebSocketResponse(decode_text=False)
        await ws.prepare(request)
        seen.append(await ws.receive())
        return ws

    server = await make_server(app_at(handler))
    assert server.port is not None
    client = await connect(server.port, then=masked(0x81, b"ok\xff"))
    try:
        closed = await client.recv()
    finally:
        await client.close()
    assert closed.type is WSMsgType.CLOSE and closed.data == WSCloseCode.INVALID_TEXT
    assert seen[0].type is WSMsgType.ERROR


def test_websocket_response_is_generic_at_runtime() -> None:
    # aiohttp 3.14 code annotates with WebSocketResponse[bool] and friends.
    assert web.WebSocketResponse[bool] is not None
    assert web.WebSocketResponse[Literal[False]] is not None


async def test_writer_limit_sets_how_much_may_wait_unsent(make_client: ClientFactory) -> None:
    limits: list[tuple[int, int]] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(writer_limit=1 << 20)
        await ws.prepare(request)
        assert request.transport is not None
        limits.append(request.transport.get_write_buffer_limits())
        await ws.close()
        return ws

    client = await make_client(app_at(handler))
    async with client.ws_connect("/") as ws:
        await ws.receive()
    assert limits[0][1] == 1 << 20


async def test_a_status_set_before_prepare_gives_way_to_101(make_client: ClientFactory) -> None:
    seen: list[int] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        ws.set_status(200)
        seen.append(ws.status)
        await ws.prepare(request)
        seen.append(ws.status)
        await ws.close()
        return ws

    client = await make_client(app_at(handler))
    async with client.ws_connect("/") as ws:
        await ws.receive()
    assert seen == [200, 101]
