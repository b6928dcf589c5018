"""Shared helpers for the routing tests: requests without a connection, and a real server."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

from runtime import web
from runtime.http.message import HttpVersion11, RequestMessage
from runtime.http.streams import EMPTY_PAYLOAD
from runtime.request import Request


def run(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test function to completion (until the async test plugin exists)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), 20))

    return wrapper


def make_request(method: str, target: str, headers: dict[str, str] | None = None) -> Request:
    """A request as the parser would produce it; no connection behind it."""
    raw = tuple((k.encode("latin-1"), v.encode("utf-8")) for k, v in (headers or {}).items())
    message = RequestMessage(method, target, HttpVersion11, raw)
    return Request(message, EMPTY_PAYLOAD, None, None, None, None)  # type: ignore[arg-type]


async def resolve(router: web.UrlDispatcher, method: str, target: str, **headers: str) -> Any:
    return await router.resolve(make_request(method, target, headers))


async def text_handler(request: web.Request) -> web.StreamResponse:
    """Answers with the route's name and the match info, for checking what matched."""
    info = ",".join(f"{k}={v}" for k, v in sorted(request.match_info.items()))
    return web.Response(text=f"{request.match_info.route.name}|{info}")


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[int]:
    """Start ``app`` on a free loopback port; yields the port."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    assert site.port is not None
    try:
        yield site.port
    finally:
        await runner.cleanup()


async def fetch(
    port: int, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
) -> Reply:
    """One request on a new connection, raw bytes on the wire."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    all_headers = {"Host": "localhost", "Connection": "close", **(headers or {})}
    if body:
        all_headers["Content-Length"] = str(len(body))
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in all_headers.items()
    )
    writer.write(head.encode("utf-8") + b"\r\n" + body)
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    parsed = {}
    for line in lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), parsed, payload)
