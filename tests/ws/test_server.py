"""WebSocketResponse over real connections: messages, closing, errors, flow, heartbeat."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from runtime.http.ws import WebSocketError, WSCloseCode, WSMessage, WSMsgType
from runtime.web.request import BaseRequest
from runtime.web.response import StreamResponse
from runtime.web.websocket import WebSocketResponse
from runtime.websocket.connection import WSMessageTypeError
from tests.support import serve
from tests.ws.helpers import connect, masked


def echo_handler(**options: Any) -> Any:
    state: dict[str, Any] = {}

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(**options)
        state["ws"] = ws
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data)
            else:
                state.setdefault("other", []).append(msg)
        state["done"] = ws.close_code
        return ws

    handler.state = state  # type: ignore[attr-defined]
    return handler


async def until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def test_echo_and_client_initiated_close() -> None:
    handler = echo_handler()
    async with serve(handler) as port:
        client = await connect(port)
        await client.send_text("hello")
        assert await client.recv() == WSMessage(WSMsgType.TEXT, "hello", "")
        client.send_raw(masked(0x82, bytes(300)))
        assert (await client.recv()).data == bytes(300)
        client.send_raw(client.frames.close(1000, b"done"))
        # RFC 6455 7.1.1 / 5.5.1: the server echoes the code, then closes TCP.
        assert await client.recv_until_closed() == [
            WSMessage(WSMsgType.CLOSE, 1000, ""),
            WSMessage(WSMsgType.CLOSED, None, None),
        ]
        await until(lambda: "done" in handler.state)
        assert handler.state["done"] == 1000
        await client.close()


async def test_empty_close_is_echoed_empty() -> None:
    handler = echo_handler()
    async with serve(handler) as port:
        client = await connect(port)
        client.send_raw(masked(0x88, b""))
        assert (await client.recv()) == WSMessage(WSMsgType.CLOSE, 1005, "")
        await until(lambda: "done" in handler.state)
        assert handler.state["done"] == 1005
        await client.close()


async def test_server_initiated_close_waits_for_the_answer() -> None:
    result: dict[str, Any] = {}

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        result["closed"] = await ws.close(code=4000, message=b"bye")
        result["code"] = ws.close_code
        result["again"] = await ws.close()
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        assert await client.recv() == WSMessage(WSMsgType.CLOSE, 4000, "bye")
        client.send_raw(client.frames.close(1001))
        assert (await client.recv()).type is WSMsgType.CLOSED
        await client.close()
    assert result == {"closed": True, "code": 1001, "again": False}


async def test_close_times_out_when_the_peer_never_answers() -> None:
    result: dict[str, Any] = {}

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(timeout=0.2)
        await ws.prepare(request)
        await ws.close()
        result["code"] = ws.close_code
        result["exc"] = ws.exception()
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        assert (await client.recv()).type is WSMsgType.CLOSE
        assert (await client.recv()).type is WSMsgType.CLOSED  # TCP closed after the timeout
        await client.close()
    assert result["code"] == WSCloseCode.ABNORMAL_CLOSURE
    assert isinstance(result["exc"], TimeoutError)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (bytes.fromhex("810548656c6c6f"), 1002),  # unmasked
        (masked(0x83, b""), 1002),  # reserved opcode
        (masked(0x81, b"\xff"), 1007),  # invalid UTF-8
        (bytes([0x82, 0xFF]) + (1 << 30).to_bytes(8, "big") + b"mask", 1009),  # 1 GiB
        (masked(0x88, b"\x03\xed"), 1002),  # close code 1005 on the wire
    ],
    ids=["unmasked", "opcode", "utf8", "too-big", "close-code"],
)
async def test_protocol_errors_fail_the_connection(frame: bytes, code: int) -> None:
    handler = echo_handler()
    async with serve(handler) as port:
        client = await connect(port)
        client.send_raw(frame)
        msgs = await client.recv_until_closed()
        assert msgs[0].type is WSMsgType.CLOSE and msgs[0].data == code
        await until(lambda: "done" in handler.state)
        assert handler.state["done"] == code
        ws = handler.state["ws"]
        assert isinstance(ws.exception(), WebSocketError)
        assert [m.type for m in handler.state["other"]] == [WSMsgType.ERROR]
        await client.close()


async def test_max_msg_size_option() -> None:
    handler = echo_handler(max_msg_size=100)
    async with serve(handler) as port:
        client = await connect(port)
        client.send_raw(masked(0x82, bytes(100)))
        assert (await client.recv()).data == bytes(100)
        client.send_raw(masked(0x82, bytes(101)))
        assert (await client.recv()).data == 1009
        await client.close()


async def test_pings_are_answered_while_the_handler_does_not_read() -> None:
    release = asyncio.Event()

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await release.wait()  # never calls receive()
        await ws.close()
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        client.send_raw(masked(0x89, b"are you there"))
        assert await client.recv() == WSMessage(WSMsgType.PONG, b"are you there", "")
        release.set()
        assert (await client.recv()).type is WSMsgType.CLOSE
        await client.close()


async def test_autoping_off_returns_pings_and_pongs() -> None:
    seen: list[WSMessage] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(autoping=False)
        await ws.prepare(request)
        async for msg in ws:
            seen.append(msg)
            if msg.type is WSMsgType.PING:
                await ws.pong(msg.data)
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        client.send_raw(masked(0x89, b"1") + masked(0x8A, b"2"))
        assert await client.recv() == WSMessage(WSMsgType.PONG, b"1", "")
        client.send_raw(client.frames.close(1000))
        await client.recv_until_closed()
        await client.close()
    assert [m.type for m in seen] == [WSMsgType.PING, WSMsgType.PONG]


async def test_autoclose_off() -> None:
    seen: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(autoclose=False)
        await ws.prepare(request)
        msg = await ws.receive()
        seen.append(msg)
        seen.append(ws.closed)
        await ws.send_str("last words")  # allowed before our Close (RFC 6455 5.5.1)
        seen.append(await ws.close(code=1000))
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        client.send_raw(client.frames.close(4001, "x"))
        msgs = await client.recv_until_closed()
        assert [m.type for m in msgs] == [WSMsgType.TEXT, WSMsgType.CLOSE, WSMsgType.CLOSED]
        await client.close()
    assert seen == [WSMessage(WSMsgType.CLOSE, 4001, "x"), False, True]


async def test_receive_helpers_timeout_and_concurrent_receive() -> None:
    errors: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.05)
        assert await ws.receive_str() == "text"
        assert await ws.receive_bytes() == b"bin"
        assert await ws.receive_json() == {"a": 1}
        with pytest.raises(WSMessageTypeError):
            await ws.receive_bytes()
        reader = asyncio.ensure_future(ws.receive())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="Concurrent call to receive"):
            await ws.receive()
        msg = await reader
        assert msg.json() == [1, 2]
        await ws.send_json({"ok": True})
        errors.append(None)
        await ws.close()
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        await asyncio.sleep(0.1)
        await client.send_text("text")
        client.send_raw(masked(0x82, b"bin"))
        await client.send_text(json.dumps({"a": 1}))
        await client.send_text("not bytes")
        await asyncio.sleep(0.05)
        await client.send_text("[1, 2]")
        assert (await client.recv()).json() == {"ok": True}
        await client.close()
    assert errors == [None]


async def test_a_cancelled_receive_leaves_the_socket_readable() -> None:
    # The read waiter is not shielded: cancelling a receive cancels it, and the next
    # receive must wait on a new one and get the next message.
    got: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        for _ in range(2):
            reader = asyncio.ensure_future(ws.receive())
            await asyncio.sleep(0.01)
            reader.cancel()
            with pytest.raises(asyncio.CancelledError):
                await reader
        got.append((await ws.receive()).data)
        got.append((await ws.receive(timeout=5)).data)
        await ws.send_str("done")
        await ws.close()
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        await asyncio.sleep(0.1)
        await client.send_text("first")
        await client.send_text("second")
        assert (await client.recv()).data == "done"
        await client.close()
    assert got == ["first", "second"]


async def test_api_misuse() -> None:
    ws = WebSocketResponse()
    for call in (ws.receive(), ws.send_str("x"), ws.ping(), ws.close()):
        with pytest.raises(RuntimeError):
            await call

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        with pytest.raises(TypeError):
            await ws.send_str(b"bytes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            await ws.send_bytes("text")  # type: ignore[arg-type]
        with pytest.raises(RuntimeError):
            await ws.write(b"x")
        with pytest.raises(ValueError):
            await ws.close(code=1005)
        assert not ws.closed
        await ws.close()
        with pytest.raises(ConnectionResetError):
            await ws.send_str("after close")
        for _ in range(4):
            assert (await ws.receive()).type is WSMsgType.CLOSED
        with pytest.raises(RuntimeError, match="closed"):
            await ws.receive()
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        assert (await client.recv()).type is WSMsgType.CLOSE
        client.send_raw(client.frames.close(1000))
        await client.recv_until_closed()
        await client.close()


async def test_handler_error_after_prepare_closes_with_1011() -> None:
    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("about to fail")
        raise ValueError("boom")

    async with serve(handler) as port:
        client = await connect(port)
        msgs = await client.recv_until_closed()
        assert [m.type for m in msgs] == [WSMsgType.TEXT, WSMsgType.CLOSE, WSMsgType.CLOSED]
        assert msgs[1].data == 1011
        await client.close()


async def test_client_disconnect_ends_the_loop() -> None:
    handler = echo_handler()
    async with serve(handler) as port:
        client = await connect(port)
        await client.send_text("x")
        await client.recv()
        await client.close()
        await until(lambda: "done" in handler.state)
        assert handler.state["done"] == WSCloseCode.ABNORMAL_CLOSURE


async def test_backpressure_pauses_reading_until_the_handler_reads() -> None:
    paused: list[bool] = []
    go = asyncio.Event()

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        flow = request.protocol.flow
        assert flow is not None
        await go.wait()
        await until(lambda: flow.reading_paused)
        paused.append(flow.reading_paused)
        count = 0
        async for _ in ws:
            count += 1
            if count == 40:
                break
        paused.append(flow.reading_paused)
        await ws.send_str(str(count))
        await ws.close()
        return ws

    async with serve(handler) as port:
        client = await connect(port)
        for _ in range(40):
            client.send_raw(masked(0x82, bytes(4096)))
        go.set()
        assert (await client.recv()).data == "40"
        await client.close()
    assert paused == [True, False]


async def test_compression_end_to_end_with_our_own_client_frames() -> None:
    handler = echo_handler()
    async with serve(handler) as port:
        from tests.ws.helpers import handshake_request

        request = handshake_request(extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")
        client = await connect(port, request)
        assert b"Sec-WebSocket-Extensions: permessage-deflate" in client.head
        from runtime.http.ws import DeflateParams, FrameReader, FrameWriter

        client.frames = FrameWriter(is_client=True, deflate=DeflateParams())
        client.parser = FrameReader(is_client=True, deflate=DeflateParams())
        for text in ["Hello", "Hello", "x" * 100_000]:
            await client.send_text(text)
            assert (await client.recv()).data == text
        await client.close()
