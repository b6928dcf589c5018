"""Interoperability: the ``websockets`` package as a client against our server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

websockets = pytest.importorskip("websockets")

from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
)

from runtime.http.ws import WSMsgType  # noqa: E402
from runtime.web.request import BaseRequest  # noqa: E402
from runtime.web.response import StreamResponse  # noqa: E402
from runtime.web.websocket import WebSocketResponse  # noqa: E402
from tests.support import serve  # noqa: E402


def make_echo(log: list[Any], **options: Any) -> Any:
    async def echo(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(protocols=["chat", "superchat"], **options)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                if msg.data == "close-me":
                    await ws.close(code=4001, message="bye")
                else:
                    await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
        log.append((ws.close_code, ws.compress, ws.ws_protocol))
        return ws

    return echo


MESSAGES: list[str | bytes] = [
    "",
    "Hello",
    "Hello",
    "κόσμε" * 1000,
    b"\x00\xff" * 40000,
    "x" * 300_000,
    bytes(range(256)) * 100,
]


@pytest.mark.parametrize(
    "extensions",
    [
        pytest.param(None, id="no-compression"),
        pytest.param("default", id="deflate-default"),
        pytest.param(
            [ClientPerMessageDeflateFactory(True, True)], id="deflate-no-context-takeover"
        ),
        pytest.param(
            [ClientPerMessageDeflateFactory(server_max_window_bits=10, client_max_window_bits=9)],
            id="deflate-small-windows",
        ),
    ],
)
async def test_echo_with_and_without_compression(extensions: Any) -> None:
    log: list[Any] = []
    async with serve(make_echo(log)) as port:
        kwargs: dict[str, Any] = {"max_size": 2**22}
        if extensions is None:
            kwargs["compression"] = None
        elif extensions != "default":
            kwargs["extensions"] = extensions
            kwargs["compression"] = None
        async with ws_connect(f"ws://127.0.0.1:{port}/", **kwargs) as client:
            agreed = client.response.headers.get("Sec-WebSocket-Extensions")
            assert (agreed is None) == (extensions is None)
            for message in MESSAGES:
                await client.send(message)
                assert await client.recv() == message
            await client.close()
        await asyncio.sleep(0.05)
    assert log == [(1000, extensions is not None, None)]


async def test_subprotocol_ping_and_server_close() -> None:
    log: list[Any] = []
    async with serve(make_echo(log)) as port:
        async with ws_connect(
            f"ws://127.0.0.1:{port}/", subprotocols=["superchat", "chat"]
        ) as client:
            assert client.subprotocol == "superchat"
            pong = await client.ping(b"data")
            await asyncio.wait_for(pong, 2)
            await client.send("close-me")
            with pytest.raises(ConnectionClosed) as info:
                await client.recv()
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "bye")
        await asyncio.sleep(0.05)
    assert log == [(4001, True, "superchat")]


async def test_message_too_big_closes_with_1009() -> None:
    log: list[Any] = []
    async with serve(make_echo(log, max_msg_size=1000)) as port:
        async with ws_connect(f"ws://127.0.0.1:{port}/") as client:
            await client.send("x" * 1000)
            assert await client.recv() == "x" * 1000
            await client.send("y" * 1001)
            with pytest.raises(ConnectionClosed) as info:
                await client.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009
        await asyncio.sleep(0.05)
    assert log[0][0] == 1009


async def test_compressed_bomb_from_a_real_client_closes_with_1009() -> None:
    log: list[Any] = []
    async with serve(make_echo(log, max_msg_size=100_000)) as port:
        async with ws_connect(f"ws://127.0.0.1:{port}/", max_size=None) as client:
            await client.send(bytes(50_000_000))  # compresses to ~50 KB
            with pytest.raises(ConnectionClosed) as info:
                await client.recv()
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009
