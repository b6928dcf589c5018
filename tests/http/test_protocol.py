"""The connection state machine through a fake transport and a manual clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from runtime.server.protocol import HttpProtocol
from runtime.web.exceptions import HTTPNotFound
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from runtime.web.server import Server
from tests.http.fakes import FakeTransport, ManualClock
from tests.support import parse_replies

Handler = Callable[[BaseRequest], Awaitable[StreamResponse]]


class Conn:
    def __init__(self, handler: Handler, **kwargs: Any) -> None:
        self.clock = ManualClock()
        kwargs.setdefault("access_log", None)
        self.server = Server(handler, **kwargs)
        self.protocol = HttpProtocol(self.server, self.server.config, clock=self.clock)
        self.transport = FakeTransport()
        self.transport.protocol = self.protocol
        self.protocol.connection_made(self.transport)

    def send(self, data: bytes) -> None:
        self.protocol.data_received(data)

    async def settle(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def roundtrip(self, data: bytes, *, no_body: int = 0) -> list[Any]:
        self.send(data)
        await self.settle()
        return parse_replies(self.transport.take(), no_body=no_body)


async def hello(request: BaseRequest) -> StreamResponse:
    return Response(text=f"hello {request.path}")


GET = b"GET /%s HTTP/1.1\r\nHost: t\r\n\r\n"


def assert_lingering_close(conn: Conn) -> None:
    """After refusing a request: stop writing, drop what still arrives, then close."""
    assert conn.transport.eof_written and not conn.transport.closed
    conn.send(b"more of the refused request")
    assert conn.transport.take() == b""
    conn.clock.advance(conn.protocol.config.lingering_time)
    assert conn.transport.closed


async def test_keep_alive_then_idle_timeout_closes() -> None:
    conn = Conn(hello, keepalive_timeout=75)
    [resp] = await conn.roundtrip(GET % b"a")
    assert resp.status == 200 and resp.body == b"hello /a"
    assert "connection" not in resp.headers
    assert not conn.transport.closed
    conn.clock.advance(74)
    assert not conn.transport.closed
    conn.clock.advance(1)
    assert conn.transport.closed
    assert conn.transport.take() == b""  # an idle close says nothing


async def test_http10_keep_alive_only_when_asked() -> None:
    conn = Conn(hello)
    [resp] = await conn.roundtrip(b"GET / HTTP/1.0\r\n\r\n")
    assert resp.headers["connection"] == "close"
    await conn.settle()
    assert conn.transport.closed
    conn = Conn(hello)
    [resp] = await conn.roundtrip(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert resp.headers["connection"] == "keep-alive"
    assert not conn.transport.closed


async def test_an_http10_request_gets_an_http11_status_line_framed_for_http10() -> None:
    # RFC 9110 2.5: we answer with the highest version we conform to (a deliberate difference
    # from aiohttp, which echoes 1.0: docs/web-api.md), framed so a 1.0 client can read it.
    async def streamed(request: BaseRequest) -> StreamResponse:
        resp = StreamResponse()
        await resp.prepare(request)
        await resp.write(b"no length known")
        return resp

    conn = Conn(streamed)
    conn.send(b"GET / HTTP/1.0\r\n\r\n")
    await conn.settle()
    raw = conn.transport.take()
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"chunked" not in raw.lower()  # RFC 9112 6.1: no chunked to an HTTP/1.0 client
    assert raw.endswith(b"\r\n\r\nno length known")
    assert conn.transport.closed  # the close delimits the body (RFC 9112 6.3)


async def test_slow_head_gets_408_then_close() -> None:
    conn = Conn(hello, head_timeout=10)
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\n")
    conn.clock.advance(5)
    conn.send(b"X-Slow: 1\r\n")  # dribbling does not extend the deadline
    conn.clock.advance(5)
    await conn.settle()
    [resp] = parse_replies(conn.transport.take())
    assert resp.status == 408
    assert resp.headers["connection"] == "close"
    assert_lingering_close(conn)


async def test_silent_connection_closed_after_head_timeout() -> None:
    conn = Conn(hello, head_timeout=10)
    conn.clock.advance(10)
    await conn.settle()
    assert conn.transport.closed
    assert conn.transport.take() == b""


async def test_pipelined_requests_answered_in_order() -> None:
    async def handler(request: BaseRequest) -> StreamResponse:
        # The first request is the slowest; its answer must still come first.
        await asyncio.sleep(0.01 if request.path == "/1" else 0)
        return Response(text=request.path)

    conn = Conn(handler)
    conn.send(b"".join(GET % str(i).encode() for i in range(1, 6)))
    for _ in range(50):
        await asyncio.sleep(0.005)
        if conn.transport.data.count(b"HTTP/1.1 200") == 5:
            break
    bodies = [r.body for r in parse_replies(conn.transport.take())]
    assert bodies == [b"/1", b"/2", b"/3", b"/4", b"/5"]


async def test_pipeline_flood_pauses_reading() -> None:
    gate = asyncio.Event()

    async def handler(request: BaseRequest) -> StreamResponse:
        await gate.wait()
        return Response(text="ok")

    conn = Conn(handler, max_pipeline=4)
    conn.send((GET % b"x") * 50)
    await conn.settle()
    assert not conn.transport.reading
    assert len(conn.protocol._queue) == 49  # one chunk was already read; reading stopped
    gate.set()
    for _ in range(40):
        await conn.settle()
    assert conn.transport.reading
    assert conn.transport.data.count(b"HTTP/1.1 200 OK") == 50


async def test_large_body_pauses_reading_until_read() -> None:
    started = asyncio.Event()
    proceed = asyncio.Event()

    async def handler(request: BaseRequest) -> StreamResponse:
        started.set()
        await proceed.wait()
        body = await request.read()
        return Response(text=str(len(body)))

    conn = Conn(handler)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 200000\r\n\r\n")
    await started.wait()
    for _ in range(5):
        conn.send(b"x" * 40000)
    assert not conn.transport.reading  # over the high-water mark
    proceed.set()
    await conn.settle()
    assert conn.transport.reading
    [resp] = parse_replies(conn.transport.take())
    assert resp.body == b"200000"


async def test_100_continue_only_when_handler_reads() -> None:
    async def reader(request: BaseRequest) -> StreamResponse:
        return Response(body=await request.read())

    conn = Conn(reader)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    await conn.settle()
    assert conn.transport.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(b"abc")
    await conn.settle()
    [resp] = parse_replies(conn.transport.take())
    assert resp.body == b"abc"
    assert not conn.transport.closed


async def test_100_continue_never_sent_when_handler_refuses() -> None:
    async def refuse(request: BaseRequest) -> StreamResponse:
        raise HTTPNotFound()

    conn = Conn(refuse)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    await conn.settle()
    data = conn.transport.take()
    assert b"100 Continue" not in data
    [resp] = parse_replies(data)
    assert resp.status == 404
    # The client may hold the body back waiting for 100, so we cannot reuse the connection.
    assert resp.headers["connection"] == "close"


async def test_body_over_client_max_size_is_413_without_reading_it() -> None:
    async def reader(request: BaseRequest) -> StreamResponse:
        return Response(body=await request.read())

    conn = Conn(reader, client_max_size=10)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n")
    await conn.settle()
    data = conn.transport.take()
    assert b"100 Continue" not in data
    [resp] = parse_replies(data)
    assert resp.status == 413
    assert resp.headers["connection"] == "close"


async def test_chunked_body_over_limit_is_413_while_streaming() -> None:
    async def reader(request: BaseRequest) -> StreamResponse:
        return Response(body=await request.read())

    conn = Conn(reader, client_max_size=10)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.send(b"8\r\n12345678\r\n8\r\n12345678\r\n")
    await conn.settle()
    [resp] = parse_replies(conn.transport.take())
    assert resp.status == 413
    assert resp.headers["connection"] == "close"


async def test_handler_error_is_500_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(request: BaseRequest) -> StreamResponse:
        raise RuntimeError("kaboom")

    conn = Conn(boom)
    with caplog.at_level(logging.DEBUG):
        [resp] = await conn.roundtrip(GET % b"x")
    assert resp.status == 500
    assert b"kaboom" not in resp.body and b"Traceback" not in resp.body
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].getMessage() == "Error handling request from 203.0.113.7"  # aiohttp's
    assert errors[0].exc_info is not None


async def test_debug_mode_shows_traceback() -> None:
    async def boom(request: BaseRequest) -> StreamResponse:
        raise RuntimeError("kaboom")

    conn = Conn(boom, debug=True)
    [resp] = await conn.roundtrip(GET % b"x")
    assert resp.status == 500 and b"kaboom" in resp.body


async def test_bad_request_logged_once_at_info_without_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conn = Conn(hello)
    with caplog.at_level(logging.DEBUG):
        [resp] = await conn.roundtrip(b"GET / HTTP/1.1\r\nHost : t\r\n\r\n")
    assert resp.status == 400
    await conn.settle()
    assert_lingering_close(conn)
    records = [r for r in caplog.records if r.name.startswith("runtime")]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    assert "203.0.113.7:50000" in records[0].getMessage()
    assert records[0].exc_info is None


async def test_bad_request_after_good_ones_answers_in_order() -> None:
    conn = Conn(hello)
    responses = await conn.roundtrip(
        GET % b"a" + b"GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n"
    )
    assert [r.status for r in responses] == [200, 400]
    await conn.settle()
    assert_lingering_close(conn)


async def test_write_after_disconnect_raises_in_handler() -> None:
    outcome: list[str] = []

    async def stream(request: BaseRequest) -> StreamResponse:
        resp = StreamResponse()
        await resp.prepare(request)
        try:
            for _ in range(1000):
                await resp.write(b"tick\n")
                await asyncio.sleep(0)
        except ConnectionResetError:
            outcome.append("reset")
            raise
        return resp

    conn = Conn(stream)
    conn.send(GET % b"sse")
    await conn.settle()
    conn.transport.close()
    await conn.settle(30)
    assert outcome == ["reset"]


async def test_disconnect_does_not_cancel_handler_by_default() -> None:
    finished = asyncio.Event()

    async def slow(request: BaseRequest) -> StreamResponse:
        await asyncio.sleep(0.01)
        finished.set()
        return Response(text="late")

    conn = Conn(slow)
    conn.send(GET % b"")
    await conn.settle()
    conn.transport.close()
    await asyncio.wait_for(finished.wait(), 1)


async def test_handler_cancellation_opt_in() -> None:
    cancelled = asyncio.Event()

    async def slow(request: BaseRequest) -> StreamResponse:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    conn = Conn(slow, handler_cancellation=True)
    conn.send(GET % b"")
    await conn.settle()
    conn.transport.close()
    await asyncio.wait_for(cancelled.wait(), 1)


async def test_head_and_no_body_statuses() -> None:
    async def handler(request: BaseRequest) -> StreamResponse:
        status = int(request.query.get("s", "200"))
        return Response(status=status, text="" if status in (204, 304) else "body!")

    conn = Conn(handler)
    data_head = b"HEAD /?s=200 HTTP/1.1\r\nHost: t\r\n\r\n"
    [resp] = await conn.roundtrip(data_head, no_body=1)
    assert resp.headers["content-length"] == "5"
    for status in (204, 304):
        conn.send(b"GET /?s=%d HTTP/1.1\r\nHost: t\r\n\r\n" % status)
        await conn.settle()
        raw = conn.transport.take()
        assert raw.endswith(b"\r\n\r\n")
        assert b"Transfer-Encoding" not in raw
        if status == 204:
            assert b"Content-Length" not in raw


async def test_http10_stream_is_close_delimited() -> None:
    async def stream(request: BaseRequest) -> StreamResponse:
        resp = StreamResponse()
        await resp.prepare(request)
        await resp.write(b"part")
        return resp

    conn = Conn(stream)
    conn.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    await conn.settle()
    raw = conn.transport.take()
    assert b"Transfer-Encoding" not in raw and b"Connection: close" in raw
    assert raw.endswith(b"\r\n\r\npart")
    assert conn.transport.closed


async def test_header_injection_refused() -> None:
    async def handler(request: BaseRequest) -> StreamResponse:
        return Response(text="x", headers={"X-Evil": "a\r\nSet-Cookie: pwned=1"})

    conn = Conn(handler)
    [resp] = await conn.roundtrip(GET % b"")
    assert resp.status == 500
    assert "set-cookie" not in resp.headers


async def test_graceful_shutdown_marks_in_flight_and_closes_idle() -> None:
    gate = asyncio.Event()

    async def handler(request: BaseRequest) -> StreamResponse:
        await gate.wait()
        return Response(text="done")

    busy = Conn(handler)
    idle = Conn(handler)
    idle.clock = busy.clock
    busy.send(GET % b"")
    await busy.settle()
    busy.protocol.shutdown(grace=1.0)
    idle.protocol.shutdown(grace=0)
    await idle.settle()
    assert idle.transport.closed
    gate.set()
    await busy.settle()
    [resp] = parse_replies(busy.transport.take())
    assert resp.status == 200 and resp.headers["connection"] == "close"
    await busy.settle()
    assert busy.transport.closed


async def test_late_request_in_grace_window_gets_connection_close() -> None:
    conn = Conn(hello)
    await conn.roundtrip(GET % b"first")
    conn.protocol.shutdown(grace=2.0)
    assert not conn.transport.closed
    [resp] = await conn.roundtrip(GET % b"late")
    assert resp.status == 200 and resp.headers["connection"] == "close"
    await conn.settle()
    assert conn.transport.closed


async def test_declined_upgrade_keeps_http() -> None:
    conn = Conn(hello)
    upgrade = b"GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    responses = await conn.roundtrip(upgrade + GET % b"next")
    assert [r.body for r in responses] == [b"hello /ws", b"hello /next"]


async def test_accepted_upgrade_hands_over_the_bytes() -> None:
    received: list[bytes] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        resp = StreamResponse(status=101, headers={"Connection": "Upgrade", "Upgrade": "echo"})
        await resp.prepare(request)
        received.append(request.protocol.upgrade(received.append, lambda exc: None))
        return resp

    conn = Conn(handler)
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly")
    await conn.settle()
    conn.send(b"later")
    assert received == [b"early", b"later"]
    assert conn.transport.take().startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


async def test_unread_small_body_keeps_connection() -> None:
    conn = Conn(hello)
    body = b"POST /a HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
    responses = await conn.roundtrip(body + GET % b"b")
    assert [r.body for r in responses] == [b"hello /a", b"hello /b"]
    assert not conn.transport.closed


async def test_unread_large_body_closes_with_lingering() -> None:
    conn = Conn(hello, lingering_time=2.0)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 1000)
    await conn.settle()
    [resp] = parse_replies(conn.transport.take())
    assert resp.headers["connection"] == "close"
    assert conn.transport.eof_written and not conn.transport.closed
    conn.send(b"x" * 5000)  # still read and dropped
    conn.clock.advance(2.0)
    assert conn.transport.closed


async def test_stalled_body_times_out_with_408() -> None:
    async def reader(request: BaseRequest) -> StreamResponse:
        return Response(body=await request.read())

    conn = Conn(reader, body_timeout=0.01)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
    for _ in range(20):
        await asyncio.sleep(0.005)
    [resp] = parse_replies(conn.transport.take())
    assert resp.status == 408


async def test_server_header_configurable_and_removable() -> None:
    conn = Conn(hello, server_header="Custom/1")
    [resp] = await conn.roundtrip(GET % b"")
    assert resp.headers["server"] == "Custom/1"
    conn = Conn(hello, server_header=None)
    [resp] = await conn.roundtrip(GET % b"")
    assert "server" not in resp.headers
    assert "date" in resp.headers


async def test_close_after_answer_lingers_when_the_client_sent_more() -> None:
    # RFC 9112 9.6: closing with the client still sending would reset the answer on its
    # way; a request pipelined behind "Connection: close" means it may still be sending.
    conn = Conn(hello)
    conn.send(GET.replace(b"Host: t", b"Host: t\r\nConnection: close") % b"a" + GET % b"b")
    await conn.settle()
    [resp] = parse_replies(conn.transport.take())
    assert resp.headers["connection"] == "close"
    assert_lingering_close(conn)


async def test_close_after_answer_is_immediate_when_nothing_more_came() -> None:
    conn = Conn(hello)
    conn.send(GET.replace(b"Host: t", b"Host: t\r\nConnection: close") % b"a")
    await conn.settle()
    # Closed at once, not after lingering_time (on Python 3.12+ the eager handler ends
    # mid-feed, so our FIN may go out first, then the close).
    assert conn.transport.closed
