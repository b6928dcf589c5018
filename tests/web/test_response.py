"""``StreamResponse``, ``Response``, the JSON helpers and compression, through the test
client: what the handler sets is what the client sees."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import json
import zlib
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from runtime import web
from tests.support import Connection, Reply, build_request, fetch, read_reply, serve
from tests.web.support import ClientFactory, send

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve_one(make_client: ClientFactory, handler: Handler, path: str = "/") -> Any:
    app = web.Application()
    app.router.add_route("*", path, handler)
    return await make_client(app)


async def answer(
    make_client: ClientFactory,
    handler: Handler,
    method: str = "GET",
    headers: dict[str, str] | None = None,
) -> Reply:
    """What the client receives for one request to ``handler``."""
    return await send(await serve_one(make_client, handler), method, "/", headers)


# -- Response -------------------------------------------------------------------------


async def test_response_text_status_reason_headers(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            text="caf\u00e9", status=201, reason="Made It", headers={"X-Custom": "1"}
        )

    client = await serve_one(make_client, handler)
    response = await client.get("/")
    assert (response.status, response.reason) == (201, "Made It")
    assert response.headers["X-Custom"] == "1"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Content-Length"] == "5"
    assert await response.text() == "caf\u00e9"


async def test_response_body_content_type_and_charset(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        kind = request.query["kind"]
        if kind == "bytes":
            return web.Response(body=b"\x00\x01")
        if kind == "typed":
            return web.Response(text="<p>\u00e9</p>", content_type="text/html", charset="latin-1")
        return web.Response(body=b"{}", content_type="application/json")

    client = await serve_one(make_client, handler)
    raw = await send(client, "GET", "/?kind=bytes")
    assert raw.body == b"\x00\x01"
    assert raw.headers["Content-Type"] == "application/octet-stream"
    typed = await send(client, "GET", "/?kind=typed")
    assert typed.headers["Content-Type"] == "text/html; charset=latin-1"
    assert typed.body == "<p>\u00e9</p>".encode("latin-1")
    plain = await send(client, "GET", "/?kind=json")
    assert plain.headers["Content-Type"] == "application/json"


def test_response_constructor_rules() -> None:
    with pytest.raises(ValueError, match="body and text"):
        web.Response(body=b"x", text="x")
    with pytest.raises(ValueError, match="charset must not be in content_type"):
        web.Response(text="x", content_type="text/plain; charset=utf-8")
    with pytest.raises(ValueError, match="forbidden"):
        web.Response(text="x", headers={"Content-Type": "text/plain"}, content_type="text/html")
    with pytest.raises(TypeError):
        web.Response(text=b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        web.Response(body=object())
    response = web.Response(text="abc")
    assert (response.text, response.body, response.content_length) == ("abc", b"abc", 3)
    with pytest.raises(RuntimeError, match="automatically"):
        response.content_length = 10


# -- reason phrases -------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["OK\r\nSet-Cookie: a=1", "OK\nX: y", "OK\r"])
def test_reason_with_cr_or_lf_is_refused(reason: str) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        web.Response(reason=reason)
    with pytest.raises(ValueError, match="CR or LF"):
        web.HTTPNotFound(reason=reason)
    response = web.StreamResponse()
    with pytest.raises(ValueError, match="CR or LF"):
        response.set_status(200, reason)


async def test_reason_with_cr_lf_never_splits_the_response(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(reason="OK\r\nSet-Cookie: stolen=1")

    reply = await answer(make_client, handler)
    assert reply.status == 500
    assert "Set-Cookie" not in reply.headers


# -- StreamResponse -------------------------------------------------------------------


async def test_stream_response_prepare_write_write_eof(make_client: ClientFactory) -> None:
    states: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=202, reason="Streaming")
        response.content_type = "text/plain"
        response.charset = "utf-8"
        states.append((response.prepared, response.content_type, response.charset))
        writer = await response.prepare(request)
        again = await response.prepare(request)  # prepared already: the same writer
        states.append((writer is not None, response.prepared, again is writer))
        await response.write(b"one,")
        await response.write(bytearray(b"two,"))
        await response.write_eof(b"three")
        await response.write_eof()  # a second call is a no-op
        with pytest.raises(RuntimeError):
            await response.write(b"late")
        with pytest.raises(RuntimeError, match="status"):
            response.set_status(200)
        return response

    client = await serve_one(make_client, handler)
    reply = await send(client, "GET", "/")
    await client.close()
    assert (reply.status, reply.body) == (202, b"one,two,three")
    assert reply.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert reply.headers["Transfer-Encoding"] == "chunked"  # no length given: chunked
    assert states[0] == (False, "text/plain", "utf-8")
    assert states[1] == (True, True, True)


async def test_content_length_and_chunked_encoding(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if request.query.get("mode") == "length":
            response.content_length = 5
            assert response.content_length == 5
            with pytest.raises(RuntimeError, match="content length is set"):
                response.enable_chunked_encoding()
        else:
            response.enable_chunked_encoding()
            assert response.chunked
            with pytest.raises(RuntimeError, match="chunked encoding is enabled"):
                response.content_length = 5
        await response.prepare(request)
        await response.write(b"hello")
        await response.write_eof()
        return response

    client = await serve_one(make_client, handler)
    sized = await send(client, "GET", "/?mode=length")
    assert sized.headers["Content-Length"] == "5" and "Transfer-Encoding" not in sized.headers
    chunked = await send(client, "GET", "/?mode=chunked")
    assert chunked.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in chunked.headers
    assert sized.body == chunked.body == b"hello"


async def test_write_before_prepare_is_an_error() -> None:
    response = web.StreamResponse()
    with pytest.raises(RuntimeError, match="prepare"):
        await response.write(b"x")
    with pytest.raises(RuntimeError, match="prepare"):
        await response.write_eof()


async def test_cookies_set_and_deleted(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="ok")
        response.set_cookie(
            "session",
            "abc",
            max_age=3600,
            domain="example.test",
            path="/app",
            secure=True,
            httponly=True,
            samesite="Lax",
        )
        response.set_cookie("plain", "1")
        response.del_cookie("old", path="/app")
        return response

    response = await (await serve_one(make_client, handler)).get("/")
    lines = response.headers.getall("Set-Cookie")
    assert len(lines) == 3
    session = response.cookies["session"]
    assert session.value == "abc"
    assert (session["max-age"], session["domain"], session["path"]) == (
        "3600",
        "example.test",
        "/app",
    )
    assert session["secure"] and session["httponly"] and session["samesite"] == "Lax"
    assert response.cookies["plain"]["path"] == "/"
    old = response.cookies["old"]
    assert old.value == "" and old["max-age"] == "0" and old["path"] == "/app"
    assert old["expires"] == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_set_cookie_after_del_cookie_sets_it_again() -> None:
    response = web.StreamResponse()
    response.del_cookie("a")
    response.set_cookie("a", "back")
    morsel = response.cookies["a"]
    assert morsel.value == "back"
    assert not morsel.get("expires") and not morsel.get("max-age")


async def test_last_modified_and_etag(make_client: ClientFactory) -> None:
    moment = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.Response(text="x")
        response.last_modified = moment
        assert response.last_modified == moment
        response.etag = web.ETag(value="v1", is_weak=True)
        assert response.etag == web.ETag(value="v1", is_weak=True)
        return response

    reply = await answer(make_client, handler)
    assert reply.headers["Last-Modified"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    assert reply.headers["ETag"] == 'W/"v1"'


def test_last_modified_and_etag_accept_aiohttps_types() -> None:
    response = web.StreamResponse()
    response.last_modified = 1_700_000_000.2  # rounded up to the next second
    assert response.headers["Last-Modified"] == "Tue, 14 Nov 2023 22:13:21 GMT"
    response.last_modified = "Sun, 06 Nov 1994 08:49:37 GMT"
    assert response.last_modified is not None and response.last_modified.year == 1994
    response.last_modified = None
    assert "Last-Modified" not in response.headers
    response.etag = "strong"
    assert response.headers["ETag"] == '"strong"'
    response.etag = "*"
    assert response.headers["ETag"] == "*"
    with pytest.raises(ValueError, match="Invalid ETag"):
        response.etag = 'with"quote'
    response.etag = None
    assert response.etag is None


# -- JSON -----------------------------------------------------------------------------


async def test_json_response(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("none"):
            return web.json_response(None)
        return web.json_response(
            {"price": 1.5, "name": "caf\u00e9"},
            status=201,
            dumps=lambda data: json.dumps(data, sort_keys=True),
        )

    client = await serve_one(make_client, handler)
    response = await client.get("/")
    assert response.status == 201
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert await response.text() == '{"name": "caf\\u00e9", "price": 1.5}'
    assert await response.json() == {"price": 1.5, "name": "caf\u00e9"}
    null = await client.get("/?none=1")
    assert await null.text() == "null"  # None is data, as in aiohttp
    with pytest.raises(ValueError, match="only one"):
        web.json_response({"a": 1}, text="{}")


async def test_json_bytes_response(make_client: ClientFactory) -> None:
    calls: list[Any] = []

    def dumps(data: Any) -> bytes:  # orjson.dumps' shape: bytes out
        calls.append(data)
        return json.dumps(data, separators=(",", ":")).encode()

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.query.get("none"):
            return web.json_bytes_response(None, dumps=dumps)
        if request.query.get("body"):
            return web.json_bytes_response(body=b'{"ready":true}', dumps=dumps, status=202)
        return web.json_bytes_response(
            {"items": [1, 2]}, dumps=dumps, headers={"X-A": "1"}, content_type="application/x+json"
        )

    client = await serve_one(make_client, handler)
    response = await client.get("/")
    assert response.headers["Content-Type"] == "application/x+json"
    assert response.headers["X-A"] == "1"
    assert await response.read() == b'{"items":[1,2]}'
    ready = await client.get("/?body=1")
    assert (ready.status, await ready.read()) == (202, b'{"ready":true}')
    null = await client.get("/?none=1")
    assert await null.read() == b"null"
    assert calls == [{"items": [1, 2]}, None]
    with pytest.raises(ValueError, match="only one"):
        web.json_bytes_response({"a": 1}, body=b"{}", dumps=dumps)


# -- HTTP exceptions: raised or returned --------------------------------------------


@pytest.mark.parametrize("how", ["raise", "return"])
async def test_http_exception_raised_or_returned(make_client: ClientFactory, how: str) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        exc = web.HTTPFound("/elsewhere", headers={"X-Why": "moved"})
        if how == "raise":
            raise exc
        return exc

    with _returned_warns(how):
        reply = await answer(make_client, handler)
    assert reply.status == 302
    assert reply.headers["Location"] == "/elsewhere"
    assert reply.headers["X-Why"] == "moved"
    assert reply.text == "302: Found"


@pytest.mark.parametrize("how", ["raise", "return"])
async def test_http_exception_through_middlewares(make_client: ClientFactory, how: str) -> None:
    seen: list[int] = []

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            seen.append(exc.status)
            raise
        seen.append(response.status)
        return response

    async def handler(request: web.Request) -> web.StreamResponse:
        exc = web.HTTPUnprocessableEntity(text="bad input", content_type="text/plain")
        if how == "raise":
            raise exc
        return exc

    app = web.Application(middlewares=[observe])
    app.router.add_post("/", handler)
    with _returned_warns(how):
        reply = await send(await make_client(app), "POST", "/")
    assert (reply.status, reply.text, seen) == (422, "bad input", [422])


def _returned_warns(how: str) -> contextlib.AbstractContextManager[object]:
    """Returning an exception still answers with it, but warns as aiohttp does (#2415)."""
    if how == "raise":
        return contextlib.nullcontext()
    return pytest.warns(DeprecationWarning, match="deprecated: raise it instead")


def test_redirects_share_the_aiohttp_base_class() -> None:
    for cls in (web.HTTPFound, web.HTTPSeeOther, web.HTTPPermanentRedirect, web.HTTPUseProxy):
        assert issubclass(cls, web.HTTPMove)
    assert not issubclass(web.HTTPNotModified, web.HTTPMove)


# -- compression --------------------------------------------------------------------


GO = web.AppKey("go", asyncio.Event)
BIG_TEXT = "Berth compresses what the client accepts. " * 200


def _compressing(force: web.ContentCoding | None = None, **response: Any) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.Response(text=BIG_TEXT, **response)
        resp.enable_compression(force)
        assert resp.compression
        return resp

    return handler


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("gzip, deflate, br", "gzip"),  # equal weights: gzip first
        ("deflate;q=1, gzip;q=0.5", "deflate"),
        ("gzip;q=0, deflate", "deflate"),  # q=0 refuses (aiohttp would still send gzip)
        ("br", None),
        ("identity", None),
        ("*", "gzip"),
        (None, None),
    ],
)
async def test_enable_compression_negotiates(
    make_client: ClientFactory, accept: str | None, coding: str | None
) -> None:
    headers = {"Accept-Encoding": accept} if accept is not None else None
    reply = await answer(make_client, _compressing(), headers=headers)
    assert reply.status == 200
    assert reply.headers.get("Content-Encoding") == coding
    assert reply.headers["Vary"] == "Accept-Encoding"
    assert int(reply.headers["Content-Length"]) == len(reply.body)
    decoded = {
        None: lambda body: body,
        "gzip": gzip.decompress,
        "deflate": zlib.decompress,
    }[coding](reply.body)
    assert decoded == BIG_TEXT.encode()
    if coding is not None:
        assert len(reply.body) < len(BIG_TEXT) // 10


async def test_enable_compression_forced(make_client: ClientFactory) -> None:
    reply = await answer(make_client, _compressing(web.ContentCoding.deflate))
    assert reply.headers["Content-Encoding"] == "deflate"
    assert "Vary" not in reply.headers  # not negotiated: the same for every client
    assert zlib.decompress(reply.body) == BIG_TEXT.encode()
    identity = await answer(
        make_client, _compressing(web.ContentCoding.identity), headers={"Accept-Encoding": "gzip"}
    )
    assert "Content-Encoding" not in identity.headers
    assert identity.body == BIG_TEXT.encode()


async def test_enable_compression_in_an_executor(make_client: ClientFactory) -> None:
    with ThreadPoolExecutor(1) as pool:
        handler = _compressing(zlib_executor_size=100, zlib_executor=pool)
        reply = await answer(make_client, handler, headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(reply.body) == BIG_TEXT.encode()


async def test_enable_compression_streams(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "text/plain"
        response.content_length = 1000  # a length of the unencoded body: dropped
        response.enable_compression()
        await response.prepare(request)
        for _ in range(5):
            await response.write(BIG_TEXT.encode())
        await response.write_eof(b"end")
        return response

    reply = await answer(make_client, handler, headers={"Accept-Encoding": "gzip"})
    assert reply.headers["Content-Encoding"] == "gzip"
    assert reply.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in reply.headers
    assert gzip.decompress(reply.body) == BIG_TEXT.encode() * 5 + b"end"


async def test_streamed_compression_flushes_each_write(make_client: ClientFactory) -> None:
    # A server-sent event must reach the client when it is written, compressed or not.
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.enable_compression(web.ContentCoding.gzip)
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        await request.app[GO].wait()  # not ended until the client saw the first event
        await response.write_eof(b"data: last\n\n")
        return response

    app = web.Application()
    app[GO] = asyncio.Event()
    app.router.add_get("/", handler)
    client = await make_client(app)
    response = await client.get("/")
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
    first = b""
    while b"first" not in first:
        first += decoder.decompress(await asyncio.wait_for(response.content.readany(), 5))
    assert first == b"data: first\n\n"
    app[GO].set()
    rest = decoder.decompress(await response.content.read()) + decoder.flush()
    assert rest == b"data: last\n\n"


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (204, {}),
        (200, {"Content-Encoding": "br"}),  # encoded already
        (206, {"Content-Range": "bytes 0-9/100"}),  # a range of the unencoded bytes
    ],
)
async def test_enable_compression_leaves_some_bodies_alone(
    make_client: ClientFactory, status: int, headers: dict[str, str]
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = None if status == 204 else b"0123456789"
        response = web.Response(body=body, status=status, headers=headers)
        response.enable_compression()
        return response

    reply = await answer(make_client, handler, headers={"Accept-Encoding": "gzip, deflate"})
    assert reply.status == status
    assert reply.headers.get("Content-Encoding") == headers.get("Content-Encoding")
    assert reply.body == (b"" if status == 204 else b"0123456789")


async def test_enable_compression_on_a_file(make_client: ClientFactory, tmp_path: Any) -> None:
    (tmp_path / "page.html").write_text(BIG_TEXT)

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.FileResponse(tmp_path / "page.html")
        response.enable_compression()
        return response

    client = await serve_one(make_client, handler)
    packed = await send(client, "GET", "/", {"Accept-Encoding": "gzip"})
    assert packed.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.body) == BIG_TEXT.encode()
    part = await send(client, "GET", "/", {"Accept-Encoding": "gzip", "Range": "bytes=0-4"})
    assert part.status == 206 and part.body == BIG_TEXT.encode()[:5]
    assert "Content-Encoding" not in part.headers


def test_enable_compression_arguments() -> None:
    response = web.StreamResponse()
    with pytest.warns(DeprecationWarning, match="ContentCoding"):
        response.enable_compression(True)
    assert response._compression_force is web.ContentCoding.deflate
    with pytest.raises(TypeError):
        response.enable_compression("gzip")  # type: ignore[arg-type]


# -- statuses without content ------------------------------------------------------------


@pytest.mark.parametrize("status", [204, 304])
async def test_no_content_type_length_or_body_on_204_and_304(status: int) -> None:
    """RFC 9110 6.4.1, 8.6, 15.4.5: whatever the handler set, nothing describes a body
    that cannot be there, and nothing of it is sent (the next response stays framed)."""

    async def whole(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/after":
            return web.Response(text="after")
        headers = {"Content-Type": "text/html", "Content-Length": "5"}
        if request.path == "/stream":
            response = web.StreamResponse(status=status, headers={"Content-Type": "text/html"})
            await response.prepare(request)
            await response.write(b"stray")
            return response
        return web.Response(status=status, body=b"stray", headers=headers)

    async with serve(whole) as port, await Connection.open(port) as conn:
        for path in ("/whole", "/stream"):
            conn.writer.write(build_request("GET", path) + build_request("GET", "/after"))
            first = await read_reply(conn.reader)
            after = await read_reply(conn.reader)
            assert first.status == status
            assert "Content-Type" not in first.headers
            assert "Content-Length" not in first.headers
            assert "Transfer-Encoding" not in first.headers
            assert (after.status, after.body) == (200, b"after")


async def test_head_keeps_content_type_and_length() -> None:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(body=b"12345", content_type="text/html")

    async with serve(handler) as port:
        reply = await fetch(port, "HEAD")
    assert (reply.headers["Content-Length"], reply.headers["Content-Type"]) == ("5", "text/html")


def test_the_per_response_mapping_before_and_after_a_key() -> None:
    # The mapping is made when the first key is set; before that it reads as empty.
    key = web.ResponseKey("k", int)
    response = web.Response()
    assert len(response) == 0 and list(response) == [] and key not in response
    assert response.get(key, 7) == 7
    with pytest.raises(KeyError):
        response[key]
    with pytest.raises(KeyError):
        del response[key]
    response[key] = 1
    assert response[key] == 1 and len(response) == 1 and list(response) == [key]
    del response[key]
    assert len(response) == 0 and bool(response)  # a response is never falsy
    assert web.Response(zlib_executor_size=10)._zlib_executor_size == 10


@pytest.mark.parametrize(
    ("build", "content_type", "extra"),
    [
        (lambda: web.Response(text="x"), "text/plain; charset=utf-8", None),
        (lambda: web.Response(body=b"x"), "application/octet-stream", None),
        (web.Response, None, None),
        (lambda: web.Response(text="x", headers={"content-type": "text/csv"}), "text/csv", None),
        (
            lambda: web.Response(text="x", content_type="text/html"),
            "text/html; charset=utf-8",
            None,
        ),
        (lambda: web.Response(text="x", headers={"X-A": "1"}), "text/plain; charset=utf-8", "1"),
        (lambda: web.Response(body=b"x", headers={"X-A": "1"}), "application/octet-stream", "1"),
    ],
    ids=["text", "body", "empty", "headers-type", "content-type", "text-extra", "body-extra"],
)
async def test_a_whole_response_sends_exactly_its_headers(
    make_client: ClientFactory,
    build: Callable[[], web.Response],
    content_type: str | None,
    extra: str | None,
) -> None:
    # Whatever the headers' shape (none, Content-Type alone, or more), the head says it all
    # once, whichever way it was written; also when Content-Type changed after building.
    async def handler(request: web.Request) -> web.Response:
        response = build()
        if request.query.get("set") == "type":
            response.content_type = "application/json"
        return response

    changed = build()
    changed.content_type = "application/json"  # (keeps a charset the response had)
    client = await serve_one(make_client, handler)
    for query, expected_type in (
        ("", content_type),
        ("?set=type", changed.headers["Content-Type"]),
    ):
        reply = await send(client, "GET", "/" + query)
        assert reply.status == 200
        assert reply.headers.get("Content-Type") == expected_type
        assert reply.headers.get("X-A") == extra
        assert len(reply.headers.getall("Content-Type", [])) == (expected_type is not None)
        assert len(reply.headers.getall("Content-Length")) == 1


async def test_a_content_type_with_a_line_break_is_a_500_not_a_split_head(
    make_client: ClientFactory,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="x", headers={"Content-Type": "text/plain\r\nX-Evil: 1"})

    reply = await answer(make_client, handler)
    assert reply.status == 500
    assert "X-Evil" not in reply.headers
