"""``BaseRequest`` end to end: requests from the test client, attributes read in the handler.

A few tests write raw bytes instead, where the bytes on the wire are the point: an
absolute-form target, HTTP/1.0 without ``Host``, a ``//host`` path the client would read
as an authority, and pipelining.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import socket
from collections.abc import AsyncIterator, MutableMapping
from decimal import Decimal
from typing import Any

import pytest
from multidict import CIMultiDictProxy, MultiDictProxy
from yarl import URL

from runtime.http.message import HttpVersion
from runtime.web.keys import RequestKey
from runtime.web.request import BaseRequest, FileField
from runtime.web.response import ETag, Response, StreamResponse
from tests.support import build_request, exchange
from tests.web.support import ClientFactory, Probe, ServerFactory, pieces_of, raw_probe

HOST = {"Host": "example.test"}
USER: RequestKey[Any] = RequestKey("user")
TRACE = RequestKey("trace", str)
SEEN_BY_CLONE = RequestKey("seen-by-clone", bool)


async def attrs(request: BaseRequest, *names: str) -> dict[str, Any]:
    return {name: getattr(request, name) for name in names}


# -- the request line and URL -----------------------------------------------------------


async def test_request_line_path_query_and_url(probe: Probe) -> None:
    target = "/p%20ath/%C3%A9/?a=1&a=2&b=%E2%82%AC&c=&d+e=f+g"

    async def fn(request: BaseRequest) -> Any:
        return await attrs(
            request,
            "method",
            "version",
            "path",
            "raw_path",
            "rel_url",
            "url",
            "query",
            "query_string",
            "path_qs",
            "scheme",
            "host",
            "secure",
        )

    response, got = await probe(fn, "GET", target, headers={"Host": "example.test:8080"})
    assert response.status == 200
    assert got["method"] == "GET"
    assert got["version"] == HttpVersion(1, 1)
    assert got["path"] == "/p ath/\u00e9/"
    assert got["raw_path"] == target
    assert got["rel_url"] == URL(target)
    assert not got["rel_url"].absolute
    assert got["path_qs"] == target
    query = got["query"]
    assert isinstance(query, MultiDictProxy)
    assert query.getall("a") == ["1", "2"]
    assert query["b"] == "\u20ac"
    assert query["c"] == ""
    assert query["d e"] == "f g"
    assert got["query_string"] == "a=1&a=2&b=\u20ac&c=&d e=f g"
    url = got["url"]
    assert (url.scheme, url.host, url.port) == ("http", "example.test", 8080)
    assert url.path == "/p ath/\u00e9/"
    assert url.query.getall("a") == ["1", "2"]
    assert (got["scheme"], got["host"], got["secure"]) == ("http", "example.test:8080", False)


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"])
async def test_methods(probe: Probe, method: str) -> None:
    async def fn(request: BaseRequest) -> Any:
        return request.method

    response, got = await probe(fn, method, "/")
    assert response.status == 200
    assert got == method


# Raw bytes: the client sends neither an absolute-form target nor HTTP/1.0 without Host.
async def test_absolute_form_target_and_http_10(make_raw_server: ServerFactory) -> None:
    async def fn(request: BaseRequest) -> Any:
        return await attrs(request, "path", "query", "rel_url", "version", "keep_alive")

    request = build_request("GET", "http://other.test/abs?q=1", host="other.test")
    _, got = await raw_probe(make_raw_server, fn, request)
    assert got["path"] == "/abs" and got["query"]["q"] == "1"
    assert not got["rel_url"].absolute
    request = build_request("GET", "/old", version="1.0", host=None)
    _, got = await raw_probe(make_raw_server, fn, request)
    assert got["version"] == HttpVersion(1, 0)
    assert got["keep_alive"] is False


async def test_host_falls_back_to_this_machine_for_http_10(
    make_raw_server: ServerFactory,
) -> None:
    # Raw bytes: an HTTP/1.0 request without Host.
    async def fn(request: BaseRequest) -> Any:
        return request.host, request.url.host

    request = build_request("GET", "/", version="1.0", host=None)
    _, (host, url_host) = await raw_probe(make_raw_server, fn, request)
    assert host == socket.getfqdn()
    assert url_host == socket.getfqdn().lower()


async def test_url_of_a_network_path_target_keeps_the_host(
    make_raw_server: ServerFactory,
) -> None:
    # "//evil.test/x" is a path, not an authority: request.url must stay on our host.
    # Raw bytes: the client would read "//evil.test" as a host.
    async def fn(request: BaseRequest) -> Any:
        return request.url.host, request.path

    request = build_request("GET", "//evil.test/x")
    _, (host, path) = await raw_probe(make_raw_server, fn, request)
    assert host == "example.test"
    assert path == "//evil.test/x"


# -- headers ----------------------------------------------------------------------------


async def test_headers_content_type_charset_length_keep_alive(probe: Probe) -> None:
    headers = [
        ("X-Multi", "one"),
        ("x-multi", "two"),
        ("Content-Type", "Text/Plain; Charset=latin-1"),
        ("Connection", "close"),
    ]

    async def fn(request: BaseRequest) -> Any:
        return await attrs(
            request, "headers", "raw_headers", "content_type", "charset", "content_length"
        ) | {"keep_alive": request.keep_alive, "body": await request.text()}

    response, got = await probe(fn, "POST", "/", headers=headers, data="\u00e9".encode("latin-1"))
    assert response.status == 200
    assert response.headers["Connection"] == "close"
    assert isinstance(got["headers"], CIMultiDictProxy)
    assert got["headers"].getall("X-MULTI") == ["one", "two"]
    assert (b"X-Multi", b"one") in got["raw_headers"]
    assert got["content_type"] == "text/plain"
    assert got["charset"] == "latin-1"
    assert got["content_length"] == 1
    assert got["keep_alive"] is False
    assert got["body"] == "\u00e9"


async def test_defaults_without_content_headers(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return await attrs(
            request,
            "content_type",
            "charset",
            "content_length",
            "keep_alive",
            "body_exists",
            "can_read_body",
        )

    _, got = await probe(fn)
    assert got == {
        "content_type": "application/octet-stream",
        "charset": None,
        "content_length": None,
        "keep_alive": True,
        "body_exists": False,
        "can_read_body": False,
    }


async def test_connection_attributes(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        transport = request.transport
        assert transport is not None
        return request.remote, transport.get_extra_info("peername")[0], request.protocol

    _, (remote, peer, protocol) = await probe(fn)
    assert remote == peer == "127.0.0.1"
    assert protocol is not None


# -- cookies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (['a=1; b=two; c="quoted value"'], {"a": "1", "b": "two", "c": "quoted value"}),
        (["a=1", "b=2"], {"a": "1", "b": "2"}),  # two Cookie headers
        (["a=1;b=2"], {"a": "1", "b": "2"}),
        (['session="a\\"b\\054c"'], {"session": 'a"b,c'}),  # SimpleCookie's own escapes
        # RFC 6265 5.4: in a Cookie header every pair is a cookie, "path" and "expires" too.
        (["path=/x; expires=soon; Max-Age=3"], {"path": "/x", "expires": "soon", "Max-Age": "3"}),
        ([], {}),
    ],
)
async def test_cookies(probe: Probe, headers: list[str], expected: dict[str, str]) -> None:
    async def fn(request: BaseRequest) -> Any:
        cookies = request.cookies
        with pytest.raises(TypeError):
            cookies["new"] = "x"  # type: ignore[index]
        return dict(cookies)

    response, got = await probe(fn, headers=[("Cookie", h) for h in headers])
    assert response.status == 200
    assert got == expected


@pytest.mark.parametrize(
    "malformed",
    ["[bad]=2", 'b="unterminated', "no-equals", "=nameless", "sp ace=1", 'q"uote=1', "b=x y"],
)
async def test_a_malformed_cookie_does_not_hide_the_others(probe: Probe, malformed: str) -> None:
    async def fn(request: BaseRequest) -> Any:
        return dict(request.cookies)

    header = f"a=1; {malformed}; c=3"
    _, got = await probe(fn, headers={"Cookie": header})
    assert (got.get("a"), got.get("c")) == ("1", "3"), got


# -- Forwarded (RFC 7239) ---------------------------------------------------------------


async def test_forwarded_elements_across_headers(probe: Probe) -> None:
    headers = [
        ("Forwarded", 'for=192.0.2.43;Proto=https, for="[2001:db8:cafe::17]:4711"'),
        ("Forwarded", 'for=unknown;by="a \\"quoted\\" \\\\ value";host=example.test'),
    ]

    async def fn(request: BaseRequest) -> Any:
        return [dict(element) for element in request.forwarded]

    _, got = await probe(fn, headers=headers)
    assert got == [
        {"for": "192.0.2.43", "proto": "https"},
        {"for": "[2001:db8:cafe::17]:4711"},
        {"for": "unknown", "by": 'a "quoted" \\ value', "host": "example.test"},
    ]


async def test_forwarded_skips_bad_elements_and_quoted_commas(probe: Probe) -> None:
    headers = [
        ("Forwarded", 'for=1.1.1.1, garbage, for="2.2.2.2";proto=http, for=x;=y, by="a,b;c"'),
        ("Forwarded", 'for="unterminated, for=3.3.3.3'),
    ]

    async def fn(request: BaseRequest) -> Any:
        forwarded = request.forwarded
        assert isinstance(forwarded, tuple)
        with pytest.raises(TypeError):
            forwarded[0]["for"] = "spoofed"  # type: ignore[index]
        return [dict(element) for element in forwarded]

    _, got = await probe(fn, headers=headers)
    assert got == [
        {"for": "1.1.1.1"},
        {"for": "2.2.2.2", "proto": "http"},
        {"by": "a,b;c"},
    ]


async def test_no_forwarded_header(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return request.forwarded

    _, got = await probe(fn)
    assert got == ()


# -- conditional and range headers ------------------------------------------------------


async def test_conditional_dates(probe: Probe) -> None:
    headers = [
        ("If-Modified-Since", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ("If-Unmodified-Since", "Sunday, 06-Nov-94 08:49:37 GMT"),
        ("If-Range", "not a date"),
    ]

    async def fn(request: BaseRequest) -> Any:
        return request.if_modified_since, request.if_unmodified_since, request.if_range

    _, (modified, unmodified, if_range) = await probe(fn, headers=headers)
    expected = datetime.datetime(1994, 11, 6, 8, 49, 37, tzinfo=datetime.UTC)
    assert modified == expected and modified.tzinfo is not None
    assert unmodified == expected
    assert if_range is None

    _, dates = await probe(fn)
    assert dates == (None, None, None)
    _, dates = await probe(fn, headers={"If-Range": "Sun, 06 Nov 1994 08:49:37 GMT"})
    assert dates[2] == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('"abc"', (ETag("abc"),)),
        ('W/"abc"', (ETag("abc", is_weak=True),)),
        ('"a", W/"b" ,"c"', (ETag("a"), ETag("b", is_weak=True), ETag("c"))),
        ("*", (ETag("*"),)),
        ('"a", garbage, "c"', (ETag("a"),)),  # parsing stops at the first bad element
        ('"a,b"', (ETag("a,b"),)),  # a comma inside an entity-tag is data
        ("unquoted", ()),
        (None, None),
        ("", None),
    ],
)
async def test_if_match_and_if_none_match(
    probe: Probe, header: str | None, expected: tuple[ETag, ...] | None
) -> None:
    async def fn(request: BaseRequest) -> Any:
        return request.if_match, request.if_none_match

    headers = {} if header is None else {"If-Match": header, "If-None-Match": header}
    _, got = await probe(fn, headers=headers)
    assert got == (expected, expected)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("bytes=0-9", slice(0, 10, None)),
        ("bytes=5-", slice(5, None, None)),
        ("bytes=-5", slice(-5, None, None)),
        ("bytes=7-7", slice(7, 8, None)),
        (None, slice(None, None, None)),
    ],
)
async def test_http_range(probe: Probe, header: str | None, expected: slice) -> None:
    async def fn(request: BaseRequest) -> Any:
        return request.http_range

    headers = [("Range", header)] if header is not None else []
    _, got = await probe(fn, headers=headers)
    assert got == expected


@pytest.mark.parametrize(
    "header",
    [
        "bytes=9-0",
        "bytes=-",
        "bytes=",
        "items=0-9",
        "bytes=0-1,3-4",
        "bytes=a-b",
        "bytes=\u0660-\u0669",  # Arabic-Indic digits: int() would take them, RFC 9110 does not
        "bytes=\uff11-\uff12",  # fullwidth digits
    ],
)
async def test_http_range_invalid(probe: Probe, header: str) -> None:
    async def fn(request: BaseRequest) -> Any:
        with pytest.raises(ValueError):
            _ = request.http_range
        return "raised"

    response, got = await probe(fn, headers={"Range": header})
    assert (response.status, got) == (200, "raised")


# -- the body ---------------------------------------------------------------------------


async def test_body_flags_read_text_json(probe: Probe) -> None:
    payload = {"price": 1.10, "name": "caf\u00e9"}
    body = json.dumps(payload).encode()

    async def fn(request: BaseRequest) -> Any:
        before = (request.body_exists, request.can_read_body)
        raw = await request.read()
        after = (request.body_exists, request.can_read_body)
        return (
            before,
            after,
            raw,
            await request.read(),  # cached
            await request.text(),
            await request.json(),
            await request.json(loads=lambda s: json.loads(s, parse_float=Decimal)),
        )

    headers = {"Content-Type": "application/json"}
    _, got = await probe(fn, "POST", "/", headers=headers, data=body)
    before, after, raw, again, text, parsed, custom = got
    assert before == (True, True)
    assert after == (True, False)
    assert raw == again == body
    assert text == body.decode()
    assert parsed == payload
    assert custom["price"] == Decimal("1.1")


async def test_text_uses_the_charset(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return await request.text()

    body = "\u00e9t\u00e9 \u20ac".encode("cp1252")
    headers = {"Content-Type": "text/plain; charset=cp1252"}
    _, got = await probe(fn, "POST", "/", headers=headers, data=body)
    assert got == "\u00e9t\u00e9 \u20ac"


async def test_read_is_capped_by_client_max_size(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return len(await request.read())

    big = b"x" * 2000
    response, _ = await probe(fn, "POST", "/", data=big, server_kwargs={"client_max_size": 1000})
    assert response.status == 413
    assert "1000" in await response.text()
    response, _ = await probe(
        fn, "POST", "/", data=pieces_of(big, 100), server_kwargs={"client_max_size": 1000}
    )
    assert response.status == 413
    response, size = await probe(
        fn, "POST", "/", data=pieces_of(big, 100), server_kwargs={"client_max_size": 2000}
    )
    assert (response.status, size) == (200, 2000)


async def test_content_stream_methods(make_client: ClientFactory) -> None:
    # The client sends the rest of the body only once the handler has read the first part,
    # so what readany() returns is exactly what had arrived by then.
    seen: list[Any] = []
    first_part_read = asyncio.Event()

    async def handler(request: BaseRequest) -> StreamResponse:
        content = request.content
        seen.append(await content.read(3))
        seen.append(await content.readline())
        seen.append(await content.readany())
        first_part_read.set()
        response = StreamResponse()
        await response.prepare(request)
        seen.append([chunk async for chunk in content.iter_chunked(4)])
        seen.append(content.at_eof())
        await response.write(b"done")
        await response.write_eof()
        return response

    async def body() -> AsyncIterator[bytes]:
        yield b"abcdef\nghi"
        await first_part_read.wait()
        yield b"jklmnopqrstuvwxyz"

    client = await make_client(handler)
    response = await client.post("/", data=body())
    assert await response.read() == b"done"
    first, line, any_chunk, chunks, eof = seen
    assert first == b"abc"
    assert line == b"def\n"
    assert any_chunk == b"ghi"
    assert b"".join(chunks) == b"jklmnopqrstuvwxyz"
    assert all(len(chunk) <= 4 for chunk in chunks)
    assert eof


@pytest.mark.parametrize("chunked", [False, True])
async def test_content_read_of_a_body_larger_than_the_buffer(probe: Probe, chunked: bool) -> None:
    # read() must keep draining the buffer, or the paused socket never delivers EOF.
    body = bytes(range(256)) * 4096  # 1 MiB, 16 times the read buffer's high-water mark

    async def fn(request: BaseRequest) -> Any:
        return await request.content.read()

    data = pieces_of(body, 65536) if chunked else body
    response, got = await probe(fn, "POST", "/", data=data)
    assert response.status == 200
    assert got == body


async def test_content_iter_any_with_chunked_body(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return [chunk async for chunk in request.content.iter_any()]

    _, chunks = await probe(fn, "POST", "/", data=pieces_of(b"abcde", 3, pause=0.05))
    assert b"".join(chunks) == b"abcde"
    assert all(chunks)


# -- forms ------------------------------------------------------------------------------


async def test_post_urlencoded(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        form = await request.post()
        return form, await request.post() is form

    body = b"a=1&b=%E2%82%AC&a=2&empty=&plus=x+y"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    _, (form, cached) = await probe(fn, "POST", "/", headers=headers, data=body)
    assert isinstance(form, MultiDictProxy)
    assert form.getall("a") == ["1", "2"]
    assert form["b"] == "\u20ac"
    assert form["empty"] == ""
    assert form["plus"] == "x y"
    assert cached


async def test_post_urlencoded_charset_and_unknown_charset(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return dict(await request.post())

    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=latin-1"}
    _, form = await probe(fn, "POST", "/", headers=headers, data=b"name=Jos%E9")
    assert form == {"name": "Jos\u00e9"}
    # aiohttp answers 415 for a charset it cannot decode, not 500.
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=no-such"}
    response, _ = await probe(fn, "POST", "/", headers=headers, data=b"a=1")
    assert response.status == 415


async def test_post_is_empty_for_get_and_other_types(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return dict(await request.post())

    _, form = await probe(fn, "GET", "/?a=1")
    assert form == {}
    headers = {"Content-Type": "application/json"}
    _, form = await probe(fn, "POST", "/", headers=headers, data=b'{"a": 1}')
    assert form == {}


MULTIPART = (
    b"--b0undary\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\n'
    b"Holiday\r\n"
    b"--b0undary\r\n"
    b'Content-Disposition: form-data; name="tag"\r\n\r\n'
    b"sea\r\n"
    b"--b0undary\r\n"
    b'Content-Disposition: form-data; name="tag"\r\n\r\n'
    b"sun\r\n"
    b"--b0undary\r\n"
    b'Content-Disposition: form-data; name="photo"; filename="beach.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n"
    b"\xff\xd8\xff\xe0 jpeg bytes\r\n"
    b"--b0undary\r\n"
    b'Content-Disposition: form-data; name="photo"; filename="dune.jpg"\r\n'
    b"Content-Type: image/jpeg\r\n\r\n"
    b"\xff\xd8 second\r\n"
    b"--b0undary--\r\n"
)
MULTIPART_TYPE = "multipart/form-data; boundary=b0undary"
MULTIPART_HEADERS = {"Content-Type": MULTIPART_TYPE}


async def test_post_multipart_fields_files_and_repeats(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        form = await request.post()
        photos = []
        for photo in form.getall("photo"):
            assert isinstance(photo, FileField)
            photos.append((photo.name, photo.filename, photo.content_type, photo.file.read()))
            photo.file.close()
        return form["title"], form.getall("tag"), photos

    response, (title, tags, photos) = await probe(
        fn, "POST", "/", headers=MULTIPART_HEADERS, data=MULTIPART
    )
    assert response.status == 200
    assert title == "Holiday"
    assert tags == ["sea", "sun"]
    assert photos == [
        ("photo", "beach.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 jpeg bytes"),
        ("photo", "dune.jpg", "image/jpeg", b"\xff\xd8 second"),
    ]


async def test_post_is_capped_by_client_max_size(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        form = await request.post()
        for value in form.values():
            if isinstance(value, FileField):
                value.file.close()
        return len(form)

    urlencoded = {
        "headers": {"Content-Type": "application/x-www-form-urlencoded"},
        "data": b"a=" + b"x" * 600,
    }
    response, _ = await probe(fn, "POST", "/", server_kwargs={"client_max_size": 500}, **urlencoded)
    assert response.status == 413
    multipart = {"headers": MULTIPART_HEADERS, "data": MULTIPART}
    response, _ = await probe(fn, "POST", "/", server_kwargs={"client_max_size": 300}, **multipart)
    assert response.status == 413
    response, count = await probe(
        fn, "POST", "/", server_kwargs={"client_max_size": len(MULTIPART)}, **multipart
    )
    assert (response.status, count) == (200, 5)
    # A big non-file field in a chunked body (no declared size to refuse up front).
    big_field = (
        b"--b0undary\r\n"
        b'Content-Disposition: form-data; name="essay"\r\n\r\n'
        + b"word " * 400
        + b"\r\n--b0undary--\r\n"
    )
    response, _ = await probe(
        fn,
        "POST",
        "/",
        headers=MULTIPART_HEADERS,
        data=pieces_of(big_field, 256),
        server_kwargs={"client_max_size": 1000},
    )
    assert response.status == 413
    assert "1000" in await response.text()


async def test_post_multipart_without_boundary_is_400(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        return await request.post()

    headers = {"Content-Type": "multipart/form-data"}
    response, _ = await probe(fn, "POST", "/", headers=headers, data=MULTIPART)
    assert response.status == 400
    assert "boundary" in await response.text()


async def test_uploaded_files_are_closed_after_the_response(probe: Probe) -> None:
    # aiohttp closes the temporary files of request.post() once the handler is done, so a
    # handler that forgets them leaks no descriptor (and raises no ResourceWarning).
    fields: list[FileField] = []

    async def fn(request: BaseRequest) -> Any:
        form = await request.post()
        fields.extend(v for v in form.values() if isinstance(v, FileField))
        assert not any(field.file.closed for field in fields)
        return "ok"

    response, _ = await probe(fn, "POST", "/", headers=MULTIPART_HEADERS, data=MULTIPART)
    assert response.status == 200
    assert len(fields) == 2
    try:
        assert all(field.file.closed for field in fields)
    finally:
        for field in fields:
            field.file.close()


# -- clone and the mapping --------------------------------------------------------------


async def test_clone(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        request[USER] = "alice"
        clone = request.clone(
            method="put",
            rel_url="/new/path?x=1",
            headers={"X-New": "yes"},
            scheme="https",
            host="proxy.test",
            remote="203.0.113.9",
        )
        plain = request.clone()
        with pytest.raises(ValueError):
            request.clone(rel_url="http://absolute.test/")
        clone[SEEN_BY_CLONE] = True
        result = {
            "method": clone.method,
            "path": clone.path,
            "query": dict(clone.query),
            "headers": dict(clone.headers),
            "scheme": clone.scheme,
            "secure": clone.secure,
            "host": clone.host,
            "remote": clone.remote,
            "url": str(clone.url),
            "user": clone[USER],
            "original": (request.method, request.path, request.scheme, request.host),
            "original_remote": request.remote,
            "shared": request.get(SEEN_BY_CLONE),
            "plain": (plain.method, plain.path, plain.host, type(plain) is type(request)),
            "body": await request.read(),
        }
        with pytest.raises(RuntimeError):
            request.clone()  # the body was read
        return result

    headers = {"X-Old": "1", **HOST}
    response, got = await probe(fn, "POST", "/orig?y=2", headers=headers, data=b"payload")
    assert response.status == 200
    assert got["method"] == "PUT"
    assert got["path"] == "/new/path" and got["query"] == {"x": "1"}
    assert got["headers"] == {"X-New": "yes"}
    assert (got["scheme"], got["secure"], got["host"]) == ("https", True, "proxy.test")
    assert got["remote"] == "203.0.113.9"
    assert got["url"] == "https://proxy.test/new/path?x=1"
    assert got["user"] == "alice"
    assert got["original"] == ("POST", "/orig", "http", "example.test")
    assert got["original_remote"] == "127.0.0.1"
    assert got["shared"] is True
    assert got["plain"] == ("POST", "/orig", "example.test", True)
    assert got["body"] == b"payload"


async def test_request_is_a_mutable_mapping_for_per_request_data(probe: Probe) -> None:
    # docs/faq.md stashes the authenticated user on the request: request[USER] = user.
    async def fn(request: BaseRequest) -> Any:
        assert isinstance(request, MutableMapping)
        assert len(request) == 0 and USER not in request
        request[USER] = {"id": 7}
        request[TRACE] = "t-1"
        snapshot = (len(request), sorted(request), request[USER], request.get("missing"))
        del request[TRACE]
        with pytest.raises(KeyError):
            request[TRACE]
        return snapshot, dict(request), bool(request), request == request

    _, (snapshot, remaining, truth, equal) = await probe(fn)
    assert snapshot == (2, [TRACE, USER], {"id": 7}, None)
    assert remaining == {USER: {"id": 7}}
    assert truth and equal


async def test_mapping_does_not_leak_between_requests(make_raw_server: ServerFactory) -> None:
    # Raw bytes: two requests pipelined on one connection (the client does not pipeline).
    seen: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        seen.append(request.get(USER))
        request[USER] = request.path
        return Response(text="ok")

    port = (await make_raw_server(handler)).port
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(build_request("GET", "/one") + build_request("GET", "/two"))
    await writer.drain()
    for _ in range(2):
        await reader.readuntil(b"ok")
    writer.close()
    await exchange(port, build_request("GET", "/three"))
    assert seen == [None, None, None]
