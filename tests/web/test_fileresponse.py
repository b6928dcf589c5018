"""FileResponse over a real socket: validators, conditionals, ranges, codings, sendfile."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from runtime import fileresponse
from runtime.exceptions import HTTPNotFound, HTTPRequestRangeNotSatisfiable
from runtime.fileresponse import FileResponse
from runtime.request import BaseRequest
from runtime.response import StreamResponse
from runtime.runner import ServerRunner, TCPSite
from runtime.server import Server

MTIME_NS = 1_700_000_000_250_000_000  # a fixed, sub-second modification time
LAST_MODIFIED = formatdate(1_700_000_001, usegmt=True)  # rounded up, as the header is
RANGE_NOT_SATISFIABLE = HTTPRequestRangeNotSatisfiable().body


def run(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 20))

    return wrapper


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.headers} {self.body[:40]!r}>"


class Client:
    """One keep-alive connection speaking raw HTTP/1.1; bodies framed by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None
    ) -> Reply:
        lines = [f"{method} {target} HTTP/1.1", "Host: test", *_header_lines(headers)]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *fields = head.decode("latin-1").rstrip("\r\n").split("\r\n")
        parsed: dict[str, str] = {}
        for field in fields:
            name, _, value = field.partition(":")
            parsed[name.strip().lower()] = value.strip()
        status = int(status_line.split()[1])
        assert "transfer-encoding" not in parsed, parsed
        length = int(parsed.get("content-length", "0"))
        if method == "HEAD" or status == 304:
            length = 0
        body = await self.reader.readexactly(length)
        return Reply(status, parsed, body)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _header_lines(headers: dict[str, str] | None) -> list[str]:
    return [f"{k}: {v}" for k, v in (headers or {}).items()]


Handler = Callable[[BaseRequest], Coroutine[Any, Any, StreamResponse]]


@asynccontextmanager
async def serve(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    runner = ServerRunner(Server(handler, access_log=None), shutdown_timeout=2)
    await runner.setup()
    site = TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    assert site.port is not None
    try:
        yield site.port
    finally:
        await runner.cleanup()


def file_server(root: Path, **kwargs: Any) -> Handler:
    """A handler answering ``/<name>`` with ``FileResponse(root / name, **kwargs)``."""

    async def handler(request: BaseRequest) -> StreamResponse:
        return FileResponse(root / request.path.lstrip("/"), **kwargs)

    return handler


@asynccontextmanager
async def client_for(root: Path, **kwargs: Any) -> AsyncIterator[Client]:
    async with serve(file_server(root, **kwargs)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = Client(reader, writer)
        try:
            yield client
        finally:
            await client.close()


def make_file(path: Path, data: bytes, mtime_ns: int = MTIME_NS) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def etag_of(path: Path) -> str:
    info = path.stat()
    return f'"{info.st_mtime_ns:x}-{info.st_size:x}"'


# -- plain GET and HEAD -----------------------------------------------------------------


@run
async def test_get_sends_file_with_validators(tmp_path: Path) -> None:
    path = make_file(tmp_path / "hello.txt", b"hello world\n")
    async with client_for(tmp_path) as client:
        reply = await client.request("GET", "/hello.txt")
    assert reply.status == 200
    assert reply.body == b"hello world\n"
    assert reply.headers["content-length"] == "12"
    assert reply.headers["content-type"] == "text/plain"  # no charset, as aiohttp
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["etag"] == etag_of(path) == f'"{MTIME_NS:x}-c"'
    assert reply.headers["last-modified"] == LAST_MODIFIED
    assert "vary" not in reply.headers
    assert "content-encoding" not in reply.headers


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("page.html", "text/html"),
        ("data.json", "application/json"),
        ("image.png", "image/png"),
        ("archive.tar.gz", "application/gzip"),
        ("blob.unknownext", "application/octet-stream"),
        ("no_extension", "application/octet-stream"),
    ],
)
@run
async def test_content_type_is_guessed_from_the_name(
    tmp_path: Path, name: str, content_type: str
) -> None:
    make_file(tmp_path / name, b"x")
    async with client_for(tmp_path) as client:
        reply = await client.request("GET", f"/{name}")
    assert reply.status == 200
    assert reply.headers["content-type"] == content_type
    assert "content-encoding" not in reply.headers


@run
async def test_given_headers_and_content_type_win(tmp_path: Path) -> None:
    make_file(tmp_path / "a.txt", b"abc")
    headers = {"Content-Type": "application/x-custom", "Cache-Control": "max-age=60"}
    async with client_for(tmp_path, headers=headers) as client:
        reply = await client.request("GET", "/a.txt")
    assert reply.headers["content-type"] == "application/x-custom"
    assert reply.headers["cache-control"] == "max-age=60"
    assert reply.body == b"abc"


@run
async def test_head_sends_headers_only_and_keeps_the_connection(tmp_path: Path) -> None:
    make_file(tmp_path / "a.txt", b"0123456789")
    async with client_for(tmp_path) as client:
        head = await client.request("HEAD", "/a.txt")
        get = await client.request("GET", "/a.txt")
    assert head.status == 200
    assert head.headers["content-length"] == "10"
    assert head.body == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert get.body == b"0123456789"  # the HEAD left no stray body on the wire


@run
async def test_empty_file(tmp_path: Path) -> None:
    make_file(tmp_path / "empty.txt", b"")
    async with client_for(tmp_path) as client:
        reply = await client.request("GET", "/empty.txt")
        again = await client.request("GET", "/empty.txt")
    assert reply.status == 200
    assert reply.headers["content-length"] == "0"
    assert reply.body == b""
    assert again.status == 200


@run
async def test_missing_file_is_404_with_the_http_exception_body(tmp_path: Path) -> None:
    async with client_for(tmp_path) as client:
        reply = await client.request("GET", "/nope.txt")
        nested = await client.request("GET", "/nope/deeper.txt")
    expected = HTTPNotFound()
    assert reply.status == nested.status == 404
    assert reply.body == nested.body == expected.body
    assert reply.headers["content-type"] == expected.headers["Content-Type"]
    assert "etag" not in reply.headers


@run
async def test_directory_is_403(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    async with client_for(tmp_path) as client:
        reply = await client.request("GET", "/sub")
    assert reply.status == 403
    assert reply.body == b"403: Forbidden"


@run
async def test_fifo_is_403_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    async with client_for(tmp_path) as client:
        reply = await asyncio.wait_for(client.request("GET", "/pipe"), 5)
    assert reply.status == 403


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
@run
async def test_unreadable_file_is_403(tmp_path: Path) -> None:
    path = make_file(tmp_path / "secret.txt", b"secret")
    path.chmod(0)
    async with client_for(tmp_path) as client:
        reply = await client.request("GET", "/secret.txt")
    assert reply.status == 403
    assert b"secret" not in reply.body


@run
async def test_custom_error_status_ignores_conditionals_and_ranges(tmp_path: Path) -> None:
    path = make_file(tmp_path / "404.html", b"<h1>gone</h1>")
    headers = {"Range": "bytes=0-1", "If-None-Match": etag_of(path)}
    async with client_for(tmp_path, status=404) as client:
        reply = await client.request("GET", "/404.html", headers)
    # RFC 9110 13.2.1: preconditions (and Range) only apply to what would be a 2xx.
    assert reply.status == 404
    assert reply.body == b"<h1>gone</h1>"
    assert reply.headers["content-type"] == "text/html"


# -- sendfile and its fallback -----------------------------------------------------------


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = os.urandom(3 * 1024 * 1024 + 17)
    return make_file(tmp_path / "big.bin", data), data


@run
async def test_big_file_goes_through_sendfile_and_keeps_alive(
    big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file
    calls: list[int] = []
    original = asyncio.BaseEventLoop.sendfile

    async def counting(self: Any, transport: Any, file: Any, *args: Any, **kw: Any) -> int:
        sent: int = await original(self, transport, file, *args, **kw)
        calls.append(sent)
        return sent

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", counting)
    async with client_for(path.parent) as client:
        first = await client.request("GET", "/big.bin")
        second = await client.request("GET", "/big.bin", {"Range": "bytes=100-1000099"})
        third = await client.request("GET", "/big.bin")
    assert first.body == data
    assert second.status == 206
    assert second.body == data[100:1000100]
    assert third.body == data
    assert calls == [len(data), 1_000_000, len(data)]
    # The writer counted the sendfile bytes: Content-Length held, the connection stayed open.
    assert first.headers.get("connection") != "close"
    assert third.headers.get("connection") != "close"


@pytest.mark.parametrize("chunk_size", [1000, 256 * 1024])
@run
async def test_chunked_fallback_without_sendfile(
    big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch, chunk_size: int
) -> None:
    path, data = big_file
    monkeypatch.setattr(fileresponse, "NOSENDFILE", True)

    async def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("sendfile must not be used")

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", refuse)
    async with client_for(path.parent, chunk_size=chunk_size) as client:
        whole = await client.request("GET", "/big.bin")
        part = await client.request("GET", "/big.bin", {"Range": "bytes=-5000"})
    assert whole.body == data
    assert part.status == 206
    assert part.body == data[-5000:]


@run
async def test_fallback_when_the_loop_has_no_sendfile(
    big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file

    async def unsupported(*args: Any, **kwargs: Any) -> int:
        raise NotImplementedError

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", unsupported)
    async with client_for(path.parent) as client:
        whole = await client.request("GET", "/big.bin")
        again = await client.request("GET", "/big.bin")
    assert whole.body == data
    assert again.body == data


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@run
async def test_tls_sends_chunks_not_sendfile(
    tmp_path: Path, big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file
    cert, key = _self_signed(tmp_path)

    async def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("sendfile bypasses TLS")

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", refuse)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context()
    client_ctx.check_hostname = False
    client_ctx.verify_mode = ssl.CERT_NONE
    async with serve(file_server(path.parent), ssl_context=server_ctx) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        client = Client(reader, writer)
        whole = await client.request("GET", "/big.bin")
        part = await client.request("GET", "/big.bin", {"Range": "bytes=10-19"})
        writer.close()
    assert whole.body == data
    assert part.body == data[10:20]


# -- conditional requests (RFC 9110 13) ---------------------------------------------------


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    return make_file(tmp_path / "doc.txt", b"0123456789abcdef")


async def _get(root: Path, headers: dict[str, str], method: str = "GET") -> Reply:
    async with client_for(root) as client:
        reply = await client.request(method, "/doc.txt", headers)
        # Whatever the answer, the connection is still usable.
        after = await client.request("GET", "/doc.txt")
        assert after.status == 200
        return reply


@pytest.mark.parametrize(
    "value",
    ["{etag}", "W/{etag}", "*", '"other", {etag}', '"a","b" , W/{etag}'],
)
@run
async def test_if_none_match_hit_is_304(doc: Path, value: str) -> None:
    etag = etag_of(doc)
    reply = await _get(doc.parent, {"If-None-Match": value.format(etag=etag)})
    assert reply.status == 304
    assert reply.body == b""
    assert reply.headers["etag"] == etag
    assert reply.headers["last-modified"] == LAST_MODIFIED
    assert "content-length" not in reply.headers


@pytest.mark.parametrize("value", ['"other"', 'W/"other"', "{etag}x", "garbage"])
@run
async def test_if_none_match_miss_is_200(doc: Path, value: str) -> None:
    reply = await _get(doc.parent, {"If-None-Match": value.format(etag=etag_of(doc))})
    assert reply.status == 200
    assert reply.body == b"0123456789abcdef"


@run
async def test_if_none_match_on_head_is_304(doc: Path) -> None:
    reply = await _get(doc.parent, {"If-None-Match": etag_of(doc)}, method="HEAD")
    assert reply.status == 304


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (LAST_MODIFIED, 304),
        (formatdate(1_700_000_100, usegmt=True), 304),
        # One second before the rounded-up Last-Modified: the file is newer.
        (formatdate(1_700_000_000, usegmt=True), 200),
        ("not a date", 200),
    ],
)
@run
async def test_if_modified_since_has_second_precision(doc: Path, value: str, status: int) -> None:
    reply = await _get(doc.parent, {"If-Modified-Since": value})
    assert reply.status == status


@run
async def test_if_none_match_overrides_if_modified_since(doc: Path) -> None:
    # RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    reply = await _get(doc.parent, {"If-None-Match": '"other"', "If-Modified-Since": LAST_MODIFIED})
    assert reply.status == 200


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("{etag}", 200),
        ("*", 200),
        ('"x", {etag}', 200),
        ('"other"', 412),
        ("W/{etag}", 412),  # strong comparison: a weak tag never matches
    ],
)
@run
async def test_if_match(doc: Path, value: str, status: int) -> None:
    reply = await _get(doc.parent, {"If-Match": value.format(etag=etag_of(doc))})
    assert reply.status == status
    if status == 412:
        assert reply.body == b"412: Precondition Failed"


@pytest.mark.parametrize(
    ("value", "status"),
    [
        (LAST_MODIFIED, 200),
        (formatdate(1_700_000_000, usegmt=True), 412),
        ("not a date", 200),
    ],
)
@run
async def test_if_unmodified_since(doc: Path, value: str, status: int) -> None:
    reply = await _get(doc.parent, {"If-Unmodified-Since": value})
    assert reply.status == status


@run
async def test_if_match_overrides_if_unmodified_since(doc: Path) -> None:
    old = formatdate(1_600_000_000, usegmt=True)
    reply = await _get(doc.parent, {"If-Match": etag_of(doc), "If-Unmodified-Since": old})
    assert reply.status == 200


@run
async def test_if_match_is_checked_before_if_none_match(doc: Path) -> None:
    etag = etag_of(doc)
    reply = await _get(doc.parent, {"If-Match": '"other"', "If-None-Match": etag})
    assert reply.status == 412


@run
async def test_modified_file_gets_a_new_etag(doc: Path) -> None:
    old = etag_of(doc)
    make_file(doc, b"0123456789ABCDEF", MTIME_NS + 5_000_000_000)  # same size, later
    reply = await _get(doc.parent, {"If-None-Match": old})
    assert reply.status == 200
    assert reply.body == b"0123456789ABCDEF"
    assert reply.headers["etag"] != old


# -- ranges (RFC 9110 14) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-4", 0, 4),
        ("bytes=5-", 5, 15),
        ("bytes=-3", 13, 15),
        ("bytes=-1000", 0, 15),  # a suffix longer than the file is the whole file
        ("bytes=10-1000", 10, 15),  # a last-pos past the end means "to the end"
        ("bytes=15-15", 15, 15),
        ("bytes=0-", 0, 15),
    ],
)
@run
async def test_single_range_is_206(doc: Path, spec: str, first: int, last: int) -> None:
    reply = await _get(doc.parent, {"Range": spec})
    assert reply.status == 206
    assert reply.headers["content-range"] == f"bytes {first}-{last}/16"
    assert reply.headers["content-length"] == str(last - first + 1)
    assert reply.body == b"0123456789abcdef"[first : last + 1]
    assert reply.headers["etag"] == etag_of(doc)


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=16-",  # starts at the end
        "bytes=100-200",
        "bytes=-0",  # an empty suffix
        "bytes=5-2",  # last before first
        "bytes=a-b",
        "bytes=0-1,4-5",  # several ranges: aiohttp serves one only
        "bytes=\u0663-\u0664",  # Arabic-Indic digits are not ASCII digits
        "bytes=\uff11-\uff12",  # nor are fullwidth ones
        "lines=0-1",
        "bytes=-",
    ],
)
@run
async def test_unsatisfiable_or_malformed_range_is_416(doc: Path, spec: str) -> None:
    reply = await _get(doc.parent, {"Range": spec})
    assert reply.status == 416
    assert reply.headers["content-range"] == "bytes */16"
    assert reply.body == RANGE_NOT_SATISFIABLE


@run
async def test_range_on_an_empty_file_is_416(tmp_path: Path) -> None:
    make_file(tmp_path / "doc.txt", b"")
    reply = await _get(tmp_path, {"Range": "bytes=0-"})
    assert reply.status == 416
    assert reply.headers["content-range"] == "bytes */0"


@run
async def test_head_ignores_range(doc: Path) -> None:
    # RFC 9110 14.2: range handling is defined for GET only.
    reply = await _get(doc.parent, {"Range": "bytes=0-1"}, method="HEAD")
    assert reply.status == 200
    assert reply.headers["content-length"] == "16"
    assert "content-range" not in reply.headers


@pytest.mark.parametrize(
    ("if_range", "status"),
    [
        ("{etag}", 206),
        ('"other"', 200),
        ("W/{etag}", 200),  # If-Range compares strongly
        (LAST_MODIFIED, 206),
        (formatdate(1_700_000_000, usegmt=True), 200),  # the file changed since
        ("garbage", 200),
    ],
)
@run
async def test_if_range_decides_between_206_and_200(doc: Path, if_range: str, status: int) -> None:
    headers = {"Range": "bytes=2-3", "If-Range": if_range.format(etag=etag_of(doc))}
    reply = await _get(doc.parent, headers)
    assert reply.status == status
    assert reply.body == (b"23" if status == 206 else b"0123456789abcdef")


@run
async def test_if_range_mismatch_does_not_answer_416(doc: Path) -> None:
    reply = await _get(doc.parent, {"Range": "bytes=100-", "If-Range": '"other"'})
    assert reply.status == 200


# -- precompressed siblings ---------------------------------------------------------------


@pytest.fixture
def script(tmp_path: Path) -> Path:
    make_file(tmp_path / "app.js", b"console.log('plain')")
    make_file(tmp_path / "app.js.gz", b"GZIP-BYTES")
    make_file(tmp_path / "app.js.br", b"BROTLI-BYTES!")
    return tmp_path


@pytest.mark.parametrize(
    ("accept", "coding"),
    [
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("br", "br"),
        ("br;q=0, gzip", "gzip"),
        ("gzip;q=0.5, br;q=0.8", "br"),
        ("gzip;q=1, br;q=0.5", "gzip"),
        ("*", "br"),
        ("*, br;q=0", "gzip"),
        ("gzip;q=0, br;q=0", None),
        ("gzip;q=0.5, identity", None),
        ("identity", None),
        ("deflate", None),
        ("gzip;q=2", None),  # not a qvalue: treated as refused
        ("", None),
    ],
)
@run
async def test_precompressed_sibling_by_accept_encoding(
    script: Path, accept: str, coding: str | None
) -> None:
    async with client_for(script) as client:
        headers = {"Accept-Encoding": accept} if accept else {}
        reply = await client.request("GET", "/app.js", headers)
    bodies = {None: b"console.log('plain')", "gzip": b"GZIP-BYTES", "br": b"BROTLI-BYTES!"}
    assert reply.status == 200
    assert reply.body == bodies[coding]
    assert reply.headers.get("content-encoding") == coding
    # The built-in table (not /etc/mime.types): Python 3.12 moved .js to text/javascript.
    assert reply.headers["content-type"] in ("application/javascript", "text/javascript")
    assert reply.headers["vary"] == "Accept-Encoding"  # a sibling exists: always Vary


@run
async def test_encoded_representations_have_their_own_etag(script: Path) -> None:
    async with client_for(script) as client:
        plain = await client.request("GET", "/app.js")
        gzipped = await client.request("GET", "/app.js", {"Accept-Encoding": "gzip"})
        not_modified = await client.request(
            "GET", "/app.js", {"Accept-Encoding": "gzip", "If-None-Match": gzipped.headers["etag"]}
        )
        other = await client.request(
            "GET", "/app.js", {"Accept-Encoding": "br", "If-None-Match": gzipped.headers["etag"]}
        )
        part = await client.request(
            "GET", "/app.js", {"Accept-Encoding": "gzip", "Range": "bytes=0-3"}
        )
    assert plain.headers["etag"] != gzipped.headers["etag"]
    assert not_modified.status == 304
    assert not_modified.headers["vary"] == "Accept-Encoding"
    assert other.status == 200
    assert other.body == b"BROTLI-BYTES!"
    # A range applies to the encoded bytes.
    assert part.status == 206
    assert part.body == b"GZIP"
    assert part.headers["content-encoding"] == "gzip"
    assert part.headers["content-range"] == "bytes 0-3/10"


@run
async def test_sibling_symlink_is_ignored(tmp_path: Path) -> None:
    secret = make_file(tmp_path / "secret", b"top secret")
    root = tmp_path / "root"
    root.mkdir()
    make_file(root / "a.txt", b"plain")
    (root / "a.txt.gz").symlink_to(secret)
    async with client_for(root) as client:
        reply = await client.request("GET", "/a.txt", {"Accept-Encoding": "gzip"})
    assert reply.body == b"plain"
    assert "content-encoding" not in reply.headers
    assert "vary" not in reply.headers


@run
async def test_vary_is_merged_with_a_given_one(script: Path) -> None:
    async with client_for(script, headers={"Vary": "Origin"}) as client:
        reply = await client.request("GET", "/app.js", {"Accept-Encoding": "gzip"})
    assert reply.headers["vary"] == "Origin, Accept-Encoding"


@run
async def test_error_bodies_are_not_labelled_as_encoded(script: Path) -> None:
    async with client_for(script) as client:
        reply = await client.request("GET", "/app.js", {"Accept-Encoding": "gzip", "Range": "x"})
    assert reply.status == 416
    assert "content-encoding" not in reply.headers
    assert reply.body == RANGE_NOT_SATISFIABLE


# -- the response object ------------------------------------------------------------------


@run
async def test_prepare_returns_the_writer_and_then_is_finished(tmp_path: Path) -> None:
    make_file(tmp_path / "a.txt", b"abc")
    seen: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        resp = FileResponse(tmp_path / "a.txt")
        writer = await resp.prepare(request)
        seen.extend([writer is request.writer, await resp.prepare(request), resp.prepared])
        return resp

    async with serve(handler) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = Client(reader, writer)
        reply = await client.request("GET", "/")
        await client.close()
    assert reply.body == b"abc"
    assert seen == [True, None, True]


def test_constructor_keeps_aiohttp_signature(tmp_path: Path) -> None:
    resp = FileResponse(str(tmp_path / "x"), 1024, 201, "Made", {"X-A": "1"})
    assert resp.status == 201
    assert resp.reason == "Made"
    assert resp.headers["X-A"] == "1"
    assert resp._chunk_size == 1024
    assert resp._path == tmp_path / "x"
    assert not resp.prepared


@pytest.mark.parametrize("nosendfile", [False, True])
@run
async def test_client_leaving_mid_file_does_not_hurt_the_server(
    big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch, nosendfile: bool
) -> None:
    path, data = big_file
    monkeypatch.setattr(fileresponse, "NOSENDFILE", nosendfile)
    async with serve(file_server(path.parent, chunk_size=4096)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        await reader.readexactly(1000)
        writer.transport.abort()
        await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = Client(reader, writer)
        reply = await client.request("GET", "/big.bin")
        await client.close()
    assert reply.body == data


@run
async def test_permission_denied_is_403(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_file(tmp_path / "private.txt", b"secret")
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any) -> int:
        if os.fspath(path).endswith("private.txt"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    async with client_for(tmp_path) as client:
        reply = await client.request("GET", "/private.txt")
    assert reply.status == 403
    assert reply.body == b"403: Forbidden"
