"""A closed HTTP connection is freed by reference counting the moment it ends: nothing of it
waits for the cycle collector (which, in a server full of long-lived objects, may not run a
full collection for a long time)."""

from __future__ import annotations

import asyncio
import gc

from runtime import web
from runtime.server.protocol import HttpProtocol
from tests.support import Connection, serve

REQUESTS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello",
    b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",  # refused: 400
    b"GET / HTTP/1.1\r\nHost: x\r\n",  # the client gives up mid-head
]


def _alive() -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is HttpProtocol)


async def test_closed_connections_need_no_cycle_collector() -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_post("/echo", echo)
    async with serve(app) as port:
        gc.collect()
        before = _alive()
        gc.disable()
        try:
            for _ in range(10):
                for data in REQUESTS:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(data)
                    if data.endswith(b"\r\n\r\n") or data.endswith(b"hello"):
                        await reader.read()  # until the server closes
                    writer.close()
                    await writer.wait_closed()
            await asyncio.sleep(0.1)  # the server's last connection_lost callbacks
            assert _alive() == before
        finally:
            gc.enable()


async def test_an_idle_keep_alive_connection_holds_no_request_head() -> None:
    """Thousands of idle keep-alive connections each holding their last request's head
    and fields would cost about 600 bytes apiece (docs/performance.md, memory)."""
    heads: list[object] = []

    async def keep(request: web.Request) -> web.Response:
        heads.append(request._message)
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_get("/", keep)
    app.router.add_post("/", keep)
    async with serve(app) as port, await Connection.open(port) as conn:
        await conn.request()
        await conn.request("POST", body=b"hello")
        await asyncio.sleep(0.05)  # the second answer is out: the connection is idle
        holders = {type(r).__name__ for head in heads for r in gc.get_referrers(head)}
    assert "HttpProtocol" not in holders
    assert len(heads) == 2
