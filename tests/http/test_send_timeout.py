"""The send timeout, through a fake transport and a manual clock: a peer that keeps the
server's writes blocked without reading anything is aborted after ``send_timeout``, a slow
but progressing one never is, and at the connection limit a blocked peer ranks among what
may be closed to make room (docs/hardening.md)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from runtime.server.protocol import HttpProtocol
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from runtime.web.server import Server
from tests.http.fakes import FakeTransport, ManualClock
from tests.http.test_protocol import hello

GET = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
HIGH_WATER = 65536


class BlockingTransport(FakeTransport):
    """A fake transport with a write buffer the test drains by hand, as a peer reads.

    Past ``HIGH_WATER`` unsent bytes it pauses the protocol's writing, as asyncio's
    transports do, and resumes it once the peer has read everything.
    """

    def __init__(self) -> None:
        super().__init__()
        self.buffered = 0
        self.paused = False
        self.block = False  # the peer reads nothing: writes pile up in the buffer

    def write(self, data: bytes | bytearray | memoryview) -> None:
        super().write(data)
        if not self.block:
            return
        self.buffered += len(data)
        if self.buffered > HIGH_WATER and not self.paused and self.protocol is not None:
            self.paused = True
            self.protocol.pause_writing()

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def peer_reads(self, size: int) -> None:
        self.buffered = max(0, self.buffered - size)
        if not self.buffered and self.paused and self.protocol is not None:
            self.paused = False
            self.protocol.resume_writing()


class Conn:
    def __init__(self, handler: Any, **kwargs: Any) -> None:
        self.clock = ManualClock()
        kwargs.setdefault("access_log", None)
        self.server = Server(handler, **kwargs)
        self.protocol = HttpProtocol(self.server, self.server.config, clock=self.clock)
        self.transport = BlockingTransport()
        self.transport.protocol = self.protocol
        self.protocol.connection_made(self.transport)

    async def settle(self, rounds: int = 10) -> None:
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def request(self, data: bytes = GET) -> None:
        self.transport.block = True
        self.protocol.data_received(data)
        await self.settle()


class Streamer:
    """A handler streaming ``chunks`` pieces of 16 KiB; records how its writing ended."""

    def __init__(self, chunks: int = 64) -> None:
        self.chunks = chunks
        self.written = 0
        self.error: BaseException | None = None
        self.done = False

    async def __call__(self, request: BaseRequest) -> StreamResponse:
        response = StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(self.chunks):
                await response.write(b"x" * 16384)
                self.written += 1
            await response.write_eof()
        except ConnectionResetError as exc:
            self.error = exc
            raise
        self.done = True
        return response


async def test_a_peer_that_reads_nothing_is_aborted_after_send_timeout(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = Streamer()
    conn = Conn(handler, send_timeout=60)
    caplog.set_level(logging.INFO, logger="runtime.server")
    await conn.request()
    assert conn.transport.paused and handler.written == 3  # the 4th waits in drain()
    conn.clock.advance(59.9)
    await conn.settle()
    assert not conn.transport.aborted and handler.error is None
    conn.clock.advance(0.1)
    await conn.settle()
    assert conn.transport.aborted
    assert isinstance(handler.error, ConnectionResetError)
    assert "read nothing for 60.0 s" in str(handler.error)
    assert not handler.done and handler.written == 3
    [line] = [r for r in caplog.records if "send_timeout" in r.getMessage()]
    assert line.levelno == logging.INFO
    assert line.getMessage() == (
        "Aborting the connection from 203.0.113.7:50000: it read nothing of its response "
        "for 60.0 s (send_timeout)"
    )
    assert conn.protocol.transport is None  # connection_lost ran
    assert not [t for t in conn.clock.pending if "FlowControl" in repr(t.callback)]


async def test_a_slow_but_progressing_reader_is_never_cut() -> None:
    handler = Streamer(chunks=64)
    conn = Conn(handler, send_timeout=60)
    await conn.request()
    # A byte every 50 s for over ten minutes: slow, but never 60 s without reading.
    for _ in range(13):
        conn.clock.advance(50)
        conn.transport.peer_reads(1)
        await conn.settle()
    assert not conn.transport.aborted and handler.error is None
    while handler.written < 20:  # then it reads faster for a while
        conn.transport.peer_reads(HIGH_WATER * 2)
        await conn.settle()
    conn.clock.advance(59)  # and stops: the timeout runs from its last read
    await conn.settle()
    assert not conn.transport.aborted
    conn.clock.advance(15)
    await conn.settle()
    assert conn.transport.aborted and handler.error is not None


async def test_the_timeout_counts_from_the_last_progress() -> None:
    handler = Streamer()
    conn = Conn(handler, send_timeout=60)
    await conn.request()
    conn.clock.advance(40)
    conn.transport.peer_reads(100)  # progress at 40 s; seen at the next look (45 s)
    conn.clock.advance(60)
    await conn.settle()
    assert not conn.transport.aborted  # 100 s after the pause, 60 s after the progress
    conn.clock.advance(15)
    await conn.settle()
    assert conn.transport.aborted  # within 1.25 x send_timeout of the progress
    assert handler.error is not None


async def test_a_whole_response_the_peer_does_not_read_is_aborted_too() -> None:
    # The handler is done (one transport.write), but the response is still in the buffer:
    # nothing waits in drain(), and the connection must not be held by it for ever.
    async def big(request: BaseRequest) -> StreamResponse:
        return Response(body=b"x" * (4 * HIGH_WATER))

    conn = Conn(big, send_timeout=10, keepalive_timeout=75)
    await conn.request()
    assert conn.transport.paused and conn.protocol.task is None
    conn.clock.advance(10)
    await conn.settle()
    assert conn.transport.aborted


async def test_a_blocked_websocket_is_aborted() -> None:
    from runtime.web.websocket import WebSocketResponse
    from tests.ws.helpers import handshake_request

    errors: list[BaseException] = []

    async def chat(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        try:
            while True:
                await ws.send_bytes(b"x" * 16384)
        except ConnectionResetError as exc:
            errors.append(exc)
        return ws

    conn = Conn(chat, send_timeout=5)
    await conn.request(handshake_request("/"))
    assert conn.transport.paused
    conn.clock.advance(5)
    await conn.settle()
    assert conn.transport.aborted
    assert errors and isinstance(errors[0], ConnectionResetError)


@pytest.mark.parametrize("send_timeout", [None, 0])
async def test_send_timeout_off(send_timeout: float | None) -> None:
    handler = Streamer()
    conn = Conn(handler, send_timeout=send_timeout, keepalive_timeout=10**6)
    assert conn.protocol.config.send_timeout == send_timeout
    await conn.request()
    assert conn.transport.paused
    conn.clock.advance(1)  # one look at the progress, for the connection limit; no more
    assert not [t for t in conn.clock.pending if "FlowControl" in repr(t.callback)]
    conn.clock.advance(10**5)
    await conn.settle()
    assert not conn.transport.aborted and handler.error is None


def test_a_negative_send_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="send_timeout"):
        Server(hello, send_timeout=-1)


# -- making room at the connection limit ---------------------------------------------------


async def test_a_blocked_peer_ranks_after_a_second_without_reading() -> None:
    conn = Conn(Streamer(), send_timeout=60)
    await conn.request()
    now = conn.clock.now
    assert conn.protocol.shed_rank(now + 0.9) is None  # not judged yet
    rank = conn.protocol.shed_rank(now + 1.5)
    assert rank is not None and rank[0] == 4 and rank[1] == pytest.approx(-1.5)
    conn.transport.peer_reads(10)  # progress: a reader, not slow
    assert conn.protocol.shed_rank(now + 2.0) is None
    # Longer stalled ranks first.
    assert conn.protocol.shed_rank(now + 4.0) < conn.protocol.shed_rank(now + 3.5)  # type: ignore[operator]


async def test_a_blocked_response_is_not_idle_and_shedding_it_aborts() -> None:
    async def big(request: BaseRequest) -> StreamResponse:
        return Response(body=b"x" * (4 * HIGH_WATER))

    conn = Conn(big, send_timeout=60)
    await conn.request()
    assert conn.protocol.task is None  # handler done: was ranked idle (1), and closed
    now = conn.clock.now
    assert conn.protocol.shed_rank(now + 0.5) is None
    assert conn.protocol.shed_rank(now + 2)[0] == 4  # type: ignore[index]
    conn.protocol.shed()
    assert conn.transport.aborted  # a close would wait for the peer to read the buffer


async def test_a_short_send_timeout_judges_sooner() -> None:
    conn = Conn(Streamer(), send_timeout=0.5)
    await conn.request()
    assert conn.protocol.shed_rank(conn.clock.now + 0.3)[0] == 4  # type: ignore[index]
