"""Fixtures for the web tests, over the test kit's ``make_client``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from runtime.client import ClientResponse
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from tests.web.support import ClientFactory, Probe


@pytest.fixture
def probe(make_client: ClientFactory) -> Probe:
    """``response, value = await probe(fn, method, path, headers=..., data=...)``.

    Serves one request, sent by the test client with the given keywords, with a bare
    handler that awaits ``fn(request)``. Returns the client's response (body read) and
    what ``fn`` returned (None when it raised: the response then shows the error's
    status). When ``fn`` returns a response it is sent; otherwise the answer is ``ok``.
    ``server_kwargs`` configure the low-level server (``client_max_size``).
    """

    async def run(
        fn: Callable[[BaseRequest], Awaitable[Any]],
        method: str = "GET",
        path: str = "/",
        *,
        server_kwargs: dict[str, Any] | None = None,
        **request_kwargs: Any,
    ) -> tuple[ClientResponse, Any]:
        results: list[Any] = []

        async def handler(request: BaseRequest) -> StreamResponse:
            value = await fn(request)
            results.append(value)
            if isinstance(value, StreamResponse):
                return value
            return Response(text="ok")

        client = await make_client(handler, server_kwargs=server_kwargs)
        response = await client.request(method, path, **request_kwargs)
        await response.read()
        return response, results[0] if results else None

    return run
