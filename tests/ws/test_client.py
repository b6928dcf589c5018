"""The client WebSocket (``ws_connect``) against our server and the ``websockets`` one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.client import ClientSession
from runtime.client.ws import ClientWebSocketResponse, WSServerHandshakeError, ws_connect
from runtime.http.ws import FrameReader, WSCloseCode, WSMsgType
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from runtime.web.websocket import WebSocketResponse
from tests.support import serve


async def echo(request: BaseRequest) -> StreamResponse:
    if request.path == "/plain":
        return Response(status=404, text="no websocket here")
    ws = WebSocketResponse(protocols=["v2", "v1"])
    await ws.prepare(request)
    await ws.send_str(f"hello {ws.ws_protocol} {ws.compress}")
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            if msg.data == "bye":
                await ws.close(code=4003, message=b"server says bye")
            else:
                await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


@pytest.mark.parametrize("compress", [0, 15, 10])
async def test_client_against_our_server(compress: int) -> None:
    async with serve(echo) as port, ClientSession() as session:
        async with ws_connect(
            session, f"ws://127.0.0.1:{port}/", protocols=["v1", "v2"], compress=compress
        ) as ws:
            assert isinstance(ws, ClientWebSocketResponse)
            assert ws.protocol == "v1"
            assert (await ws.receive_str()) == f"hello v1 {bool(compress)}"
            if compress == 10:
                assert (
                    "server_max_window_bits=10" in ws.response.headers["Sec-WebSocket-Extensions"]
                )
            for text in ["a", "κόσμε" * 1000, "x" * 200_000]:
                await ws.send_str(text)
                assert await ws.receive_str() == text
            await ws.send_bytes(bytes(70_000))
            assert await ws.receive_bytes() == bytes(70_000)
            await ws.send_json({"k": [1, 2]})
            assert await ws.receive_json() == {"k": [1, 2]}
            await ws.ping(b"x")
        assert ws.closed and ws.close_code == 1000


async def test_server_close_and_async_iteration() -> None:
    async with serve(echo) as port, ClientSession() as session:
        ws = await ws_connect(session, f"http://127.0.0.1:{port}/")
        await ws.send_str("one")
        await ws.send_str("bye")
        got = [msg.data async for msg in ws]
        assert got == ["hello None False", "one"]
        assert ws.close_code == 4003
        assert (await ws.receive()).type is WSMsgType.CLOSED


async def test_handshake_refused() -> None:
    async with serve(echo) as port, ClientSession() as session:
        with pytest.raises(WSServerHandshakeError) as info:
            await ws_connect(session, f"ws://127.0.0.1:{port}/plain")
        assert info.value.status == 404


async def test_client_frames_are_masked_and_it_refuses_masked_frames() -> None:
    received: list[bytes] = []

    async def raw_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        from runtime.http.ws import accept_key

        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n"
        )
        try:
            received.append(await reader.read(100))
            # A masked frame from a server must fail the connection (RFC 6455 5.1).
            writer.write(bytes.fromhex("818537fa213d7f9f4d5158"))
            received.append(await reader.read(100))
        finally:
            writer.close()

    server = await asyncio.start_server(raw_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, ClientSession() as session:
        ws = await ws_connect(session, f"ws://127.0.0.1:{port}/")
        await ws.send_str("Hello")
        msg = await ws.receive()
        assert msg.type is WSMsgType.ERROR
        assert ws.close_code == WSCloseCode.PROTOCOL_ERROR
        async with asyncio.timeout(2):
            while len(received) < 2:
                await asyncio.sleep(0.01)
    frame = received[0]
    assert frame[0] == 0x81 and frame[1] == 0x85  # the mask bit is set
    assert FrameReader().feed(frame)[0].data == "Hello"
    assert FrameReader().feed(received[1])[0].data == 1002


async def test_client_heartbeat_finds_a_silent_server() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        from runtime.http.ws import accept_key

        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n"
        )
        try:
            await release.wait()  # reads nothing, answers nothing
        finally:
            writer.close()

    release = asyncio.Event()
    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, ClientSession() as session:
        ws = await ws_connect(session, f"ws://127.0.0.1:{port}/", heartbeat=0.1)
        msg = await ws.receive(timeout=2)
        assert msg.type is WSMsgType.ERROR and isinstance(msg.data, TimeoutError)
        assert ws.close_code == WSCloseCode.ABNORMAL_CLOSURE
        release.set()
        await asyncio.sleep(0.01)


async def test_client_against_the_websockets_server() -> None:
    serve_ws = pytest.importorskip("websockets.asyncio.server").serve

    async def handler(connection: Any) -> None:
        async for message in connection:
            await connection.send(message)

    async with serve_ws(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        async with ClientSession() as session:
            for compress in (0, 15):
                async with ws_connect(session, f"ws://127.0.0.1:{port}/", compress=compress) as ws:
                    assert bool(ws.compress) == bool(compress)
                    for text in ["Hello", "Hello", "y" * 100_000]:
                        await ws.send_str(text)
                        assert await ws.receive_str() == text
                    await ws.send_bytes(b"\x00\x01")
                    assert await ws.receive_bytes() == b"\x00\x01"
                assert ws.close_code == 1000


@pytest.mark.skipif(
    not hasattr(ClientSession, "ws_connect"), reason="ClientSession.ws_connect not wired yet"
)
async def test_session_ws_connect() -> None:
    async with serve(echo) as port, ClientSession() as session:
        async with session.ws_connect(  # type: ignore[attr-defined]
            f"ws://127.0.0.1:{port}/", protocols=["v2"], compress=15, heartbeat=5
        ) as ws:
            assert ws.protocol == "v2" and ws.compress == 15
            assert await ws.receive_str() == "hello v2 True"
        assert ws.close_code == 1000
