"""Shared helpers for the web tests that go through the test kit: fixture types, streamed
request bodies, a request whose response is read whole, and a raw request served by a
probing handler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from runtime.client import ClientResponse
from runtime.testing.kit import BaseTestServer, TestClient
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from tests.support import Reply, exchange

ClientFactory = Callable[..., Awaitable[TestClient]]
ServerFactory = Callable[..., Awaitable[BaseTestServer]]


class Probe(Protocol):
    """The ``probe`` fixture (tests/web/conftest.py)."""

    async def __call__(
        self,
        fn: Callable[[BaseRequest], Awaitable[Any]],
        method: str = "GET",
        path: str = "/",
        *,
        server_kwargs: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> tuple[ClientResponse, Any]: ...


async def pieces_of(data: bytes, size: int, *, pause: float = 0.0) -> AsyncIterator[bytes]:
    """``data`` in pieces of ``size`` bytes: the client sends it chunked, one chunk a
    piece, pausing ``pause`` seconds between pieces (so the server sees them apart)."""
    for start in range(0, len(data), size):
        if start and pause:
            await asyncio.sleep(pause)
        yield data[start : start + size]


async def send(
    client: TestClient, method: str, path: str, headers: dict[str, str] | None = None
) -> Reply:
    """One request through the test client, redirects not followed; the body read."""
    response = await client.request(method, path, headers=headers, allow_redirects=False)
    return Reply(response.status, response.headers, await response.read())


async def raw_probe(
    make_raw_server: ServerFactory,
    fn: Callable[[BaseRequest], Awaitable[Any]],
    data: bytes | list[bytes],
    **server_kwargs: Any,
) -> tuple[Reply, Any]:
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
