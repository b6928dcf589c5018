"""aiohttp's payload objects as response bodies: code ported from aiohttp keeps them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.payload
import pytest

from runtime import web
from tests.support import Connection, serve


async def test_get_payload_of_a_file_keeps_its_disposition_and_length(tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(b"x" * 100_000)

    async def handler(request: web.Request) -> web.Response:
        payload = aiohttp.get_payload(path.open("rb"))
        payload.set_content_disposition("inline", filename="test.txt")
        return web.Response(body=payload, headers={"Content-Type": "text/binary"})

    async with serve(handler) as port, await Connection.open(port) as conn:
        reply = await conn.request()
    assert reply.status == 200
    assert reply.body == b"x" * 100_000
    assert reply.headers["Content-Length"] == "100000"
    assert reply.headers["Content-Type"] == "text/binary"
    assert reply.headers["Content-Disposition"] == 'inline; filename="test.txt"'


async def test_a_bytes_payload_brings_its_content_type_and_decodes() -> None:
    seen: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        body = aiohttp.payload.BytesPayload(b"caf\xc3\xa9", content_type="text/x-thing")
        response = web.Response(body=body)
        seen["text"] = response.text
        return response

    async with serve(handler) as port, await Connection.open(port) as conn:
        reply = await conn.request()
    assert (reply.status, reply.body) == (200, b"caf\xc3\xa9")
    assert reply.headers["Content-Type"] == "text/x-thing"
    assert seen["text"] == "café"


async def test_an_aiohttp_streamer_writes_its_body_called_or_not() -> None:
    with pytest.warns(DeprecationWarning):

        @aiohttp.streamer
        async def stream(writer: Any, count: int = 2) -> None:
            for i in range(count):
                await writer.write(b"%d;" % i)

    async def called(request: web.Request) -> web.Response:
        return web.Response(body=stream(3))

    async def not_called(request: web.Request) -> web.Response:
        return web.Response(body=stream)

    async with serve(called) as port, await Connection.open(port) as conn:
        first = await conn.request()
    async with serve(not_called) as port, await Connection.open(port) as conn:
        second = await conn.request()
    assert (first.status, first.body) == (200, b"0;1;2;")
    assert (second.status, second.body) == (200, b"0;1;")
