"""aiohttp.test_utils.TestClient in the mode: Berth's test server through aiohttp's own
ClientSession, with what tests written for aiohttp expect of aiohttp's TestClient."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from runtime import web
from runtime.compat.test_client import AiohttpTestClient
from runtime.testing import TestServer


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data.upper())
    return ws


async def set_cookie(request: web.Request) -> web.Response:
    response = web.Response(text="set")
    response.set_cookie("scoped", "1", path="/scoped")
    return response


async def show_cookies(request: web.Request) -> web.Response:
    return web.Response(text=",".join(sorted(request.cookies)))


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", show_cookies)
    app.router.add_get("/set", set_cookie)
    app.router.add_get("/scoped/x", show_cookies)
    app.router.add_get("/ws", echo)
    return app


async def test_responses_are_aiohttps_and_requests_are_coroutines() -> None:
    async with AiohttpTestClient(TestServer(make_app())) as client:
        response = await asyncio.create_task(client.get("/"))  # as aiohttp-sse's tests do
        assert isinstance(response, aiohttp.ClientResponse)
        assert response.status == 200
        async with client.get("/") as response:
            assert await response.text() == ""
        assert isinstance(client.session, aiohttp.ClientSession)
        assert client.make_url("/a") == client.server.make_url("/a")
        assert client.port == client.server.port


async def test_cookies_from_127_0_0_1_are_kept_and_path_matched() -> None:
    async with AiohttpTestClient(TestServer(make_app())) as client:
        await client.get("/set")
        assert await (await client.get("/scoped/x")).text() == "scoped"
        assert await (await client.get("/")).text() == ""  # RFC 6265 5.1.4


async def test_websockets_are_aiohttps() -> None:
    async with AiohttpTestClient(TestServer(make_app())) as client:
        async with client.ws_connect("/ws") as ws:
            assert isinstance(ws, aiohttp.ClientWebSocketResponse)
            await ws.send_str("hi")
            assert await ws.receive_str() == "HI"
        assert ws.closed
        left_open = await client.ws_connect("/ws")
    assert left_open.closed  # the client closes what it opened


async def test_close_releases_responses_and_stops_the_server() -> None:
    client = AiohttpTestClient(TestServer(make_app()))
    await client.start_server()
    response = await client.get("/")
    await client.close()
    await client.close()  # idempotent
    assert response.closed
    assert client.session.closed
    with pytest.raises(aiohttp.ClientConnectionError):
        async with aiohttp.ClientSession() as session:
            await session.get(client.make_url("/"))
