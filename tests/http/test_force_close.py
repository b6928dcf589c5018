"""HttpProtocol.force_close(): aiohttp's RequestHandler.force_close(), which extensions call
on ``request.protocol`` (aiohttp-sse's tests do): the connection closes at once, what was
written still goes out, the transport is gone for the handler, nothing queued is answered."""

from __future__ import annotations

import asyncio

import pytest

from runtime.web.request import BaseRequest
from runtime.web.response import StreamResponse
from tests.http.test_protocol import GET, Conn


async def test_force_close_mid_stream_ends_the_connection_for_the_handler() -> None:
    seen: list[object] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        resp = StreamResponse()
        await resp.prepare(request)
        await resp.write(b"first")
        request.protocol.force_close()
        seen.append(request.transport)
        with pytest.raises(ConnectionResetError):
            await resp.write(b"never sent")
        request.protocol.force_close()  # a second call does nothing
        seen.append("done")
        return resp

    conn = Conn(handler)
    conn.send(GET % b"a" + GET % b"b")  # the second request is queued behind the first
    await conn.settle()
    assert seen == [None, "done"]
    assert conn.transport.closed and not conn.transport.aborted
    sent = conn.transport.take()
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n")
    assert sent.endswith(b"5\r\nfirst\r\n")  # the chunk written before, no last chunk
    assert sent.count(b"HTTP/1.1") == 1  # the pipelined request is not answered
    assert conn.protocol.transport is None


async def test_with_handler_cancellation_the_handler_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def handler(request: BaseRequest) -> StreamResponse:
        resp = StreamResponse()
        await resp.prepare(request)
        request.protocol.force_close()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return resp

    conn = Conn(handler, handler_cancellation=True)
    conn.send(GET % b"a")
    await conn.settle()
    assert cancelled.is_set()
    assert conn.transport.closed


async def test_after_the_connection_ended_it_does_nothing() -> None:
    async def handler(request: BaseRequest) -> StreamResponse:
        raise AssertionError("no request is sent")

    conn = Conn(handler)
    conn.protocol.close()
    await conn.settle()
    assert conn.protocol.transport is None
    conn.protocol.force_close()
    assert conn.transport.closed
