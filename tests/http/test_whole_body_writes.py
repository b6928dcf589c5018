"""A whole response with a large body leaves beside its head, not copied behind it.

``ResponseWriter.write_whole`` hands a body of ``SEPARATE_BODY`` bytes or more to
``transport.writelines`` with the head, where the transport's ``writelines`` keeps flow
control (uvloop's); elsewhere the head and body are joined into one ``write``. Either way
the client gets the same bytes, on asyncio's loop and on uvloop's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from runtime import web
from runtime.http.writer import SEPARATE_BODY, _gathers
from tests.http.fakes import FakeTransport
from tests.support import serve
from tests.support.wire import Connection

uvloop = pytest.importorskip("uvloop")

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}
SIZES = (SEPARATE_BODY - 1, SEPARATE_BODY, 3 * SEPARATE_BODY + 7, 2**20)


def body_of(size: int) -> bytes:
    return bytes(range(256)) * (size // 256) + b"z" * (size % 256)


def run_on(make_loop: Callable[[], asyncio.AbstractEventLoop], main: Callable[[], object]) -> None:
    loop = make_loop()
    try:
        loop.run_until_complete(main())  # type: ignore[arg-type]
    finally:
        loop.close()


def test_only_uvloop_transports_take_the_writelines_path() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[asyncio.BaseTransport] = loop.create_future()

        class Accept(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted.set_result(transport)

        server = await loop.create_server(Accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        served = await accepted
        try:
            seen.append(_gathers(served))
        finally:
            served.close()
            client.close()
            server.close()
            await server.wait_closed()
            await asyncio.sleep(0)  # the transports finish closing

    seen: list[bool] = []
    run_on(asyncio.new_event_loop, main)
    run_on(uvloop.new_event_loop, main)
    # CPython's selector transport: its writelines did not pause the protocol before
    # 3.12.9 (gh-127655), so it is never trusted; uvloop's is.
    assert seen == [False, True]
    assert _gathers(FakeTransport()) is False


@pytest.mark.parametrize("make_loop", LOOPS.values(), ids=LOOPS.keys())
def test_large_whole_bodies_arrive_intact_on_a_kept_alive_connection(
    make_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    async def sized(request: web.Request) -> web.Response:
        return web.Response(body=body_of(int(request.match_info["size"])))

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{size}", sized)
        async with serve(app) as port:
            async with await Connection.open(port) as conn:
                for size in SIZES:  # one after another on the same connection
                    reply = await conn.request("GET", f"/{size}")
                    assert reply.status == 200
                    assert reply.headers["Content-Length"] == str(size)
                    assert reply.body == body_of(size), size
                    head = await conn.request("HEAD", f"/{size}")
                    assert head.headers["Content-Length"] == str(size)
                    assert head.body == b""
                reply = await conn.request("GET", "/5")  # the connection still frames right
                assert reply.body == body_of(5)

    run_on(make_loop, main)
