"""Minimum data rates for request heads and bodies, through a fake transport and a manual
clock: slowloris and slow-body clients get 408 within one rate window, while slow but
steady clients, and clients the server itself is not reading from, are left alone."""

from __future__ import annotations

import asyncio

import pytest

from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from tests.http.test_protocol import Conn, assert_lingering_close, hello
from tests.support import parse_replies

HEAD = b"GET / HTTP/1.1\r\nHost: t\r\n"


async def read_all(request: BaseRequest) -> StreamResponse:
    body = await request.read()
    return Response(text=str(len(body)))


async def answer(conn: Conn) -> list[int]:
    await conn.settle()
    return [r.status for r in parse_replies(conn.transport.take())]


async def test_slowloris_head_cut_after_one_window() -> None:
    conn = Conn(hello, min_head_rate=500, rate_window=5, head_timeout=60)
    conn.send(HEAD)
    for second in range(1, 5):
        conn.clock.advance(1)
        conn.send(b"X-%d: a\r\n" % second)  # a header line a second: ~8 B/s
    assert conn.transport.take() == b""
    conn.clock.advance(1)
    assert await answer(conn) == [408]
    assert_lingering_close(conn)


async def test_slow_but_steady_head_is_served() -> None:
    # 1,000 B/s, twice the minimum, for 8 s: a bad link, not an attack.
    conn = Conn(hello, min_head_rate=500, rate_window=5, head_timeout=10)
    conn.send(HEAD)
    for second in range(8):
        conn.clock.advance(1)
        conn.send(b"X-%d: %s\r\n" % (second, b"v" * 990))
    conn.send(b"\r\n")
    assert await answer(conn) == [200]
    assert not conn.transport.closed


async def test_head_deadline_still_caps_a_fast_enough_head() -> None:
    conn = Conn(hello, min_head_rate=500, rate_window=5, head_timeout=10)
    conn.send(HEAD)
    for second in range(12):
        conn.clock.advance(1)
        await conn.settle()
        if conn.transport.data:
            break
        conn.send(b"X-%d: %s\r\n" % (second, b"v" * 800))
    assert conn.clock.now == pytest.approx(10)  # the 408 came at the 10 s deadline
    assert await answer(conn) == [408]


async def test_rates_off_leave_only_the_head_deadline() -> None:
    conn = Conn(hello, min_head_rate=0, rate_window=5, head_timeout=30)
    conn.send(HEAD)
    for _ in range(29):
        conn.clock.advance(1)
        conn.send(b"X: a\r\n")
    assert conn.transport.take() == b""
    conn.clock.advance(1)
    assert await answer(conn) == [408]


async def test_silent_connection_waits_for_head_timeout_not_a_rate() -> None:
    # No byte yet (a browser's preconnect): nothing to judge a rate on.
    conn = Conn(hello, min_head_rate=500, rate_window=5, head_timeout=10)
    conn.clock.advance(9)
    assert not conn.transport.closed
    conn.send(HEAD + b"\r\n")
    assert await answer(conn) == [200]


async def test_keep_alive_partial_head_is_judged_from_its_first_byte() -> None:
    conn = Conn(hello, min_head_rate=500, rate_window=5, keepalive_timeout=75)
    assert await answer_after(conn, HEAD + b"\r\n") == [200]
    conn.clock.advance(30)  # idle in between does not count
    conn.send(HEAD)
    conn.clock.advance(4.9)
    assert conn.transport.take() == b""
    conn.clock.advance(0.2)
    assert await answer(conn) == [408]


async def answer_after(conn: Conn, data: bytes) -> list[int]:
    conn.send(data)
    return await answer(conn)


async def test_slow_body_cut_with_408_and_close() -> None:
    conn = Conn(read_all, min_body_rate=500, rate_window=5)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n")
    for _ in range(4):
        conn.clock.advance(1)
        conn.send(b"x" * 50)
    assert await answer(conn) == []
    conn.clock.advance(1)
    await conn.settle()
    [resp] = parse_replies(conn.transport.take())
    assert resp.status == 408
    assert resp.headers["connection"] == "close"
    assert b"too slow" in resp.body
    conn.send(b"x" * 50)  # what still arrives is dropped
    await conn.settle()
    assert conn.transport.take() == b""


async def test_slow_but_steady_body_is_served() -> None:
    conn = Conn(read_all, min_body_rate=500, rate_window=5)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 12000\r\n\r\n")
    for _ in range(12):
        conn.clock.advance(1)
        conn.send(b"x" * 1000)
        await conn.settle(2)
    [resp] = parse_replies(conn.transport.take())
    assert (resp.status, resp.body) == (200, b"12000")


async def test_body_not_judged_while_waiting_for_100_continue() -> None:
    go = asyncio.Event()

    async def late_reader(request: BaseRequest) -> StreamResponse:
        await go.wait()
        return await read_all(request)

    conn = Conn(late_reader, min_body_rate=500, rate_window=5)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
    await conn.settle()
    conn.clock.advance(30)  # the client waits for our 100, as it must
    assert await answer(conn) == []
    go.set()
    await conn.settle()
    assert conn.transport.take() == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.send(b"abc")
    assert await answer(conn) == [200]


async def test_body_not_judged_while_the_server_pauses_reading() -> None:
    go = asyncio.Event()

    async def late_reader(request: BaseRequest) -> StreamResponse:
        await go.wait()
        return await read_all(request)

    conn = Conn(late_reader, min_body_rate=500, rate_window=5)
    conn.send(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 300000\r\n\r\n")
    await conn.settle()
    conn.send(b"x" * 100000)  # over the high-water mark: reading pauses
    assert not conn.transport.reading
    conn.clock.advance(30)
    assert await answer(conn) == []
    go.set()
    await conn.settle()
    assert conn.transport.reading
    conn.send(b"x" * 200000)
    await conn.settle()
    [resp] = parse_replies(conn.transport.take())
    assert (resp.status, resp.body) == (200, b"300000")


def test_invalid_rate_settings_are_refused() -> None:
    from runtime.web.server import Server

    with pytest.raises(ValueError, match="rate_window"):
        Server(hello, rate_window=0)
    with pytest.raises(ValueError, match="min_body_rate"):
        Server(hello, min_body_rate=-1)


async def test_body_read_after_the_answer_still_ends_in_the_idle_timeout() -> None:
    # The handler answers without reading; the rest of the small body arrives in pieces
    # afterwards (its rate window replaces the idle timer) and the connection must still
    # close after keepalive_timeout once it is idle.
    conn = Conn(hello, keepalive_timeout=10, rate_window=5)
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\n")
    assert await answer(conn) == [200]
    conn.send(b"hello ")
    conn.send(b"world")
    conn.clock.advance(9)
    assert not conn.transport.closed
    conn.clock.advance(1.5)
    assert conn.transport.closed
