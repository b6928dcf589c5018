"""Sites report their listening sockets on asyncio's loop and on uvloop's.

uvloop's ``Server`` is not an ``asyncio.Server`` subclass; a site that only looked for the
latter reported no sockets, so ``TCPSite.port`` was None and ``runner.addresses`` empty
under ``GunicornUVLoopWebWorker`` or a uvloop test loop (found by ``make fuzz --uvloop``).
"""

from __future__ import annotations

import asyncio
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
