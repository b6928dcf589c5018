"""Requests and responses against our own server: bodies, headers, cookies, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from multidict import CIMultiDictProxy

import runtime
from runtime import (
    ClientConnectorError,
    ClientResponseError,
    ClientSession,
    ContentTypeError,
    InvalidURL,
)

Server = Callable[..., Any]


async def test_get_as_context_manager_and_as_awaitable(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with session.get(srv.make_url("/hello")) as resp:
            assert resp.status == 200
            assert resp.reason == "OK"
            assert resp.ok
            assert isinstance(resp.headers, CIMultiDictProxy)
            assert resp.headers["x-path"] == "/hello"
            assert resp.url == srv.make_url("/hello")
            assert await resp.text() == "hello"
            assert resp.content_type == "text/plain"
            assert resp.charset == "utf-8"
        resp = await session.get(srv.make_url("/hello"))
        assert await resp.read() == b"hello"
        resp.release()


@pytest.mark.parametrize("method", ["get", "post", "put", "patch", "delete", "options"])
async def test_every_method(server: Server, method: str) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with getattr(session, method)(srv.make_url("/echo")) as resp:
            assert (await resp.json())["method"] == method.upper()
        async with session.request(method.upper(), srv.make_url("/echo")) as resp:
            assert (await resp.json())["method"] == method.upper()


async def test_head_has_no_body_and_keeps_the_connection(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        for _ in range(2):
            async with session.head(srv.make_url("/hello")) as resp:
                assert resp.status == 200
                assert resp.headers["Content-Length"] == "5"
                assert await resp.read() == b""
        async with session.get(srv.make_url("/hello")) as resp:
            assert await resp.text() == "hello"
    assert srv.handler is not None


async def test_no_content(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session, session.get(srv.make_url("/empty")) as resp:
        assert resp.status == 204
        assert await resp.read() == b""


async def echo(session: ClientSession, url: Any, **kwargs: Any) -> dict[str, Any]:
    async with session.post(url, **kwargs) as resp:
        result: dict[str, Any] = await resp.json()
        return result


async def test_request_bodies(server: Server) -> None:
    srv = await server()
    url = srv.make_url("/echo")
    async with ClientSession() as session:
        got = await echo(session, url, data=b"\x00bytes")
        assert got["body"] == "\x00bytes"
        assert got["headers"]["Content-Type"] == "application/octet-stream"
        assert got["headers"]["Content-Length"] == "6"
        got = await echo(session, url, data="caf\u00e9")
        assert got["body"] == "caf\u00e9"
        assert got["headers"]["Content-Type"] == "text/plain; charset=utf-8"
        got = await echo(session, url, data={"a": "1", "b": "x y"})
        assert got["body"] == "a=1&b=x+y"
        assert got["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        got = await echo(session, url, json={"k": [1, 2]})
        assert json.loads(got["body"]) == {"k": [1, 2]}
        assert got["headers"]["Content-Type"] == "application/json"
        got = await echo(session, url)
        assert got["headers"]["Content-Length"] == "0"
        got = await echo(session, url, data=b"x", headers={"Content-Type": "image/png"})
        assert got["headers"]["Content-Type"] == "image/png"


async def test_chunked_upload_from_an_async_iterable(server: Server) -> None:
    srv = await server()

    async def parts() -> AsyncIterator[bytes]:
        for i in range(5):
            yield f"part{i};".encode()
        yield b""

    async with ClientSession() as session:
        got = await echo(session, srv.make_url("/echo"), data=parts())
    assert got["body"] == "part0;part1;part2;part3;part4;"
    assert got["headers"]["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in got["headers"]


async def test_a_failing_upload_reaches_the_caller(server: Server) -> None:
    srv = await server()

    async def parts() -> AsyncIterator[bytes]:
        yield b"first"
        raise RuntimeError("the source broke")

    async with ClientSession() as session:
        with pytest.raises(RuntimeError, match="the source broke"):
            await session.post(srv.make_url("/echo"), data=parts())
        assert await (await session.get(srv.make_url("/hello"))).text() == "hello"


def test_data_and_json_together_are_refused() -> None:
    from runtime.client.body import make_body

    with pytest.raises(ValueError):
        make_body(b"x", {"a": 1}, json.dumps)
    with pytest.raises(TypeError):
        make_body(object(), None, json.dumps)


async def test_params_base_url_and_headers(server: Server) -> None:
    srv = await server()
    base = srv.make_url("/")
    async with ClientSession(
        base, headers={"X-Default": "d", "X-Replaced": "old"}, json_serialize=lambda o: "[1]"
    ) as session:
        async with session.get(
            "echo", params={"q": "a b", "n": 1}, headers={"X-Replaced": "new"}
        ) as resp:
            got = await resp.json()
        assert got["path_qs"] == "/echo?q=a+b&n=1"
        headers = got["headers"]
        assert headers["X-Default"] == "d"
        assert headers["X-Replaced"] == "new"
        assert headers["Host"] == f"127.0.0.1:{srv.port}"
        assert headers["Accept"] == "*/*"
        assert headers["User-Agent"].startswith("Python/")
        got = await echo(session, "/echo", json={"ignored": True})
        assert got["body"] == "[1]"
        async with session.get("/echo", skip_auto_headers=["User-Agent"]) as resp:
            assert "User-Agent" not in (await resp.json())["headers"]


async def test_cookies_round_trip(server: Server) -> None:
    srv = await server()
    async with ClientSession(cookies={"given": "g"}) as session:
        async with session.get(srv.make_url("/cookies/set")) as resp:
            assert resp.cookies["session"].value == "abc"
        assert {m.key for m in session.cookie_jar} == {"given", "session", "other"}
        got = await (await session.get(srv.make_url("/echo"), cookies={"extra": "e"})).json()
        sent = dict(part.split("=") for part in got["headers"]["Cookie"].split("; "))
        assert sent == {"given": "g", "session": "abc", "other": "1", "extra": "e"}
        await (await session.get(srv.make_url("/cookies/delete"))).read()
        assert {m.key for m in session.cookie_jar} == {"given", "other"}


async def test_cookies_stay_with_their_host(server: Server) -> None:
    srv = await server()
    other = srv.make_url("/echo").with_host("localhost")
    async with ClientSession() as session:
        await (await session.get(srv.make_url("/cookies/set"))).read()
        got = await (await session.get(other)).json()
        assert "Cookie" not in got["headers"]


async def test_json_and_content_type_check(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with session.get(srv.make_url("/json")) as resp:
            assert await resp.json() == {"ok": True}
        async with session.get(srv.make_url("/hello")) as resp:
            with pytest.raises(ContentTypeError):
                await resp.json()
            assert await resp.json(content_type=None, loads=lambda s: s.upper()) == "HELLO"
        async with session.get(srv.make_url("/empty")) as resp:
            assert await resp.json(content_type=None) is None


async def test_raise_for_status(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with session.get(srv.make_url("/status/404")) as resp:
            assert not resp.ok
            with pytest.raises(ClientResponseError) as info:
                resp.raise_for_status()
        error = info.value
        assert error.status == 404
        assert error.message == "Not Found"
        assert error.headers is not None and error.headers["Content-Length"] == "6"
        assert error.request_info.method == "GET"
        assert error.request_info.url == srv.make_url("/status/404")
        assert error.history == ()
        assert "404, message='Not Found'" in str(error)
        with pytest.raises(ClientResponseError):
            await session.get(srv.make_url("/status/500"), raise_for_status=True)
    seen: list[int] = []

    async def check(resp: runtime.ClientResponse) -> None:
        seen.append(resp.status)

    async with ClientSession(raise_for_status=True) as session:
        with pytest.raises(ClientResponseError):
            await session.get(srv.make_url("/status/503"))
        resp = await session.get(srv.make_url("/status/503"), raise_for_status=False)
        assert resp.status == 503
        resp = await session.get(srv.make_url("/status/418"), raise_for_status=check)
        assert seen == [418]


@pytest.mark.parametrize(
    "url", ["ftp://example.org/", "/relative/without/base", "http:///nohost", "http://[::1"]
)
async def test_invalid_urls(url: str) -> None:
    async with ClientSession() as session:
        with pytest.raises(InvalidURL):
            await session.get(url)


async def test_header_injection_is_refused(server: Server) -> None:
    srv = await server()
    async with ClientSession() as session:
        with pytest.raises(ValueError):
            await session.get(srv.make_url("/echo"), headers={"X": "a\r\nEvil: 1"})


async def test_connection_refused(unused_port: Callable[[], int]) -> None:
    port = unused_port()
    async with ClientSession() as session:
        with pytest.raises(ClientConnectorError) as info:
            await session.get(f"http://127.0.0.1:{port}/")
    error = info.value
    assert (error.host, error.port, error.ssl) == ("127.0.0.1", port, False)
    assert isinstance(error, OSError)
    assert f"Cannot connect to host 127.0.0.1:{port}" in str(error)


async def test_closed_session_refuses_requests() -> None:
    session = ClientSession()
    await session.close()
    assert session.closed
    with pytest.raises(RuntimeError):
        await session.get("http://127.0.0.1:1/")
