"""``Response(body=...)`` beyond bytes: files, async iterables, multipart parts and str,
as aiohttp sends them; the wire shows what the client gets."""

from __future__ import annotations

import asyncio
import base64
import gzip
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime import web
from runtime.web.payload import (
    CHUNK_SIZE,
    AsyncIterablePayload,
    BytesIOPayload,
    Payload,
    make_payload,
)
from tests.support import Connection, build_request, fetch, read_chunk, read_head, serve
from tests.web.support import ClientFactory


def app_for(handler: Any) -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/", handler)
    return app


class CountingReader(io.BufferedReader):
    """A file that records how much each read asked for."""

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(path, "r"))
        self.asked: list[int | None] = []

    def read(self, size: int | None = -1, /) -> bytes:
        self.asked.append(size)
        return super().read(size)


# -- files ----------------------------------------------------------------------------


async def test_binary_file_is_streamed_in_chunks_typed_by_name_and_closed(
    tmp_path: Path,
) -> None:
    data = bytes(range(256)) * 1000  # 256 000 bytes: several chunks
    path = tmp_path / "report.json"
    path.write_bytes(data)
    files: list[CountingReader] = []

    async def handler(request: web.Request) -> web.Response:
        files.append(CountingReader(path))
        return web.Response(body=files[0])

    async with serve(app_for(handler)) as port:
        reply = await fetch(port)
    assert reply.status == 200
    assert reply.body == data
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["Content-Length"] == str(len(data))
    assert reply.headers["Content-Disposition"] == 'attachment; filename="report.json"'
    reads = [size for size in files[0].asked if size]
    assert len(reads) > 1 and max(reads) <= CHUNK_SIZE  # in chunks, never read whole
    assert files[0].closed


async def test_file_is_sent_from_where_it_stands(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"skip-this|send this")

    async def handler(request: web.Request) -> web.Response:
        file = path.open("rb")
        file.seek(10)
        return web.Response(body=file)

    async with serve(app_for(handler)) as port:
        reply = await fetch(port)
    assert (reply.body, reply.headers["Content-Length"]) == (b"send this", "9")
    assert reply.headers["Content-Type"] == "application/octet-stream"  # .bin


async def test_head_sends_the_length_of_a_file_but_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(b"<p>hello</p>")
    opened: list[io.BufferedReader] = []

    async def handler(request: web.Request) -> web.Response:
        opened.append(path.open("rb"))
        return web.Response(body=opened[-1])

    async with serve(app_for(handler)) as port, await Connection.open(port) as conn:
        head = await conn.request("HEAD")
        get = await conn.request("GET")  # same connection: the HEAD left no stray bytes
    assert (head.status, head.body, head.headers["Content-Length"]) == (200, b"", "12")
    assert head.headers["Content-Type"] == "text/html"
    assert get.body == b"<p>hello</p>"
    assert all(file.closed for file in opened)


async def test_bytesio_body_has_a_length_and_is_closed() -> None:
    buffers: list[io.BytesIO] = []

    async def handler(request: web.Request) -> web.Response:
        buffers.append(io.BytesIO(b"in memory"))
        return web.Response(body=buffers[-1])

    async with serve(app_for(handler)) as port:
        reply = await fetch(port)
    assert reply.body == b"in memory"
    assert reply.headers["Content-Length"] == "9"
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert "Content-Disposition" not in reply.headers  # no file name
    assert buffers[0].closed


async def test_stringio_body_is_text() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=io.StringIO("caf\u00e9"))

    async with serve(app_for(handler)) as port:
        reply = await fetch(port)
    assert reply.body == "caf\u00e9".encode()
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.headers["Content-Length"] == "5"


async def test_text_file_is_reencoded_in_the_response_charset(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes("<p>caf\u00e9</p>\n".encode("latin-1"))
    files: list[io.TextIOWrapper] = []

    async def handler(request: web.Request) -> web.Response:
        files.append(path.open(encoding="latin-1"))
        return web.Response(body=files[-1])

    async with serve(app_for(handler)) as port:
        reply = await fetch(port)
    assert reply.body == "<p>caf\u00e9</p>\n".encode()
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    # Newline translation and re-encoding: the length is known only once sent.
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert files[0].closed


# -- async iterables --------------------------------------------------------------------


async def test_async_generator_is_streamed_chunked_as_it_yields() -> None:
    second = asyncio.Event()

    async def events() -> AsyncIterator[bytes]:
        yield b"first"
        await second.wait()  # only once the client has the first chunk
        yield b"second"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=events())

    async with serve(app_for(handler)) as port, await Connection.open(port) as conn:
        conn.writer.write(build_request(host="localhost"))
        status, headers = await read_head(conn.reader)
        first = await read_chunk(conn.reader)
        second.set()
        rest = [await read_chunk(conn.reader), await read_chunk(conn.reader)]
    assert (status, headers["Transfer-Encoding"]) == (200, "chunked")
    assert headers["Content-Type"] == "application/octet-stream"
    assert [first, *rest] == [b"first", b"second", b""]


async def test_async_iterable_object_is_a_body(make_client: ClientFactory) -> None:
    class Countdown:
        def __init__(self) -> None:
            self.left = 3

        def __aiter__(self) -> Countdown:
            return self

        async def __anext__(self) -> bytes:
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            return b"%d" % self.left

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=Countdown(), content_type="text/plain")

    client = await make_client(app_for(handler))
    response = await client.get("/")
    assert await response.read() == b"210"
    assert response.headers["Content-Type"] == "text/plain"


async def test_request_body_streams_back_out(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=request.content)

    client = await make_client(app_for(handler))
    response = await client.post("/", data=b"x" * 100_000)
    assert await response.read() == b"x" * 100_000


async def test_async_generator_left_early_is_closed() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"tick"
                await asyncio.sleep(0.01)
        finally:
            closed.set()

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=endless())

    async with serve(app_for(handler)) as port:
        conn = await Connection.open(port)
        conn.writer.write(build_request(host="localhost"))
        await read_head(conn.reader)
        await read_chunk(conn.reader)
        await conn.close()  # the client goes away mid-body
        await asyncio.wait_for(closed.wait(), 5)


async def test_async_generator_must_yield_bytes() -> None:
    async def words() -> AsyncIterator[Any]:
        yield "text is not bytes"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=words())

    async with serve(app_for(handler)) as port, await Connection.open(port) as conn:
        conn.writer.write(build_request(host="localhost"))
        received = await asyncio.wait_for(conn.reader.read(), 5)
    # The connection ends, and nothing that arrived looks like a complete response.
    assert not received.endswith(b"0\r\n\r\n")


# -- str ----------------------------------------------------------------------------------


async def test_str_body_is_encoded_in_the_charset(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        kind = request.query.get("kind")
        if kind == "latin":
            return web.Response(body="caf\u00e9", content_type="text/html", charset="latin-1")
        if kind == "header":
            return web.Response(
                body="caf\u00e9", headers={"Content-Type": "text/csv; charset=utf-16"}
            )
        return web.Response(body="caf\u00e9")

    client = await make_client(app_for(handler))
    plain = await client.get("/")
    assert await plain.read() == b"caf\xc3\xa9"
    assert plain.headers["Content-Type"] == "text/plain; charset=utf-8"
    latin = await client.get("/?kind=latin")
    assert await latin.read() == b"caf\xe9"
    assert latin.headers["Content-Type"] == "text/html; charset=latin-1"
    header = await client.get("/?kind=header")
    assert await header.read() == "caf\u00e9".encode("utf-16")


def test_str_body_set_later_is_encoded_too() -> None:
    response = web.Response(content_type="text/plain", charset="latin-1")
    response.body = "\u00e9"
    assert response.body == b"\xe9"
    assert response.text == "\u00e9"


# -- the body's API ---------------------------------------------------------------------------


async def test_payload_body_decodes_without_eating_what_is_sent(make_client: ClientFactory) -> None:
    seen: list[Any] = []

    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=io.BytesIO("caf\u00e9".encode()), charset=None)
        body = response.body
        assert isinstance(body, Payload)
        seen.extend([body.decode(), body.decode("latin-1"), await body.as_bytes(), body.size])
        return response

    client = await make_client(app_for(handler))
    response = await client.get("/")
    assert await response.read() == "caf\u00e9".encode()
    assert seen == ["caf\u00e9", "caf\u00c3\u00a9", "caf\u00e9".encode(), 5]


async def test_async_iterable_decodes_once_gathered(make_client: ClientFactory) -> None:
    async def pieces() -> AsyncIterator[bytes]:
        yield b"one "
        yield b"two"

    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=pieces())
        body = response.body
        assert isinstance(body, AsyncIterablePayload)
        with pytest.raises(TypeError, match="as_bytes"):
            body.decode()
        assert await body.as_bytes() == b"one two"
        seen.append(body.decode())
        return response  # still sent whole, from what was gathered

    client = await make_client(app_for(handler))
    response = await client.get("/")
    assert await response.read() == b"one two"
    assert seen == ["one two"]


def test_body_and_text_of_a_file_body(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello")
    with path.open("rb") as file:
        response = web.Response(body=file)
        assert isinstance(response.body, Payload)
        assert response.text == "hello"
        assert response.content_length is None  # known when the head is written
    assert web.Response(body=b"raw").body == b"raw"
    assert isinstance(web.Response(body=io.BytesIO(b"")).body, BytesIOPayload)
    response = web.Response(body=io.BytesIO(b"x"))
    response.body = b"bytes again"
    assert response.body == b"bytes again"


async def test_payload_made_ahead_brings_its_disposition(tmp_path: Path) -> None:
    path = tmp_path / "r\u00e9sum\u00e9.pdf"
    path.write_bytes(b"%PDF")

    async def handler(request: web.Request) -> web.Response:
        payload = make_payload(path.open("rb"), charset=None)
        payload.set_content_disposition("inline", filename=path.name)
        return web.Response(body=payload)

    async with serve(app_for(handler)) as port:
        reply = await fetch(port)
    assert reply.body == b"%PDF"
    assert reply.headers["Content-Type"] == "application/pdf"
    assert reply.headers["Content-Disposition"] == (
        "inline; filename=\"r?sum?.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    )


def test_unsupported_body_type_is_refused() -> None:
    with pytest.raises(TypeError, match="Unsupported body type"):
        web.Response(body=object())
    with pytest.raises(TypeError, match="Unsupported body type"):
        web.Response(body=[b"a list"])


# -- multipart parts --------------------------------------------------------------------------


def multipart(*parts: tuple[dict[str, str], bytes]) -> tuple[bytes, str]:
    boundary = "b0undary"
    body = b""
    for headers, content in parts:
        body += f"--{boundary}\r\n".encode()
        body += "".join(f"{name}: {value}\r\n" for name, value in headers.items()).encode()
        body += b"\r\n" + content + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


async def test_uploaded_part_streams_back_out_with_its_headers(
    make_client: ClientFactory,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        reader = await request.multipart()
        part = await reader.next()
        return web.Response(body=part)

    data = bytes(range(256)) * 400
    body, ctype = multipart(
        (
            {
                "Content-Disposition": 'form-data; name="upload"; filename="pic.png"',
                "Content-Type": "image/png",
            },
            data,
        )
    )
    client = await make_client(app_for(handler))
    response = await client.post("/", data=body, headers={"Content-Type": ctype})
    assert response.status == 200
    assert await response.read() == data
    assert response.headers["Content-Type"] == "image/png"
    assert (
        response.headers["Content-Disposition"] == 'attachment; name="upload"; filename="pic.png"'
    )


async def test_part_transfer_encoding_is_undone(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        reader = await request.multipart()
        return web.Response(body=await reader.next())

    data = b"decoded bytes " * 5000
    body, ctype = multipart(
        (
            {
                "Content-Disposition": 'form-data; name="field"',
                "Content-Transfer-Encoding": "base64",
            },
            base64.encodebytes(data),
        )
    )
    client = await make_client(app_for(handler))
    response = await client.post("/", data=body, headers={"Content-Type": ctype})
    assert await response.read() == data
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"] == 'attachment; name="field"'


async def test_part_body_cannot_be_decoded_before_sending() -> None:
    async def handler(request: web.Request) -> web.Response:
        reader = await request.multipart()
        response = web.Response(body=await reader.next())
        body = response.body
        assert isinstance(body, Payload)
        with pytest.raises(TypeError):
            body.decode()
        with pytest.raises(TypeError):
            await body.as_bytes()
        return response

    body, ctype = multipart(({"Content-Disposition": 'form-data; name="a"'}, b"value"))
    async with serve(app_for(handler)) as port:
        reply = await fetch(port, "POST", headers={"Content-Type": ctype}, body=body)
    assert (reply.status, reply.body) == (200, b"value")


# -- compression ------------------------------------------------------------------------------


async def test_enable_compression_encodes_a_streamed_body(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"compress me " * 20_000)

    async def handler(request: web.Request) -> web.Response:
        response = web.Response(body=path.open("rb"))
        response.enable_compression()
        return response

    async with serve(app_for(handler)) as port:
        reply = await fetch(port, headers={"Accept-Encoding": "gzip"})
    assert reply.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in reply.headers
    assert gzip.decompress(reply.body) == path.read_bytes()
