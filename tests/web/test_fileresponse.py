"""FileResponse through the test client: validators, conditionals, ranges, codings,
sendfile. A client that hangs up mid-file is played with a raw socket."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest

from runtime import ClientSession, TCPConnector
from runtime.testing.kit import TestClient
from runtime.web import fileresponse
from runtime.web.exceptions import HTTPNotFound, HTTPRequestRangeNotSatisfiable
from runtime.web.fileresponse import FileResponse
from runtime.web.request import BaseRequest
from runtime.web.response import StreamResponse
from tests.support import Reply, serve
from tests.support.unprivileged import unprivileged
from tests.web.support import ClientFactory, ServerFactory

MTIME_NS = 1_700_000_000_250_000_000  # a fixed, sub-second modification time
LAST_MODIFIED = formatdate(1_700_000_001, usegmt=True)  # rounded up, as the header is
RANGE_NOT_SATISFIABLE = HTTPRequestRangeNotSatisfiable().body


class FileClient:
    """The test client of a file server; knows which connection each request came on."""

    def __init__(self, client: TestClient, transports: list[Any]) -> None:
        self._client = client
        self._transports = transports

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None
    ) -> Reply:
        response = await self._client.request(method, target, headers=headers)
        body = await response.read()
        # A file's length is always known: FileResponse never sends a chunked body.
        assert "Transfer-Encoding" not in response.headers, response.headers
        return Reply(response.status, response.headers, body)

    @property
    def connections(self) -> int:
        """How many connections the requests so far came on (the server's count)."""
        return len({id(transport) for transport in self._transports})


ClientFor = Callable[..., Awaitable[FileClient]]
Handler = Callable[[BaseRequest], Awaitable[StreamResponse]]


def file_server(root: Path, transports: list[Any] | None = None, **kwargs: Any) -> Handler:
    """A handler answering ``/<name>`` with ``FileResponse(root / name, **kwargs)``."""

    async def handler(request: BaseRequest) -> StreamResponse:
        if transports is not None:
            transports.append(request.transport)
        return FileResponse(root / request.path.lstrip("/"), **kwargs)

    return handler


@pytest.fixture
def client_for(make_client: ClientFactory) -> ClientFor:
    """``client = await client_for(root, **file_response_kwargs)``."""

    async def factory(root: Path, **kwargs: Any) -> FileClient:
        transports: list[Any] = []
        client = await make_client(file_server(root, transports, **kwargs))
        return FileClient(client, transports)

    return factory


def make_file(path: Path, data: bytes, mtime_ns: int = MTIME_NS) -> Path:
    path.write_bytes(data)
    os.utime(path, ns=(mtime_ns, mtime_ns))
    return path


def etag_of(path: Path) -> str:
    info = path.stat()
    return f'"{info.st_mtime_ns:x}-{info.st_size:x}"'


# -- plain GET and HEAD -----------------------------------------------------------------


async def test_get_sends_file_with_validators(client_for: ClientFor, tmp_path: Path) -> None:
    path = make_file(tmp_path / "hello.txt", b"hello world\n")
    client = await client_for(tmp_path)
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
async def test_content_type_is_guessed_from_the_name(
    client_for: ClientFor, tmp_path: Path, name: str, content_type: str
) -> None:
    make_file(tmp_path / name, b"x")
    client = await client_for(tmp_path)
    reply = await client.request("GET", f"/{name}")
    assert reply.status == 200
    assert reply.headers["content-type"] == content_type
    assert "content-encoding" not in reply.headers


async def test_given_headers_and_content_type_win(client_for: ClientFor, tmp_path: Path) -> None:
    make_file(tmp_path / "a.txt", b"abc")
    headers = {"Content-Type": "application/x-custom", "Cache-Control": "max-age=60"}
    client = await client_for(tmp_path, headers=headers)
    reply = await client.request("GET", "/a.txt")
    assert reply.headers["content-type"] == "application/x-custom"
    assert reply.headers["cache-control"] == "max-age=60"
    assert reply.body == b"abc"


async def test_head_sends_headers_only_and_keeps_the_connection(
    client_for: ClientFor, tmp_path: Path
) -> None:
    make_file(tmp_path / "a.txt", b"0123456789")
    client = await client_for(tmp_path)
    head = await client.request("HEAD", "/a.txt")
    get = await client.request("GET", "/a.txt")
    assert client.connections == 1
    assert head.status == 200
    assert head.headers["content-length"] == "10"
    assert head.body == b""
    assert head.headers["etag"] == get.headers["etag"]
    assert get.body == b"0123456789"  # the HEAD left no stray body on the wire


async def test_empty_file(client_for: ClientFor, tmp_path: Path) -> None:
    make_file(tmp_path / "empty.txt", b"")
    client = await client_for(tmp_path)
    reply = await client.request("GET", "/empty.txt")
    again = await client.request("GET", "/empty.txt")
    assert reply.status == 200
    assert reply.headers["content-length"] == "0"
    assert reply.body == b""
    assert again.status == 200


async def test_missing_file_is_404_with_the_http_exception_body(
    client_for: ClientFor, tmp_path: Path
) -> None:
    client = await client_for(tmp_path)
    reply = await client.request("GET", "/nope.txt")
    nested = await client.request("GET", "/nope/deeper.txt")
    expected = HTTPNotFound()
    assert reply.status == nested.status == 404
    assert reply.body == nested.body == expected.body
    assert reply.headers["content-type"] == expected.headers["Content-Type"]
    assert "etag" not in reply.headers


async def test_directory_is_403(client_for: ClientFor, tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    client = await client_for(tmp_path)
    reply = await client.request("GET", "/sub")
    assert reply.status == 403
    assert reply.body == b"403: Forbidden"


async def test_fifo_is_403_without_blocking(client_for: ClientFor, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    client = await client_for(tmp_path)
    reply = await asyncio.wait_for(client.request("GET", "/pipe"), 5)
    assert reply.status == 403


async def test_unreadable_file_is_403(client_for: ClientFor, tmp_path: Path) -> None:
    path = make_file(tmp_path / "secret.txt", b"secret")
    path.chmod(0)
    client = await client_for(tmp_path)
    with unprivileged(tmp_path):  # root reads any file: ask as an ordinary user
        reply = await client.request("GET", "/secret.txt")
    assert reply.status == 403
    assert b"secret" not in reply.body


async def test_custom_error_status_ignores_conditionals_and_ranges(
    client_for: ClientFor, tmp_path: Path
) -> None:
    path = make_file(tmp_path / "404.html", b"<h1>gone</h1>")
    headers = {"Range": "bytes=0-1", "If-None-Match": etag_of(path)}
    client = await client_for(tmp_path, status=404)
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


async def test_big_file_goes_through_sendfile_and_keeps_alive(
    client_for: ClientFor, big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file
    calls: list[int] = []
    original = asyncio.BaseEventLoop.sendfile

    async def counting(self: Any, transport: Any, file: Any, *args: Any, **kw: Any) -> int:
        sent: int = await original(self, transport, file, *args, **kw)
        calls.append(sent)
        return sent

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", counting)
    client = await client_for(path.parent)
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
async def test_chunked_fallback_without_sendfile(
    client_for: ClientFor,
    big_file: tuple[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
    chunk_size: int,
) -> None:
    path, data = big_file
    monkeypatch.setattr(fileresponse, "NOSENDFILE", True)

    async def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("sendfile must not be used")

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", refuse)
    client = await client_for(path.parent, chunk_size=chunk_size)
    whole = await client.request("GET", "/big.bin")
    part = await client.request("GET", "/big.bin", {"Range": "bytes=-5000"})
    assert whole.body == data
    assert part.status == 206
    assert part.body == data[-5000:]


async def test_fallback_when_the_loop_has_no_sendfile(
    client_for: ClientFor, big_file: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, data = big_file

    async def unsupported(*args: Any, **kwargs: Any) -> int:
        raise NotImplementedError

    monkeypatch.setattr(asyncio.BaseEventLoop, "sendfile", unsupported)
    client = await client_for(path.parent)
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
    # The test kit serves plain TCP: tests.support.serve speaks TLS.
    async with serve(file_server(path.parent), ssl_context=server_ctx, shutdown_timeout=2) as port:
        connector = TCPConnector(ssl=client_ctx)
        async with ClientSession(f"https://127.0.0.1:{port}", connector=connector) as client:
            async with client.get("/big.bin") as whole:
                assert await whole.read() == data
            async with client.get("/big.bin", headers={"Range": "bytes=10-19"}) as part:
                assert await part.read() == data[10:20]


# -- conditional requests (RFC 9110 13) ---------------------------------------------------


@pytest.fixture
def doc(tmp_path: Path) -> Path:
    return make_file(tmp_path / "doc.txt", b"0123456789abcdef")


async def _get(
    client_for: ClientFor, root: Path, headers: dict[str, str], method: str = "GET"
) -> Reply:
    client = await client_for(root)
    reply = await client.request(method, "/doc.txt", headers)
    # Whatever the answer, the connection is still usable.
    after = await client.request("GET", "/doc.txt")
    assert after.status == 200
    assert client.connections == 1
    return reply


@pytest.mark.parametrize(
    "value",
    ["{etag}", "W/{etag}", "*", '"other", {etag}', '"a","b" , W/{etag}'],
)
async def test_if_none_match_hit_is_304(client_for: ClientFor, doc: Path, value: str) -> None:
    etag = etag_of(doc)
    reply = await _get(client_for, doc.parent, {"If-None-Match": value.format(etag=etag)})
    assert reply.status == 304
    assert reply.body == b""
    assert reply.headers["etag"] == etag
    assert reply.headers["last-modified"] == LAST_MODIFIED
    assert "content-length" not in reply.headers


@pytest.mark.parametrize("value", ['"other"', 'W/"other"', "{etag}x", "garbage"])
async def test_if_none_match_miss_is_200(client_for: ClientFor, doc: Path, value: str) -> None:
    reply = await _get(client_for, doc.parent, {"If-None-Match": value.format(etag=etag_of(doc))})
    assert reply.status == 200
    assert reply.body == b"0123456789abcdef"


async def test_if_none_match_on_head_is_304(client_for: ClientFor, doc: Path) -> None:
    reply = await _get(client_for, doc.parent, {"If-None-Match": etag_of(doc)}, method="HEAD")
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
async def test_if_modified_since_has_second_precision(
    client_for: ClientFor, doc: Path, value: str, status: int
) -> None:
    reply = await _get(client_for, doc.parent, {"If-Modified-Since": value})
    assert reply.status == status


async def test_if_none_match_overrides_if_modified_since(client_for: ClientFor, doc: Path) -> None:
    # RFC 9110 13.1.3: If-Modified-Since is ignored when If-None-Match is present.
    reply = await _get(
        client_for, doc.parent, {"If-None-Match": '"other"', "If-Modified-Since": LAST_MODIFIED}
    )
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
async def test_if_match(client_for: ClientFor, doc: Path, value: str, status: int) -> None:
    reply = await _get(client_for, doc.parent, {"If-Match": value.format(etag=etag_of(doc))})
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
async def test_if_unmodified_since(
    client_for: ClientFor, doc: Path, value: str, status: int
) -> None:
    reply = await _get(client_for, doc.parent, {"If-Unmodified-Since": value})
    assert reply.status == status


async def test_if_match_overrides_if_unmodified_since(client_for: ClientFor, doc: Path) -> None:
    old = formatdate(1_600_000_000, usegmt=True)
    reply = await _get(
        client_for, doc.parent, {"If-Match": etag_of(doc), "If-Unmodified-Since": old}
    )
    assert reply.status == 200


async def test_if_match_is_checked_before_if_none_match(client_for: ClientFor, doc: Path) -> None:
    etag = etag_of(doc)
    reply = await _get(client_for, doc.parent, {"If-Match": '"other"', "If-None-Match": etag})
    assert reply.status == 412


async def test_modified_file_gets_a_new_etag(client_for: ClientFor, doc: Path) -> None:
    old = etag_of(doc)
    make_file(doc, b"0123456789ABCDEF", MTIME_NS + 5_000_000_000)  # same size, later
    reply = await _get(client_for, doc.parent, {"If-None-Match": old})
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
async def test_single_range_is_206(
    client_for: ClientFor, doc: Path, spec: str, first: int, last: int
) -> None:
    reply = await _get(client_for, doc.parent, {"Range": spec})
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
async def test_unsatisfiable_or_malformed_range_is_416(
    client_for: ClientFor, doc: Path, spec: str
) -> None:
    reply = await _get(client_for, doc.parent, {"Range": spec})
    assert reply.status == 416
    assert reply.headers["content-range"] == "bytes */16"
    assert reply.body == RANGE_NOT_SATISFIABLE


async def test_range_on_an_empty_file_is_416(client_for: ClientFor, tmp_path: Path) -> None:
    make_file(tmp_path / "doc.txt", b"")
    reply = await _get(client_for, tmp_path, {"Range": "bytes=0-"})
    assert reply.status == 416
    assert reply.headers["content-range"] == "bytes */0"


async def test_head_ignores_range(client_for: ClientFor, doc: Path) -> None:
    # RFC 9110 14.2: range handling is defined for GET only.
    reply = await _get(client_for, doc.parent, {"Range": "bytes=0-1"}, method="HEAD")
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
async def test_if_range_decides_between_206_and_200(
    client_for: ClientFor, doc: Path, if_range: str, status: int
) -> None:
    headers = {"Range": "bytes=2-3", "If-Range": if_range.format(etag=etag_of(doc))}
    reply = await _get(client_for, doc.parent, headers)
    assert reply.status == status
    assert reply.body == (b"23" if status == 206 else b"0123456789abcdef")


async def test_if_range_mismatch_does_not_answer_416(client_for: ClientFor, doc: Path) -> None:
    reply = await _get(client_for, doc.parent, {"Range": "bytes=100-", "If-Range": '"other"'})
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
async def test_precompressed_sibling_by_accept_encoding(
    client_for: ClientFor, script: Path, accept: str, coding: str | None
) -> None:
    client = await client_for(script)
    headers = {"Accept-Encoding": accept} if accept else {}
    reply = await client.request("GET", "/app.js", headers)
    bodies = {None: b"console.log('plain')", "gzip": b"GZIP-BYTES", "br": b"BROTLI-BYTES!"}
    assert reply.status == 200
    assert reply.body == bodies[coding]
    assert reply.headers.get("content-encoding") == coding
    # The built-in table (not /etc/mime.types): Python 3.12 moved .js to text/javascript.
    assert reply.headers["content-type"] in ("application/javascript", "text/javascript")
    assert reply.headers["vary"] == "Accept-Encoding"  # a sibling exists: always Vary


async def test_encoded_representations_have_their_own_etag(
    client_for: ClientFor, script: Path
) -> None:
    client = await client_for(script)
    plain = await client.request("GET", "/app.js")
    gzipped = await client.request("GET", "/app.js", {"Accept-Encoding": "gzip"})
    not_modified = await client.request(
        "GET", "/app.js", {"Accept-Encoding": "gzip", "If-None-Match": gzipped.headers["etag"]}
    )
    other = await client.request(
        "GET", "/app.js", {"Accept-Encoding": "br", "If-None-Match": gzipped.headers["etag"]}
    )
    part = await client.request("GET", "/app.js", {"Accept-Encoding": "gzip", "Range": "bytes=0-3"})
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


async def test_sibling_symlink_is_ignored(client_for: ClientFor, tmp_path: Path) -> None:
    secret = make_file(tmp_path / "secret", b"top secret")
    root = tmp_path / "root"
    root.mkdir()
    make_file(root / "a.txt", b"plain")
    (root / "a.txt.gz").symlink_to(secret)
    client = await client_for(root)
    reply = await client.request("GET", "/a.txt", {"Accept-Encoding": "gzip"})
    assert reply.body == b"plain"
    assert "content-encoding" not in reply.headers
    assert "vary" not in reply.headers


async def test_vary_is_merged_with_a_given_one(client_for: ClientFor, script: Path) -> None:
    client = await client_for(script, headers={"Vary": "Origin"})
    reply = await client.request("GET", "/app.js", {"Accept-Encoding": "gzip"})
    assert reply.headers["vary"] == "Origin, Accept-Encoding"


async def test_error_bodies_are_not_labelled_as_encoded(
    client_for: ClientFor, script: Path
) -> None:
    client = await client_for(script)
    reply = await client.request("GET", "/app.js", {"Accept-Encoding": "gzip", "Range": "x"})
    assert reply.status == 416
    assert "content-encoding" not in reply.headers
    assert reply.body == RANGE_NOT_SATISFIABLE


# -- the response object ------------------------------------------------------------------


async def test_prepare_returns_the_writer_and_then_is_finished(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    make_file(tmp_path / "a.txt", b"abc")
    seen: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        resp = FileResponse(tmp_path / "a.txt")
        writer = await resp.prepare(request)
        seen.extend([writer is request.writer, await resp.prepare(request), resp.prepared])
        return resp

    client = await make_client(handler)
    reply = await client.get("/")
    assert await reply.read() == b"abc"
    await client.close()  # the handler may still be running: the server waits for it
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
async def test_client_leaving_mid_file_does_not_hurt_the_server(
    make_raw_server: ServerFactory,
    make_client: ClientFactory,
    big_file: tuple[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
    nosendfile: bool,
) -> None:
    path, data = big_file
    monkeypatch.setattr(fileresponse, "NOSENDFILE", nosendfile)
    server = await make_raw_server(file_server(path.parent, chunk_size=4096))
    # A raw socket: the client hangs up (a reset) after the first 1000 bytes.
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
    await reader.readexactly(1000)
    writer.transport.abort()
    await asyncio.sleep(0.05)
    client = await make_client(server)
    reply = await client.get("/big.bin")
    assert await reply.read() == data


async def test_permission_denied_is_403(
    client_for: ClientFor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_file(tmp_path / "private.txt", b"secret")
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any) -> int:
        if os.fspath(path).endswith("private.txt"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    client = await client_for(tmp_path)
    reply = await client.request("GET", "/private.txt")
    assert reply.status == 403
    assert reply.body == b"403: Forbidden"
