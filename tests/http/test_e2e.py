"""End to end over loopback with raw sockets: what a client on the wire sees."""

from __future__ import annotations

import asyncio

from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from runtime.web.runner import ServerRunner, TCPSite
from runtime.web.server import Server
from tests.support import Reply, parse_replies, serve


async def read_responses(reader: asyncio.StreamReader, count: int) -> list[Reply]:
    """Read until ``count`` whole responses arrived (or the server closed)."""
    data = b""
    while True:
        try:
            responses = parse_replies(data)
            if len(responses) >= count:
                return responses
        except (AssertionError, ValueError, IndexError):
            pass
        chunk = await reader.read(65536)
        if not chunk:
            return parse_replies(data) if data else []
        data += chunk


async def echo(request: BaseRequest) -> StreamResponse:
    if request.path == "/stream":
        resp = StreamResponse()
        await resp.prepare(request)
        async for chunk in request.content.iter_any():
            await resp.write(chunk.upper())
        await resp.write_eof()
        return resp
    return Response(body=await request.read(), headers={"X-Path": request.path})


async def test_keep_alive_and_pipelining_over_one_socket() -> None:
    async with serve(echo) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        batch = b"".join(
            b"POST /%d HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n%d" % (i, len(str(i)), i)
            for i in range(20)
        )
        writer.write(batch)
        responses = await read_responses(reader, 20)
        assert [r.body for r in responses] == [str(i).encode() for i in range(20)]
        writer.write(b"GET /again HTTP/1.1\r\nHost: t\r\n\r\n")
        [again] = await read_responses(reader, 1)
        assert again.headers["x-path"] == "/again"
        writer.close()


async def test_chunked_in_and_out() -> None:
    async with serve(echo) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /stream HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (b"abc", b"defgh", b"i"):
            writer.write(b"%x\r\n%b\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\nX-Trailer: yes\r\n\r\n")
        [resp] = await read_responses(reader, 1)
        assert resp.headers["transfer-encoding"] == "chunked"
        assert resp.body == b"ABCDEFGHI"
        writer.close()


async def test_expect_100_continue_on_the_wire() -> None:
    async with serve(echo) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
        )
        interim = await reader.readuntil(b"\r\n\r\n")
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"data")
        [resp] = await read_responses(reader, 1)
        assert resp.status == 200 and resp.body == b"data"
        writer.close()


async def test_limits_hold_across_segments() -> None:
    async with serve(echo, max_field_size=100, max_line_size=100) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ")
        for _ in range(10):
            writer.write(b"y" * 20)
            await writer.drain()
            await asyncio.sleep(0.005)
        writer.write(b"\r\n\r\n")
        [resp] = await read_responses(reader, 1)
        assert resp.status == 431
        assert await reader.read() == b""  # closed
        writer.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /" + b"a" * 150 + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        [resp] = await read_responses(reader, 1)
        assert resp.status == 414
        writer.close()


async def test_graceful_shutdown_finishes_in_flight_and_closes_keep_alive() -> None:
    started = asyncio.Event()

    async def slow(request: BaseRequest) -> StreamResponse:
        if request.path == "/slow":
            started.set()
            await asyncio.sleep(0.3)
        return Response(text="finished")

    # A runner of its own, not tests.support.serve: the test stops it mid-request.
    runner = ServerRunner(Server(slow, access_log=None), shutdown_timeout=5)
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site.port
    # A keep-alive client that is idle when the stop begins, and one with a request in flight.
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    idle_writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await read_responses(idle_reader, 1)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
    busy_writer.write(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
    await started.wait()
    cleanup = asyncio.ensure_future(runner.cleanup())
    [resp] = await read_responses(busy_reader, 1)
    assert resp.status == 200 and resp.body == b"finished"
    assert resp.headers["connection"] == "close"
    assert await busy_reader.read() == b""
    assert await asyncio.wait_for(idle_reader.read(), 3) == b""  # idle keep-alive closed
    await cleanup
    idle_writer.close()
    busy_writer.close()
    # New connections are refused once the stop began.
    try:
        await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        pass
    else:
        raise AssertionError("the listener should be closed")


async def test_shutdown_timeout_cancels_stuck_handlers() -> None:
    cancelled = asyncio.Event()

    async def stuck(request: BaseRequest) -> StreamResponse:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return Response()

    # A runner of its own, not tests.support.serve: the test stops it mid-request.
    runner = ServerRunner(Server(stuck, access_log=None), shutdown_timeout=0.2)
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", site.port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    await asyncio.sleep(0.05)
    await asyncio.wait_for(runner.cleanup(), 3)
    assert cancelled.is_set()
    assert await reader.read() == b""
    writer.close()
