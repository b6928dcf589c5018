"""Raw HTTP/1.1 over loopback, for the web tests where the bytes on the wire are the point:
malformed requests, targets the client would normalise (``..``, ``//host``), HTTP/1.0
without ``Host``, pipelining. Servers come from the test kit's fixtures; only the bytes
are hand-made here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from runtime.request import BaseRequest
from runtime.response import Response, StreamResponse

from .support import ServerFactory


@dataclass
class RawResponse:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def outcome(self) -> tuple[int, bytes, str | None]:
        """What a client can learn: status, body and type."""
        return self.status, self.body, self.headers.get("Content-Type")


def build_request(
    method: str = "GET",
    target: str = "/",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | None = None,
    *,
    host: str | None = "example.test",
    version: str = "1.1",
) -> bytes:
    """Request bytes: the request line, ``Host`` (unless None), the headers, Content-Length
    when a body is given and no framing header was, then the body."""
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


async def read_response(reader: asyncio.StreamReader, *, head: bool = False) -> RawResponse:
    """One response: the head up to the blank line, then Content-Length bytes (or to EOF);
    no body for a response to HEAD (``head=True``)."""
    raw_head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = raw_head[:-4].decode("latin-1").split("\r\n")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.add(name, value.strip())
    if head:
        body = b""
    elif "Content-Length" in headers:
        body = await reader.readexactly(int(headers["Content-Length"]))
    else:
        body = await reader.read()
    return RawResponse(int(status_line.split(" ")[1]), headers, body)


async def exchange(port: int | None, data: bytes | list[bytes]) -> RawResponse:
    """Send ``data`` on a new connection and read one response.

    A list is sent piece by piece with a short pause between pieces (so the server sees
    them arrive separately). Writing goes on while the response is read: a server may
    answer (413, 400) before the whole body is sent, then stop reading it.
    """
    assert port is not None, "the server is not started"
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    chunks = [data] if isinstance(data, bytes) else data

    async def send() -> None:
        try:
            for index, chunk in enumerate(chunks):
                if index:
                    await asyncio.sleep(0.05)
                writer.write(chunk)
                await writer.drain()
        except ConnectionError:
            pass  # the server answered early and closed

    sender = asyncio.create_task(send())
    try:
        return await read_response(reader, head=chunks[0].startswith(b"HEAD "))
    finally:
        await sender
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


async def fetch(
    port: int | None, target: str, headers: dict[str, str] | None = None, *, method: str = "GET"
) -> RawResponse:
    """One request whose target is sent exactly as given, on a new connection."""
    fields = [*(headers or {}).items(), ("Connection", "close")]
    return await exchange(port, build_request(method, target, fields, host="localhost"))


async def raw_probe(
    make_raw_server: ServerFactory,
    fn: Callable[[BaseRequest], Awaitable[Any]],
    data: bytes | list[bytes],
    **server_kwargs: Any,
) -> tuple[RawResponse, Any]:
    """Serve the raw request ``data`` with a handler awaiting ``fn(request)``; returns the
    response and what ``fn`` returned (None when it raised)."""
    results: list[Any] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        value = await fn(request)
        results.append(value)
        if isinstance(value, StreamResponse):
            return value
        return Response(text="ok")

    server = await make_raw_server(handler, **server_kwargs)
    response = await exchange(server.port, data)
    return response, results[0] if results else None
