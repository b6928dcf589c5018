"""``web.RequestPayloadError``: what aiohttp code catches when a request body is malformed."""

from __future__ import annotations

from runtime import web
from tests.support import Connection, serve
from tests.support.wire import read_reply


async def test_a_body_not_valid_for_its_coding_raises_it_from_content_and_read() -> None:
    caught: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        try:
            await request.content.read()
        except web.RequestPayloadError:
            caught.append("content")
        return web.Response()

    async def reads(request: web.Request) -> web.Response:
        try:
            await request.read()
        except web.RequestPayloadError as exc:
            assert isinstance(exc, web.HTTPBadRequest)  # a 400 when it escapes
            caught.append("read")
        return web.Response()

    headers = [("Content-Encoding", "gzip")]
    for target in (handler, reads):
        async with serve(target) as port, await Connection.open(port) as conn:
            reply = await conn.request("POST", "/", headers=headers, body=b"test")
        assert reply.status == 200
    assert caught == ["content", "read"]


async def test_a_bad_chunk_raises_it_from_read_and_answers_400_if_not_caught() -> None:
    caught: list[bool] = []

    async def handler(request: web.Request) -> web.Response:
        try:
            await request.read()
        except web.RequestPayloadError:
            caught.append(True)
            raise
        return web.Response()  # pragma: no cover

    async with serve(handler) as port, await Connection.open(port) as conn:
        conn.writer.write(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcdXX"
        )
        reply = await read_reply(conn.reader)
    assert caught == [True]
    assert reply.status == 400
