"""A raw HTTP/1.1 client: the tests decide every byte sent and see every byte received.

For the tests where the wire is the point: malformed requests, targets a real client would
normalise (``..``, ``//host``), HTTP/1.0 without ``Host``, pipelining, a chosen source
address (``127.0.0.2`` is a second loopback peer), TLS, Unix sockets, keep-alive.

- :func:`build_request` makes request bytes; :func:`read_reply` reads one response from a
  stream (:func:`read_head` and :func:`read_chunk` read it piece by piece, for streamed
  bodies); :func:`parse_replies` splits bytes already received (a fake transport's
  output, or a socket read until it closed) into responses.
- :class:`Connection` is one connection, kept alive across requests.
- :func:`fetch` is one request on a connection of its own; :func:`exchange` sends any bytes
  (in pieces, if asked) on a new connection and reads one response.
- :func:`recv_until_closed` reads a blocking socket to its end, for the tests that talk to
  server processes from synchronous code.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

Headers = Iterable[tuple[str, str]] | Mapping[str, str]


@dataclass
class Reply:
    """A response read whole: ``status``, ``headers`` (names case-insensitive) and
    ``body`` (transfer-decoded: chunked framing removed; content codings left as sent)."""

    status: int
    headers: CIMultiDict[str] | CIMultiDictProxy[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.body)

    def outcome(self) -> tuple[int, bytes, str | None]:
        """What a client can learn: status, body and type."""
        return self.status, self.body, self.headers.get("Content-Type")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {dict(self.headers)} {self.body[:60]!r}>"


# -- requests ---------------------------------------------------------------------------


def build_request(
    method: str = "GET",
    target: str = "/",
    headers: Headers = (),
    body: bytes | None = None,
    *,
    host: str | None = "example.test",
    version: str = "1.1",
) -> bytes:
    """Request bytes: the request line, ``Host`` (unless None), the headers, Content-Length
    when a body is given and no framing header was, then the body. The target and the
    values are sent as given (UTF-8, lone surrogates standing for raw bytes)."""
    if isinstance(headers, Mapping):
        headers = headers.items()
    lines = [f"{method} {target} HTTP/{version}"]
    names = set()
    if host is not None:
        lines.append(f"Host: {host}")
    for name, value in headers:
        names.add(name.lower())
        lines.append(f"{name}: {value}")
    if body is not None and not names & {"content-length", "transfer-encoding"}:
        lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")
    return head + (body or b"")


# -- responses --------------------------------------------------------------------------


def _parse_head(head: bytes) -> tuple[int, CIMultiDict[str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    return int(status_line.split(" ")[1]), headers


def _bodiless(status: int, method: str) -> bool:
    return method == "HEAD" or status < 200 or status in (204, 304)


async def read_head(reader: asyncio.StreamReader) -> tuple[int, CIMultiDict[str]]:
    """A response's status and header fields, read up to the blank line."""
    raw_head = await reader.readuntil(b"\r\n\r\n")
    return _parse_head(raw_head[:-4])


async def read_chunk(reader: asyncio.StreamReader) -> bytes:
    """The next chunk of a chunked body, as it comes; b"" at its end (trailers skipped)."""
    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
    if size == 0:
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass  # a trailer field
        return b""
    data = await reader.readexactly(size)
    await reader.readexactly(2)
    return data


async def read_reply(reader: asyncio.StreamReader, *, method: str = "GET") -> Reply:
    """One response: the head, then the body as framed (chunked, Content-Length bytes, or
    to EOF); none for 1xx, 204, 304 or an answer to HEAD."""
    status, headers = await read_head(reader)
    if _bodiless(status, method):
        body = b""
    elif headers.get("Transfer-Encoding") == "chunked":
        chunks = []
        while chunk := await read_chunk(reader):
            chunks.append(chunk)
        body = b"".join(chunks)
    elif "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    else:
        body = await reader.read()
    return Reply(status, headers, body)


def parse_replies(data: bytes, *, no_body: int = 0) -> list[Reply]:
    """Split a byte stream of responses; the first ``no_body`` ones answer HEAD requests.

    Lenient on purpose: a body cut short is returned as far as it came; an incomplete head
    fails an assertion and a broken chunk size raises ValueError.
    """
    out: list[Reply] = []
    while data:
        head, sep, data = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete head: {head!r}"
        status, headers = _parse_head(head)
        body = b""
        if _bodiless(status, "HEAD" if len(out) < no_body else "GET"):
            pass
        elif headers.get("Transfer-Encoding") == "chunked":
            while True:
                size_line, _, data = data.partition(b"\r\n")
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    _, _, data = data.partition(b"\r\n")
                    break
                body += data[:size]
                data = data[size + 2 :]
        elif "Content-Length" in headers:
            size = int(headers["Content-Length"])
            body, data = data[:size], data[size:]
        else:
            body, data = data, b""
        out.append(Reply(status, headers, body))
    return out


# -- connections ------------------------------------------------------------------------


class Connection:
    """One connection: ``request`` sends a request and reads its response; ``writer`` and
    ``reader`` are there for the bytes a test writes or reads by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, port: int, source: str | None = None, tls: ssl.SSLContext | None = None
    ) -> Connection:
        """Connect to 127.0.0.1 from ``source`` (default 127.0.0.1), with TLS when given a
        context (the server is expected to present a certificate for ``localhost``)."""
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            port,
            local_addr=(source, 0) if source is not None else None,
            ssl=tls,
            server_hostname="localhost" if tls else None,
        )
        return cls(reader, writer)

    @classmethod
    async def open_unix(cls, path: str) -> Connection:
        reader, writer = await asyncio.open_unix_connection(path)
        return cls(reader, writer)

    async def request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: Headers = (),
        body: bytes | None = None,
        *,
        host: str | None = "localhost",
    ) -> Reply:
        self.writer.write(build_request(method, target, headers, body, host=host))
        return await read_reply(self.reader, method=method)

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass  # the server reset it first

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def fetch(
    port: int,
    method: str = "GET",
    target: str = "/",
    headers: Headers = (),
    body: bytes | None = None,
    *,
    source: str | None = None,
    host: str | None = "localhost",
    tls: ssl.SSLContext | None = None,
) -> Reply:
    """One request on a connection of its own, from ``source`` (default 127.0.0.1); the
    target and headers are sent exactly as given."""
    async with await Connection.open(port, source, tls) as conn:
        return await conn.request(method, target, headers, body, host=host)


async def exchange(port: int | None, data: bytes | list[bytes]) -> Reply:
    """Send ``data`` on a new connection and read one response.

    A list is sent piece by piece with a short pause between pieces (so the server sees
    them arrive separately). Writing goes on while the response is read: a server may
    answer (413, 400) before the whole body is sent, then stop reading it.
    """
    assert port is not None, "the server is not started"
    chunks = [data] if isinstance(data, bytes) else data
    async with await Connection.open(port) as conn:

        async def send() -> None:
            try:
                for index, chunk in enumerate(chunks):
                    if index:
                        await asyncio.sleep(0.05)
                    conn.writer.write(chunk)
                    await conn.writer.drain()
            except ConnectionError:
                pass  # the server answered early and closed

        sender = asyncio.create_task(send())
        try:
            method = "HEAD" if chunks[0].startswith(b"HEAD ") else "GET"
            return await read_reply(conn.reader, method=method)
        finally:
            await sender


def recv_until_closed(sock: socket.socket) -> bytes:
    """Everything a blocking socket receives until the peer closes it."""
    received = bytearray()
    while chunk := sock.recv(65536):
        received += chunk
    return bytes(received)
