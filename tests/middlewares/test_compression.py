"""``middlewares.compression``: negotiation, what is (not) compressed, streaming, request bodies.

Everything but the negotiation table goes through a real server on loopback and a raw
HTTP/1.1 client, so the tests see the bytes on the wire; bodies are checked by decoding
them with the real decoders (``gzip``, ``zlib``, ``brotli``, ``zstandard``) and with
``curl --compressed``.

Run as a script (``python -m tests.middlewares.test_compression``) to measure the
middleware's cost per request.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import json
import os
import shutil
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import brotli
import pytest

from middlewares import compression_middleware
from middlewares.compression import DEFAULT_PREFERENCE
from runtime import web
from runtime.http.codings import negotiate, parse_accept_encoding
from runtime.http.message import HttpVersion11, RequestMessage
from runtime.server.streams import EMPTY_PAYLOAD
from tests.support import Connection, Reply, build_request, read_chunk, read_head, serve, wire

HAS_ZSTD = importlib.util.find_spec("zstandard") is not None

TEXT = b"".join(
    b"<p>Paragraph %d: Berth compresses what is worth it.</p>\n" % i for i in range(500)
)
SMALL = b"<p>tiny</p>" * 40  # 440 bytes: compressible, under min_size
DATA = {"items": [{"id": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(300)]}


# -- the wire -------------------------------------------------------------------------------


async def fetch(
    port: int,
    target: str = "/",
    accept: str | None = None,
    *,
    method: str = "GET",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
) -> Reply:
    """One request on its own connection (closed after the answer), with ``accept`` as
    its Accept-Encoding."""
    all_headers = [("Connection", "close"), *headers]
    if accept is not None:
        all_headers.append(("Accept-Encoding", accept))
    return await wire.fetch(port, method, target, all_headers, body or None)


def decode(reply: Reply) -> bytes:
    """The body as the application sent it, decoded with the real decoders."""
    coding = reply.headers.get("Content-Encoding")
    if coding is None:
        return reply.body
    if coding == "gzip":
        return gzip.decompress(reply.body)
    if coding == "br":
        return bytes(brotli.decompress(reply.body))
    if coding == "deflate":
        return zlib.decompress(reply.body)
    if coding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(reply.body))
    raise AssertionError(f"unexpected coding {coding}")


# -- the application ----------------------------------------------------------------------


def whole(body: bytes, content_type: str = "text/html", **kwargs: Any) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type=content_type, **kwargs)

    return handler


async def status_handler(request: web.Request) -> web.StreamResponse:
    status = int(request.match_info["code"])
    if status in (204, 304):
        return web.Response(status=status, content_type="text/html")
    headers = {"Content-Range": f"bytes 0-{len(TEXT) - 1}/{len(TEXT) * 2}"} if status == 206 else {}
    return web.Response(status=status, body=TEXT, content_type="text/html", headers=headers)


async def raise_handler(request: web.Request) -> web.StreamResponse:
    exc = web.HTTPNotFound(content_type="text/html")
    exc.body = TEXT  # bytes: body= on an HTTP exception is deprecated
    raise exc


async def echo_handler(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    return web.Response(
        body=body,
        content_type="application/octet-stream",
        headers={
            "X-Seen-Encoding": request.headers.get("Content-Encoding", "-"),
            "X-Seen-Length": str(request.content_length),
        },
    )


async def json_handler(request: web.Request) -> web.StreamResponse:
    return web.json_response({"echo": await request.json()})


async def form_handler(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    return web.json_response({k: str(v) for k, v in form.items()})


async def ignore_body_handler(request: web.Request) -> web.StreamResponse:
    return web.Response(text="not read")


class SSE:
    """A server-sent event stream whose second event waits until the client saw the first."""

    def __init__(self) -> None:
        self.first_seen = asyncio.Event()

    async def handler(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: " + b"first " * 50 + b"\n\n")
        # Without a flush at each write the client would never see the first event, and
        # this wait would time out.
        await asyncio.wait_for(self.first_seen.wait(), 5)
        await response.write(b"data: second\n\n")
        await response.write_eof()
        return response


async def stream_with_length(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.content_length = len(TEXT)
    await response.prepare(request)
    await response.write(TEXT[:1000])
    await response.write(TEXT[1000:])
    await response.write_eof()
    return response


async def prepared_whole(request: web.Request) -> web.StreamResponse:
    response = web.Response(body=TEXT, content_type="text/html")
    await response.prepare(request)
    await response.write_eof()
    return response


async def self_compressed(request: web.Request) -> web.StreamResponse:
    response = web.Response(body=TEXT, content_type="text/html")
    response.enable_compression()  # the runtime's own gzip/deflate, aiohttp's API
    return response


async def self_compressed_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/html"})
    response.enable_compression()
    await response.prepare(request)
    await response.write(TEXT)
    await response.write_eof()
    return response


async def small_stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    response.content_length = len(SMALL)
    await response.prepare(request)
    await response.write(SMALL)
    return response


def make_app(tmp_path: Path | None = None, **options: Any) -> web.Application:
    app_kwargs: dict[str, Any] = (
        {"client_max_size": options.pop("client_max_size")} if "client_max_size" in options else {}
    )
    if "auto_decompress" in options:  # the server's own request decoding
        app_kwargs["handler_args"] = {"auto_decompress": options.pop("auto_decompress")}
    app = web.Application(middlewares=[compression_middleware(**options)], **app_kwargs)
    sse = SSE()
    app[SSE_KEY] = sse
    router = app.router
    router.add_get("/text", whole(TEXT))
    router.add_get("/small", whole(SMALL))
    router.add_get("/json", whole(json.dumps(DATA).encode(), "application/json"))
    router.add_get("/problem", whole(TEXT, "application/problem+json"))
    router.add_get("/svg", whole(TEXT, "image/svg+xml"))
    router.add_get("/png", whole(TEXT, "image/png"))
    router.add_get("/random", whole(os.urandom(8192), "text/plain"))
    router.add_get("/big", whole(TEXT * 12, "text/plain"))
    router.add_get("/encoded", whole(gzip.compress(TEXT), headers={"Content-Encoding": "gzip"}))
    router.add_get("/no-transform", whole(TEXT, headers={"Cache-Control": "public, no-transform"}))
    router.add_get("/vary-cookie", whole(TEXT, headers={"Vary": "Cookie"}))
    router.add_get("/vary-star", whole(TEXT, headers={"Vary": "*"}))
    router.add_get("/vary-both", whole(TEXT, headers={"Vary": "accept-encoding"}))
    router.add_get("/etag", whole(TEXT, headers={"ETag": '"v1"'}))
    router.add_get("/etag-weak", whole(TEXT, headers={"ETag": 'W/"v1"'}))
    router.add_get("/status/{code}", status_handler)
    router.add_get("/raise", raise_handler)
    router.add_get("/sse", sse.handler)
    router.add_get("/stream-length", stream_with_length)
    router.add_get("/small-stream", small_stream)
    router.add_get("/prepared-whole", prepared_whole)
    router.add_get("/self-compressed", self_compressed)
    router.add_get("/self-compressed-stream", self_compressed_stream)
    router.add_post("/echo", echo_handler)
    router.add_post("/json", json_handler)
    router.add_post("/form", form_handler)
    router.add_post("/ignore", ignore_body_handler)
    if tmp_path is not None:
        page = tmp_path / "page.html"
        page.write_bytes(TEXT)

        async def file_handler(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(page)

        router.add_get("/file", file_handler)
    return app


# -- negotiation (RFC 9110 12.5.3) ------------------------------------------------------------

SSE_KEY = web.AppKey("sse", SSE)
SERVER = ("br", "gzip")


@pytest.mark.parametrize(
    ("header", "coding", "identity_ok"),
    [
        (None, None, True),  # no field: answer unencoded
        ("", None, True),  # empty field: no coding wanted
        ("gzip", "gzip", True),
        ("gzip, br", "br", True),  # a tie: the server's preference
        ("gzip;q=1.0, br;q=0.5", "gzip", True),  # the client's weights first
        ("br;q=0, gzip", "gzip", True),  # q=0 refuses
        ("*", "br", True),
        ("*, br;q=0", "gzip", True),  # "*" covers what is not named
        ("*;q=0.5, gzip", "gzip", True),
        ("identity", None, True),
        ("gzip;q=0.5, identity", None, True),  # identity preferred
        ("gzip, identity;q=0.5", "gzip", True),
        ("identity;q=0, gzip;q=0.1", "gzip", False),
        ("identity;q=0", None, False),
        ("*;q=0", None, False),
        ("*;q=0, identity", None, True),  # a more specific identity entry wins
        ("GZIP;Q=0.8", "gzip", True),  # case-insensitive
        ("x-gzip", "gzip", True),  # RFC 9110 8.4.1.3
        ("gzip;q=abc", None, True),  # malformed weight: refused, not preferred
        ("gzip;q=1.5", None, True),
        ("gzip;q=0.001", "gzip", True),
        ("deflate, compress", None, True),  # nothing we offer
        (" , ,gzip ; q=0.9 ,", "gzip", True),
    ],
)
def test_negotiation(header: str | None, coding: str | None, identity_ok: bool) -> None:
    result = negotiate(header, SERVER)
    assert (result.coding, result.identity_ok) == (coding, identity_ok)


def test_parse_accept_encoding_keeps_weights() -> None:
    assert parse_accept_encoding("br;q=0.9, gzip;q=0.8, *;q=0.1, identity") == {
        "br": 0.9,
        "gzip": 0.8,
        "*": 0.1,
        "identity": 1.0,
    }


def test_default_preference_has_zstd_only_when_importable() -> None:
    if HAS_ZSTD:
        assert DEFAULT_PREFERENCE == ("br", "zstd", "gzip")
    else:
        assert DEFAULT_PREFERENCE == ("br", "gzip")
        with pytest.raises(ValueError, match="zstandard"):
            compression_middleware(preference=["zstd", "gzip"])


@pytest.mark.parametrize(
    "options",
    [
        {"preference": ["lzma"]},
        {"preference": ["gzip", "GZIP"]},
        {"gzip_level": 10},
        {"brotli_quality": 12},
        {"zstd_level": 22} if HAS_ZSTD else {"min_size": -1},
        {"compressible_types": ["json"]},
        {"executor_threshold": -5},
        {"max_decoded_size": -1},
    ],
)
def test_bad_settings_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        compression_middleware(**options)


# -- whole bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(("accept", "coding"), [("gzip", "gzip"), ("br", "br"), ("gzip, br", "br")])
async def test_whole_body_is_compressed_and_decodes(accept: str, coding: str) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/text", accept)
    assert reply.status == 200
    assert reply.headers["Content-Encoding"] == coding
    assert reply.headers["Vary"] == "Accept-Encoding"
    assert int(reply.headers["Content-Length"]) == len(reply.body) < len(TEXT) // 5
    assert decode(reply) == TEXT


async def test_file_body_is_compressed_as_it_streams(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_bytes(TEXT)

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=path.open("rb"))

    app = web.Application(middlewares=[compression_middleware()])
    app.router.add_get("/", handler)
    async with serve(app) as port:
        reply = await fetch(port, "/", "gzip")
    assert reply.headers["Content-Encoding"] == "gzip"
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert decode(reply) == TEXT


async def test_deflate_when_offered() -> None:
    async with serve(make_app(preference=["gzip", "deflate"])) as port:
        reply = await fetch(port, "/text", "deflate")
    assert reply.headers["Content-Encoding"] == "deflate"
    assert zlib.decompress(reply.body) == TEXT  # the zlib container (RFC 9110 8.4.1.2)


@pytest.mark.skipif(not HAS_ZSTD, reason="zstandard is not installed")
async def test_zstd_when_installed() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/text", "zstd")
        preferred = await fetch(port, "/text", "gzip, deflate, br, zstd")
    assert reply.headers["Content-Encoding"] == "zstd"
    assert decode(reply) == TEXT
    assert preferred.headers["Content-Encoding"] == "br"


async def test_zstd_is_not_offered_when_not_in_the_preference() -> None:
    # What the default preference is without the zstandard package (see the test above
    # for the default itself): a client that accepts only zstd gets the identity body.
    async with serve(make_app(preference=["br", "gzip"])) as port:
        reply = await fetch(port, "/text", "zstd")
    assert "Content-Encoding" not in reply.headers
    assert reply.body == TEXT
    assert reply.headers["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize("path", ["/json", "/problem", "/svg"])
async def test_compressible_types(path: str) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, path, "gzip")
    assert reply.headers["Content-Encoding"] == "gzip"
    assert decode(reply)[:1] in (b"{", b"<")


@pytest.mark.parametrize(
    ("path", "accept"),
    [
        ("/text", None),  # no Accept-Encoding
        ("/text", "identity"),
        ("/text", "gzip;q=0"),
        ("/small", "gzip"),  # under min_size
        ("/random", "gzip"),  # would not shrink
    ],
)
async def test_left_alone_but_varies(path: str, accept: str | None) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, path, accept)
    assert "Content-Encoding" not in reply.headers
    assert reply.headers["Vary"] == "Accept-Encoding"
    assert int(reply.headers["Content-Length"]) == len(reply.body)


async def test_small_body_is_compressed_when_identity_is_refused() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/small", "identity;q=0, br;q=0.5")
    assert reply.headers["Content-Encoding"] == "br"
    assert decode(reply) == SMALL


async def test_min_size_is_configurable() -> None:
    async with serve(make_app(min_size=0)) as port:
        reply = await fetch(port, "/small", "gzip")
    assert reply.headers["Content-Encoding"] == "gzip"
    assert decode(reply) == SMALL


async def test_incompressible_type_is_untouched() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/png", "gzip, br")
    assert "Content-Encoding" not in reply.headers
    assert "Vary" not in reply.headers
    assert reply.body == TEXT


async def test_compressible_types_are_configurable() -> None:
    async with serve(make_app(compressible_types=["image/png"])) as port:
        png = await fetch(port, "/png", "gzip")
        html = await fetch(port, "/text", "gzip")
    assert png.headers["Content-Encoding"] == "gzip"
    assert "Content-Encoding" not in html.headers


async def test_already_encoded_is_never_encoded_twice() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/encoded", "gzip, br")
    assert reply.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(reply.body) == TEXT


@pytest.mark.parametrize(
    "path",
    [
        "/self-compressed",
        "/self-compressed-stream",
    ],
)
async def test_enable_compression_in_the_handler_is_not_doubled(path: str) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, path, "gzip, br")
    assert reply.headers.getall("Content-Encoding") == ["br"]  # ours, decided first
    assert decode(reply) == TEXT


async def test_no_transform_is_respected() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/no-transform", "gzip")
    assert "Content-Encoding" not in reply.headers
    assert reply.body == TEXT


@pytest.mark.parametrize(
    ("path", "vary"),
    [
        ("/vary-cookie", "Cookie, Accept-Encoding"),
        ("/vary-star", "*"),
        ("/vary-both", "accept-encoding"),
    ],
)
async def test_vary_is_merged(path: str, vary: str) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, path, "gzip")
    assert reply.headers.getall("Vary") == [vary]
    assert reply.headers["Content-Encoding"] == "gzip"


async def test_strong_etag_becomes_weak_when_compressed() -> None:
    async with serve(make_app()) as port:
        compressed = await fetch(port, "/etag", "br")
        plain = await fetch(port, "/etag")
        weak = await fetch(port, "/etag-weak", "br")
    assert compressed.headers["ETag"] == 'W/"v1"'
    assert plain.headers["ETag"] == '"v1"'
    assert weak.headers["ETag"] == 'W/"v1"'


@pytest.mark.parametrize("code", [204, 206, 304])
async def test_statuses_without_a_compressible_body(code: int) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, f"/status/{code}", "gzip")
    assert reply.status == code
    assert "Content-Encoding" not in reply.headers


async def test_error_status_body_is_compressed() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/status/500", "gzip")
    assert reply.status == 500
    assert decode(reply) == TEXT


async def test_head_is_not_compressed() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/text", "gzip", method="HEAD")
    assert reply.status == 200
    assert "Content-Encoding" not in reply.headers
    assert reply.headers["Vary"] == "Accept-Encoding"
    assert reply.headers["Content-Length"] == str(len(TEXT))


async def test_raised_http_exception_is_compressed() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/raise", "br")
    assert reply.status == 404
    assert reply.headers["Content-Encoding"] == "br"
    assert decode(reply) == TEXT


async def test_file_response_is_left_to_its_precompressed_siblings(tmp_path: Path) -> None:
    async with serve(make_app(tmp_path)) as port:
        reply = await fetch(port, "/file", "gzip")
    assert reply.status == 200
    assert "Content-Encoding" not in reply.headers
    assert reply.body == TEXT


class CountingExecutor(ThreadPoolExecutor):
    def __init__(self) -> None:
        super().__init__(max_workers=1)
        self.jobs = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.jobs += 1
        return super().submit(fn, *args, **kwargs)


async def test_big_bodies_are_compressed_in_the_executor() -> None:
    executor = CountingExecutor()
    try:
        async with serve(make_app(executor=executor)) as port:
            small = await fetch(port, "/text", "gzip")  # 28 KB: under the 64 KiB threshold
            assert executor.jobs == 0
            big = await fetch(port, "/big", "gzip")
            assert executor.jobs == 1
    finally:
        executor.shutdown()
    assert decode(small) == TEXT
    assert decode(big) == TEXT * 12


async def test_curl_compressed_decodes_it() -> None:
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    async with serve(make_app()) as port:
        process = await asyncio.create_subprocess_exec(
            curl,
            "--silent",
            "--show-error",
            "--compressed",
            "--dump-header",
            "-",
            f"http://127.0.0.1:{port}/text",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"content-encoding: " in head.lower()  # curl asked, we encoded
    assert body == TEXT  # and curl decoded it back


# -- streamed bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "coding",
    ["gzip", "br", pytest.param("zstd", marks=pytest.mark.skipif(not HAS_ZSTD, reason="no zstd"))],
)
async def test_stream_is_flushed_at_each_write(coding: str) -> None:
    app = make_app()
    async with serve(app) as port, await Connection.open(port) as conn:
        headers = [("Connection", "close"), ("Accept-Encoding", coding)]
        conn.writer.write(build_request("GET", "/sse", headers, host="localhost"))
        _, head = await read_head(conn.reader)
        assert head["Content-Encoding"] == coding
        assert head["Transfer-Encoding"] == "chunked"
        assert head["Vary"] == "Accept-Encoding"
        inflate: Callable[[bytes], bytes]
        if coding == "gzip":
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress
        elif coding == "br":
            inflate = brotli.Decompressor().process
        else:
            import zstandard

            inflate = zstandard.ZstdDecompressor().decompressobj().decompress
        first = inflate(await read_chunk(conn.reader))
        assert first == b"data: " + b"first " * 50 + b"\n\n"  # decodable on its own
        app[SSE_KEY].first_seen.set()
        rest = b""
        while chunk := await read_chunk(conn.reader):
            rest += inflate(chunk)
        assert rest == b"data: second\n\n"


async def test_stream_content_length_is_dropped_when_compressed() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/stream-length", "gzip")
        plain = await fetch(port, "/stream-length")
    assert reply.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in reply.headers
    assert decode(reply) == TEXT
    assert plain.headers["Content-Length"] == str(len(TEXT))
    assert plain.body == TEXT


async def test_whole_response_prepared_by_the_handler_is_compressed() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/prepared-whole", "br")
    assert reply.headers["Content-Encoding"] == "br"
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    assert decode(reply) == TEXT


async def test_small_stream_with_known_length_is_not_compressed() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "/small-stream", "gzip")
    assert "Content-Encoding" not in reply.headers
    assert reply.body == SMALL


async def test_websocket_upgrade_is_not_compressed() -> None:
    ws_class = getattr(web, "WebSocketResponse", None)
    if ws_class is None:
        ws_class = web.WebSocketResponse

    async def ws_handler(request: web.Request) -> web.StreamResponse:
        ws = ws_class()
        await ws.prepare(request)
        await ws.close()
        return ws  # type: ignore[no-any-return]

    app = make_app()
    app.router.add_get("/ws", ws_handler)
    headers = [
        ("Accept-Encoding", "gzip, br"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    async with serve(app) as port:
        reply = await fetch(port, "/ws", headers=headers)
    assert reply.status == 101
    assert "Content-Encoding" not in reply.headers


# -- request bodies --------------------------------------------------------------------------

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "br": lambda data: bytes(brotli.compress(data)),
    "deflate": zlib.compress,
}


@pytest.mark.parametrize("coding", sorted(ENCODERS))
async def test_request_body_is_decoded(coding: str) -> None:
    payload = TEXT * 3
    async with serve(make_app()) as port:
        reply = await fetch(
            port,
            "/echo",
            method="POST",
            headers=[("Content-Encoding", coding)],
            body=ENCODERS[coding](payload),
        )
    assert reply.status == 200, reply.body
    assert reply.body == payload
    # The handler sees the body as if it had been sent plain, of unknown length.
    assert reply.headers["X-Seen-Encoding"] == "-"
    assert reply.headers["X-Seen-Length"] == "None"


async def test_raw_deflate_request_body_is_decoded() -> None:
    # RFC 9110 8.4.1.2 says zlib-wrapped, but clients send raw deflate too: both are read.
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = raw.compress(TEXT) + raw.flush()
    async with serve(make_app()) as port:
        reply = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", "deflate")], body=body
        )
    assert reply.status == 200, reply.body
    assert reply.body == TEXT


async def test_json_and_form_bodies_are_decoded() -> None:
    async with serve(make_app()) as port:
        as_json = await fetch(
            port,
            "/json",
            method="POST",
            headers=[("Content-Encoding", "gzip"), ("Content-Type", "application/json")],
            body=gzip.compress(json.dumps(DATA).encode()),
        )
        as_form = await fetch(
            port,
            "/form",
            method="POST",
            headers=[
                ("Content-Encoding", "br"),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body=bytes(brotli.compress(b"name=berth&kind=server")),
        )
    assert json.loads(as_json.body) == {"echo": DATA}
    assert json.loads(as_form.body) == {"name": "berth", "kind": "server"}


@pytest.mark.parametrize("coding", ["gzip", "br"])
async def test_compression_bomb_gets_413_without_being_inflated(coding: str) -> None:
    bomb = ENCODERS[coding](bytes(10 * 1024 * 1024))  # 10 MiB of zeros in ~10 KB (gzip)
    assert len(bomb) < 20_000
    tracemalloc.start()
    try:
        async with serve(make_app()) as port:  # client_max_size: 1 MiB
            reply = await fetch(
                port, "/echo", method="POST", headers=[("Content-Encoding", coding)], body=bomb
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reply.status == 413
    assert peak < 5 * 1024 * 1024  # 10 MiB were never produced


async def test_decoded_size_limit_is_configurable() -> None:
    body = gzip.compress(bytes(20_000))
    # The server decodes first (capped at client_max_size) unless told not to; then this
    # middleware's own cap applies.
    async with serve(make_app(max_decoded_size=10_000, auto_decompress=False)) as port:
        over = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", "gzip")], body=body
        )
    async with serve(make_app(client_max_size=30_000)) as port:
        under = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", "gzip")], body=body
        )
    assert over.status == 413
    assert under.status == 200
    assert under.body == bytes(20_000)


@pytest.mark.parametrize(
    ("coding", "body"),
    [
        ("gzip", b"this is not gzip at all"),
        ("gzip", gzip.compress(TEXT)[:-20]),  # truncated
        ("br", b"\xff\xfe not brotli"),
        ("deflate", zlib.compress(TEXT) + b"trailing junk"),
    ],
)
async def test_malformed_request_body_gets_400(coding: str, body: bytes) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", coding)], body=body
        )
    assert reply.status == 400
    assert coding.encode() in reply.body


@pytest.mark.parametrize("coding", ["compress", "zstd", "gzip, br"])
async def test_unsupported_request_coding_gets_415(coding: str) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", coding)], body=b"xxxx"
        )
    assert reply.status == 415
    assert reply.headers["Accept-Encoding"] == "gzip, br, deflate"


async def test_an_unsupported_coding_that_is_not_utf8_is_shown_as_received() -> None:
    # The octet 0xE5 (obs-text, RFC 9110 5.5), sent raw: a 415 that quotes it, not a 500.
    async with serve(make_app()) as port:
        reply = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", "gz\udce5ip")], body=b"x"
        )
    assert reply.status == 415
    assert reply.body == b"Unsupported request Content-Encoding: gz\\xe5ip"


async def test_identity_request_coding_passes_through() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", "identity")], body=b"abc"
        )
    assert reply.status == 200
    assert reply.body == b"abc"


async def test_unread_encoded_body_is_not_decoded() -> None:
    async with serve(make_app()) as port:
        reply = await fetch(
            port,
            "/ignore",
            method="POST",
            headers=[("Content-Encoding", "gzip")],
            body=b"garbage that would be a 400 if anyone decoded it",
        )
    assert reply.status == 200
    assert reply.body == b"not read"


async def test_request_decoding_can_be_turned_off() -> None:
    body = gzip.compress(TEXT)
    # The server's auto_decompress decodes before any middleware runs: both are off here.
    async with serve(make_app(decode_requests=False, auto_decompress=False)) as port:
        reply = await fetch(
            port, "/echo", method="POST", headers=[("Content-Encoding", "gzip")], body=body
        )
    assert reply.body == body
    assert reply.headers["X-Seen-Encoding"] == "gzip"


# -- cost (python -m tests.middlewares.test_compression) --------------------------------------


async def _rate(port: int, target: str, accept: str | None, seconds: float) -> float:
    """Requests per second over one keep-alive connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    extra = f"Accept-Encoding: {accept}\r\n" if accept else ""
    request = f"GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        count += 1
    writer.close()
    return count / seconds


def bare_request(path: str, headers: dict[str, str]) -> web.Request:
    """A request as the parser makes it, with no connection behind it (for timing calls)."""
    raw = tuple((k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
    message = RequestMessage("GET", path, HttpVersion11, raw)
    return web.Request(message, EMPTY_PAYLOAD, None, None, None, None)  # type: ignore[arg-type]


async def _per_call(path: str, body: bytes, content_type: str, accept: str | None) -> float:
    """Microseconds the middleware adds to one call of a handler (no network)."""
    middleware = compression_middleware()
    headers = {"Accept-Encoding": accept} if accept else {}

    async def handler(request: Any) -> web.StreamResponse:
        return web.Response(body=body, content_type=content_type)

    timings = []
    for with_middleware in (False, True) * 3:
        rounds = 2000
        request = bare_request(path, headers)
        start = time.perf_counter()
        for _ in range(rounds):
            if with_middleware:
                await middleware(request, handler)
            else:
                await handler(request)
        timings.append((with_middleware, (time.perf_counter() - start) / rounds * 1e6))
    bare = min(t for m, t in timings if not m)
    return min(t for m, t in timings if m) - bare


async def _measure() -> None:
    print("per call, no network (best of 3):")
    for label, path, body, ctype, accept in [
        ("440 B html, no Accept-Encoding", "/small", SMALL, "text/html", None),
        ("440 B html, gzip accepted (Vary only)", "/small", SMALL, "text/html", "gzip, br"),
        ("28 KB png (not compressible)", "/png", TEXT, "image/png", "gzip, br"),
        ("28 KB html, no Accept-Encoding", "/text", TEXT, "text/html", None),
        ("28 KB html, gzip 6", "/text", TEXT, "text/html", "gzip"),
        ("28 KB html, brotli 4", "/text", TEXT, "text/html", "br"),
    ]:
        print(f"  {label:40s} +{await _per_call(path, body, ctype, accept):8.1f} us")
    plain = web.Application()
    for path, body in (("/small", SMALL), ("/text", TEXT)):
        plain.router.add_get(path, whole(body))
    print("through a server on loopback, one keep-alive connection (best of 5 rounds):")
    for path in ("/small", "/text"):
        cases = [
            ("without the middleware", plain, "gzip, br"),
            ("middleware, no Accept-Encoding", make_app(), None),
            ("middleware, gzip", make_app(), "gzip"),
            ("middleware, br", make_app(), "br"),
        ]
        best = dict.fromkeys(range(len(cases)), 0.0)
        async with AsyncExitStack() as stack:
            ports = [await stack.enter_async_context(serve(app)) for _, app, _ in cases]
            for _ in range(5):
                for index, (_, _, accept) in enumerate(cases):
                    rate = await _rate(ports[index], path, accept, 0.5)
                    best[index] = max(best[index], rate)
        for index, (label, _, _) in enumerate(cases):
            rate = best[index]
            print(f"  {path:7s} {label:32s} {rate:8.0f} req/s  {1e6 / rate:7.1f} us/req")


if __name__ == "__main__":
    asyncio.run(_measure())
