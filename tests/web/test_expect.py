"""The ``Expect`` request header (RFC 9110 10.1.1): 417 for what we cannot meet, the
route's own ``expect_handler`` for the rest, and an interim response it writes itself."""

from __future__ import annotations

import pytest

from runtime import web
from runtime.web.routing.route import ExpectHandler
from tests.support import Connection, build_request, fetch, read_head, read_reply, serve


def app_with(calls: list[str], expect_handler: ExpectHandler | None = None) -> web.Application:
    async def handler(request: web.Request) -> web.Response:
        calls.append("handler")
        return web.Response(text=f"read {len(await request.read())}")

    app = web.Application()
    app.router.add_post("/", handler, expect_handler=expect_handler)
    return app


def head_only(expect: str) -> bytes:
    """A POST head announcing 4 bytes of body, which follow only once 100 arrived."""
    return build_request("POST", "/", {"Expect": expect, "Content-Length": "4"})


@pytest.mark.parametrize("expect", ["SPAM", "100-continue, spam", "100-Continue,,bogus"])
async def test_unknown_expectation_is_417_without_the_handler(expect: str) -> None:
    calls: list[str] = []
    async with serve(app_with(calls)) as port:
        reply = await fetch(port, "POST", headers={"Expect": expect}, body=b"data")
    assert reply.status == 417
    assert reply.text == f"Unknown Expect: {expect}"
    assert calls == []


async def test_an_expectation_that_is_not_utf8_is_417_and_shown_as_received() -> None:
    # obs-text (RFC 9110 5.5), the octet 0xE5 (a lone surrogate stands for it): the message
    # shows the octet, where it used to fail to encode and answer 500.
    calls: list[str] = []
    async with serve(app_with(calls)) as port:
        reply = await fetch(port, "POST", headers={"Expect": "100-continu\udce5"}, body=b"data")
    assert reply.status == 417
    assert reply.text == "Unknown Expect: 100-continu\\xe5"
    assert calls == []


async def test_100_continue_still_reaches_the_handler() -> None:
    calls: list[str] = []
    async with serve(app_with(calls)) as port, await Connection.open(port) as conn:
        conn.writer.write(head_only("100-Continue"))
        status, _ = await read_head(conn.reader)  # 100 comes once the handler reads
        conn.writer.write(b"data")
        reply = await read_reply(conn.reader)
    assert status == 100
    assert (reply.status, reply.text, calls) == (200, "read 4", ["handler"])


async def test_expect_means_nothing_in_http_10() -> None:
    calls: list[str] = []
    async with serve(app_with(calls)) as port, await Connection.open(port) as conn:
        conn.writer.write(build_request("POST", "/", {"Expect": "spam"}, b"data", version="1.0"))
        reply = await read_reply(conn.reader)
    assert (reply.status, calls) == (200, ["handler"])


async def test_custom_expect_handler_decides() -> None:
    calls: list[str] = []

    async def expect_handler(request: web.Request) -> web.StreamResponse | None:
        calls.append(request.headers["Expect"])
        if request.headers["Expect"] == "teapot":
            return web.Response(status=418)
        return None  # any other expectation is fine here

    async with serve(app_with(calls, expect_handler)) as port:
        refused = await fetch(port, "POST", headers={"Expect": "teapot"}, body=b"x")
        accepted = await fetch(port, "POST", headers={"Expect": "spam"}, body=b"x")
    assert (refused.status, accepted.status) == (418, 200)
    assert calls == ["teapot", "spam", "handler"]


async def test_expect_handler_writing_its_own_continue_keeps_the_framing() -> None:
    """aiohttp's idiom: the handler writes ``100 Continue`` through ``request.writer``
    (awaited, as aiohttp's writer is async) and resets ``output_size``. Only that one 100
    goes out, and the final response keeps its length and the connection."""

    async def expect_handler(request: web.Request) -> None:
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0

    calls: list[str] = []
    async with serve(app_with(calls, expect_handler)) as port, await Connection.open(port) as conn:
        for _ in range(2):
            conn.writer.write(head_only("100-continue"))
            status, _ = await read_head(conn.reader)
            conn.writer.write(b"data")
            reply = await read_reply(conn.reader)
            assert status == 100
            assert (reply.status, reply.text) == (200, "read 4")
            assert reply.headers["Content-Length"] == "6"
            assert "Connection" not in reply.headers  # kept alive
        # Nothing else arrived: no second 100 from the body's first read.
        conn.writer.write(build_request("GET", "/nothing"))
        assert (await read_reply(conn.reader)).status == 404
