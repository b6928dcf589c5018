"""Sites report their listening sockets on asyncio's loop and on uvloop's.

uvloop's ``Server`` is not an ``asyncio.Server`` subclass; a site that only looked for the
latter reported no sockets, so ``TCPSite.port`` was None and ``runner.addresses`` empty
under ``GunicornUVLoopWebWorker`` or a uvloop test loop (found by ``make fuzz --uvloop``).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest

from runtime import web

uvloop = pytest.importorskip("uvloop")

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


@pytest.mark.parametrize("make_loop", LOOPS.values(), ids=LOOPS.keys())
def test_tcp_site_reports_its_port(make_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
    async def main() -> None:
        runner = web.AppRunner(web.Application(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            assert site.port is not None and site.port > 0
            assert [sock.getsockname()[1] for sock in site.sockets] == [site.port]
            assert runner.addresses == [("127.0.0.1", site.port)]
            assert site.name == f"http://127.0.0.1:{site.port}"
        finally:
            await runner.cleanup()
        assert site.sockets == ()

    # A loop of its own on purpose: the same body on asyncio's loop and on uvloop's.
    loop = make_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()


async def test_a_connection_accepted_as_the_listener_closes_is_still_answered() -> None:
    # The loop has accepted the socket but not made the connection yet (its transport and
    # connection_made come on later passes) when the stop closes the listener: the stop
    # must still answer it, not leave it unserved until the process exits and resets it
    # (seen as a reset in the dev server's reload, tests/devserver).
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    client = socket.create_connection(("127.0.0.1", port))
    try:
        for _ in range(3):  # accepted, not yet a connection
            await asyncio.sleep(0)
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        await runner.cleanup()
        client.settimeout(5)
        assert client.recv(15) == b"HTTP/1.1 200 OK"
    finally:
        client.close()
