"""A real server on loopback and a raw HTTP/1.1 client for the middleware tests.

The client can bind its source address (``127.0.0.2`` is a second loopback peer, for the
proxy-trust tests) and keep a connection alive across requests (for the context-leak tests).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from multidict import CIMultiDict

from runtime import web

Headers = Iterable[tuple[str, str]]


def run(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test function in a fresh event loop, with a timeout."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 20))

    return wrapper


@dataclass
class Reply:
    status: int
    headers: CIMultiDict[str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


@asynccontextmanager
async def serve(
    app: web.Application,
    *,
    ssl_context: ssl.SSLContext | None = None,
    unix_path: str | None = None,
    **runner_kwargs: Any,
) -> AsyncIterator[int]:
    """Start ``app`` on a free loopback port (all of 127.0.0.0/8 reaches it), with TLS when
    given a context, and also on ``unix_path`` when given; yields the port."""
    runner_kwargs.setdefault("access_log", None)
    runner = web.AppRunner(app, shutdown_timeout=2, **runner_kwargs)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    if unix_path is not None:
        await web.UnixSite(runner, unix_path).start()
    assert site.port is not None
    try:
        yield site.port
    finally:
        await runner.cleanup()


class Connection:
    """One keep-alive connection; ``request`` sends a request and reads its response."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(
        cls, port: int, source: str | None = None, tls: ssl.SSLContext | None = None
    ) -> Connection:
        local = (source, 0) if source is not None else None
        reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            port,
            local_addr=local,
            ssl=tls,
            server_hostname="localhost" if tls else None,
        )
        return cls(reader, writer)

    @classmethod
    async def open_unix(cls, path: str) -> Connection:
        reader, writer = await asyncio.open_unix_connection(path)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()

    async def request(
        self,
        method: str = "GET",
        target: str = "/",
        headers: Headers = (),
        *,
        host: str | None = "localhost",
    ) -> Reply:
        lines = [f"{method} {target} HTTP/1.1"]
        if host is not None:
            lines.append(f"Host: {host}")
        lines += [f"{name}: {value}" for name, value in headers]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape"))
        return await self._response(method)

    async def _response(self, method: str) -> Reply:
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head[:-4].decode("latin-1").split("\r\n")
        headers: CIMultiDict[str] = CIMultiDict()
        for line in lines:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
        status = int(status_line.split()[1])
        if method == "HEAD" or status in (204, 304):
            return Reply(status, headers, b"")
        if headers.get("Transfer-Encoding") == "chunked":
            return Reply(status, headers, await self._chunked())
        if "Content-Length" in headers:
            return Reply(
                status, headers, await self.reader.readexactly(int(headers["Content-Length"]))
            )
        return Reply(status, headers, await self.reader.read())

    async def _chunked(self) -> bytes:
        body = b""
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return body
            body += await self.reader.readexactly(size)
            await self.reader.readexactly(2)


async def fetch(
    port: int,
    method: str = "GET",
    target: str = "/",
    headers: Headers = (),
    *,
    source: str | None = None,
    host: str | None = "localhost",
    tls: ssl.SSLContext | None = None,
) -> Reply:
    """One request on a connection of its own, from ``source`` (default 127.0.0.1)."""
    conn = await Connection.open(port, source, tls)
    try:
        return await conn.request(method, target, headers, host=host)
    finally:
        await conn.close()
