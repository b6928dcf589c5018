"""The test servers cancel a handler whose client went away, as aiohttp's test server does
(aiohttp.test_utils.BaseTestServer.start_server passes handler_cancellation=True)."""

from __future__ import annotations

import asyncio

import pytest

from runtime import web
from runtime.testing import BaseTestServer, RawTestServer, TestServer


async def _outcome_after_disconnect(make: type[BaseTestServer], **kwargs: object) -> str:
    """Start a request whose handler waits, hang up, and say how the handler ended."""
    started = asyncio.Event()
    ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waits(request: web.BaseRequest) -> web.StreamResponse:
        started.set()
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            ended.set_result("cancelled")
            raise
        ended.set_result("ran on")
        return web.Response()

    if make is TestServer:
        app = web.Application()
        app.router.add_get("/", waits)
        server: BaseTestServer = TestServer(app, **kwargs)
    else:
        server = RawTestServer(waits, **kwargs)
    async with server:
        assert server.port is not None
        _, writer = await asyncio.open_connection(server.host, server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        await started.wait()
        writer.close()
        await writer.wait_closed()
        return await asyncio.wait_for(ended, 5)


@pytest.mark.parametrize("make", [TestServer, RawTestServer])
async def test_a_handler_is_cancelled_when_its_client_goes(make: type[BaseTestServer]) -> None:
    assert await _outcome_after_disconnect(make) == "cancelled"


async def test_handler_cancellation_false_lets_it_run_on() -> None:
    outcome = await _outcome_after_disconnect(TestServer, handler_cancellation=False)
    assert outcome == "ran on"
