"""Shared helpers for the web tests that go through the test kit: fixture types, streamed
request bodies, and a request whose response is read whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

from multidict import CIMultiDictProxy

from runtime.client import ClientResponse
from runtime.request import BaseRequest
from runtime.testing import BaseTestServer, TestClient

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


class Reply:
    """A response read whole: ``status``, ``headers``, ``body`` and ``text``."""

    def __init__(self, status: int, headers: CIMultiDictProxy[str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode()

    def outcome(self) -> tuple[int, bytes, str | None]:
        """What a client can learn: status, body and type."""
        return self.status, self.body, self.headers.get("Content-Type")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {dict(self.headers)} {self.body[:60]!r}>"


async def send(
    client: TestClient, method: str, path: str, headers: dict[str, str] | None = None
) -> Reply:
    """One request through the test client, redirects not followed; the body read."""
    response = await client.request(method, path, headers=headers, allow_redirects=False)
    return Reply(response.status, response.headers, await response.read())
