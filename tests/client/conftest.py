from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
from yarl import URL

from runtime.testing.kit import BaseTestServer
from tests.client.servers import app_handler, stdlib_server


@pytest.fixture
def server(make_raw_server: Callable[..., Awaitable[BaseTestServer]]) -> Callable[..., Any]:
    """``srv = await server(**server_kwargs)``: our low-level server running app_handler."""

    async def start(**kwargs: Any) -> BaseTestServer:
        kwargs.setdefault("access_log", None)
        kwargs.setdefault("handler_cancellation", True)
        return await make_raw_server(app_handler, **kwargs)

    return start


@pytest.fixture
def stdlib() -> Iterator[ThreadingHTTPServer]:
    with stdlib_server() as srv:
        yield srv


def stdlib_url(srv: ThreadingHTTPServer, path: str) -> URL:
    host, port = srv.server_address[:2]
    return URL.build(scheme="http", host=str(host), port=int(port), path=path)
