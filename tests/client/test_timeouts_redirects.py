"""Timeouts and redirects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from runtime import (
    ClientSession,
    ClientTimeout,
    InvalidURL,
    ServerTimeoutError,
    SocketTimeoutError,
    TooManyRedirects,
)

Server = Callable[..., Any]


async def test_sock_read_timeout_on_the_head(server: Server) -> None:
    srv = await server()
    async with ClientSession(timeout=ClientTimeout(sock_read=0.1)) as session:
        with pytest.raises(SocketTimeoutError) as info:
            await session.get(srv.make_url("/slow?t=0.4"))
        assert isinstance(info.value, asyncio.TimeoutError)
        assert isinstance(info.value, ServerTimeoutError)
        async with session.get(srv.make_url("/hello")) as resp:  # the pool is still usable
            assert await resp.text() == "hello"


async def test_sock_read_timeout_on_the_body(server: Server) -> None:
    srv = await server()
    async with ClientSession(timeout=ClientTimeout(sock_read=0.1)) as session:
        async with session.get(srv.make_url("/slow-body?t=0.4")) as resp:
            assert resp.status == 200
            with pytest.raises(SocketTimeoutError):
                await resp.read()


async def test_total_timeout_covers_the_head(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        with pytest.raises(asyncio.TimeoutError):
            await session.get(srv.make_url("/slow?t=0.4"), timeout=ClientTimeout(total=0.1))


async def test_total_timeout_covers_the_body(server: Server) -> None:
    srv = await server()
    async with ClientSession(timeout=ClientTimeout(total=0.2)) as session:
        async with session.get(srv.make_url("/slow-body?t=0.4")) as resp:
            with pytest.raises(asyncio.TimeoutError):
                await resp.read()


async def test_no_timeout_when_fast_enough(server: Server) -> None:
    srv = await server()
    timeout = ClientTimeout(total=2, connect=1, sock_read=1, sock_connect=1)
    async with ClientSession(timeout=timeout) as session:
        async with session.get(srv.make_url("/slow-body?t=0.05")) as resp:
            assert await resp.read() == b"1234567890"


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
async def test_redirect_get(server: Server, code: int) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with session.get(srv.make_url(f"/redirect/{code}?to=/echo%3Fx%3D1")) as resp:
            got = await resp.json()
            assert got["method"] == "GET"
            assert got["path_qs"] == "/echo?x=1"
            assert resp.url == srv.make_url("/echo?x=1")
            assert [r.status for r in resp.history] == [code]


@pytest.mark.parametrize(
    ("code", "method", "body"),
    [
        (301, "GET", ""),
        (302, "GET", ""),
        (303, "GET", ""),
        (307, "POST", "payload"),
        (308, "POST", "payload"),
    ],
)
async def test_redirect_post(server: Server, code: int, method: str, body: str) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with session.post(srv.make_url(f"/redirect/{code}"), data="payload") as resp:
            got = await resp.json()
    assert got["method"] == method
    assert got["body"] == body
    if not body:
        assert "Content-Type" not in got["headers"]


async def test_303_after_put_is_a_get_and_307_keeps_put(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with session.put(srv.make_url("/redirect/303"), data=b"x") as resp:
            assert (await resp.json())["method"] == "GET"
        async with session.put(srv.make_url("/redirect/307"), data=b"x") as resp:
            got = await resp.json()
            assert (got["method"], got["body"]) == ("PUT", "x")


async def test_redirects_can_be_refused(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        resp = await session.get(srv.make_url("/redirect/302"), allow_redirects=False)
        assert resp.status == 302
        assert resp.headers["Location"] == "/echo"
        resp.release()


async def test_too_many_redirects(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        with pytest.raises(TooManyRedirects) as info:
            await session.get(srv.make_url("/loop"), max_redirects=3)
        assert len(info.value.history) == 4
        # Every redirect response was released: the pool still has its one connection.
        async with session.get(srv.make_url("/hello")) as resp:
            assert resp.status == 200
        assert len(srv.handler.connections) == 1


async def test_redirect_to_another_origin_drops_credentials(server: Server) -> None:
    srv = await server()
    target = srv.make_url("/echo").with_host("localhost")
    async with ClientSession() as session:
        async with session.get(
            srv.make_url(f"/redirect/302?to={target}"),
            headers={"Authorization": "Bearer secret", "X-Keep": "1"},
        ) as resp:
            got = await resp.json()
    assert "Authorization" not in got["headers"]
    assert got["headers"]["X-Keep"] == "1"
    assert got["headers"]["Host"] == f"localhost:{srv.port}"


async def test_redirect_to_a_non_http_url(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        with pytest.raises(InvalidURL):
            await session.get(srv.make_url("/redirect/302?to=ftp://example.org/"))


async def test_streamed_body_is_not_replayed_on_307(server: Server) -> None:
    srv = await server()

    async def parts():  # type: ignore[no-untyped-def]
        yield b"once"

    async with ClientSession() as session:
        async with session.post(srv.make_url("/redirect/307"), data=parts()) as resp:
            assert resp.status == 307
