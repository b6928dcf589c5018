"""The client against a server we did not write: the standard library's http.server."""

from __future__ import annotations

import json
from http.server import ThreadingHTTPServer

import pytest

from runtime import ClientSession, TCPConnector
from tests.client.conftest import stdlib_url


async def test_keep_alive_reuse(stdlib: ThreadingHTTPServer) -> None:
    async with ClientSession() as session:
        for _ in range(4):
            async with session.get(stdlib_url(stdlib, "/hello")) as resp:
                assert await resp.text() == "hello from http.server"
    assert len(stdlib.connections) == 1  # type: ignore[attr-defined]


async def test_local_addr(stdlib: ThreadingHTTPServer) -> None:
    connector = TCPConnector(local_addr=("127.0.0.2", 0))
    async with ClientSession(connector=connector) as session:
        async with session.get(stdlib_url(stdlib, "/peer")) as resp:
            host, _ = json.loads(await resp.text())
    assert host == "127.0.0.2"
    assert stdlib.connections[0][0] == "127.0.0.2"  # type: ignore[attr-defined]


async def test_body_until_close_then_a_new_connection(stdlib: ThreadingHTTPServer) -> None:
    async with ClientSession() as session:
        async with session.get(stdlib_url(stdlib, "/until-close")) as resp:
            assert resp.content_length is None
            assert await resp.text() == "no length, ends with the connection"
        async with session.get(stdlib_url(stdlib, "/hello")) as resp:
            assert resp.status == 200
    assert len(stdlib.connections) == 2  # type: ignore[attr-defined]


async def test_chunked_upload(stdlib: ThreadingHTTPServer) -> None:
    async def parts():  # type: ignore[no-untyped-def]
        for word in (b"chunked ", b"upload ", b"works"):
            yield word

    async with ClientSession() as session:
        async with session.post(stdlib_url(stdlib, "/upload"), data=parts()) as resp:
            got = json.loads(await resp.text())
    assert got == {"body": "chunked upload works", "te": "chunked"}


async def test_redirect(stdlib: ThreadingHTTPServer) -> None:
    async with ClientSession() as session:
        async with session.get(stdlib_url(stdlib, "/redirect")) as resp:
            assert await resp.text() == "hello from http.server"
            assert resp.history[0].status == 302


@pytest.mark.parametrize("read", [0, 100])
async def test_unread_bodies_do_not_poison_the_pool(stdlib: ThreadingHTTPServer, read: int) -> None:
    async with ClientSession() as session:
        async with session.get(stdlib_url(stdlib, "/big")) as resp:
            await resp.content.read(read)
        for _ in range(2):
            async with session.get(stdlib_url(stdlib, "/hello")) as resp:
                assert await resp.text() == "hello from http.server"
