"""The test servers' keywords that aiohttp.test_utils' take."""

from __future__ import annotations

from runtime import web
from runtime.testing import TestClient, TestServer


async def _echo_path(request: web.Request) -> web.Response:
    return web.Response(text=request.raw_path)


async def test_skip_url_asserts_sends_a_path_with_leading_slashes_as_written() -> None:
    app = web.Application()
    app.router.add_get("/{tail:.*}", _echo_path)
    async with TestClient(TestServer(app, skip_url_asserts=True)) as client:
        assert client.make_url("//a//b?x=1").path == "//a//b"
        async with client.get("//a//b?x=1") as resp:
            assert await resp.text() == "//a//b?x=1"


async def test_without_it_an_absolute_url_is_refused() -> None:
    async with TestServer(web.Application()) as server:
        try:
            server.make_url("http://example.com/")
        except ValueError:
            pass
        else:  # pragma: no cover
            raise AssertionError("an absolute URL was accepted")
