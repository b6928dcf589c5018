"""aiohttp's pytest fixture names (``aiohttp_client``, ``aiohttp_server``,
``aiohttp_raw_server``, ``aiohttp_unused_port``) on Berth's test kit: the substitute
``aiohttp.pytest_plugin``. Servers are Berth's; ``aiohttp_client``'s clients talk through
aiohttp's own ``ClientSession`` (:class:`AiohttpTestClient`), as the client stays aiohttp's.

Loaded only through the compatibility mode (``pytest_plugins = "aiohttp.pytest_plugin"``
after ``runtime.compat.aiohttp.install()``): Berth's own plugin defines no ``aiohttp_*``
names, so pytest-aiohttp's fixtures are never shadowed otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from ..testing import BaseTestServer, TestServer, unused_port
from ..testing.pytest_plugin import ServerFactory, Tracker
from ..web import Application
from .test_client import AiohttpTestClient

__all__ = [
    "AiohttpClient",
    "AiohttpRawServer",
    "AiohttpServer",
    "aiohttp_client",
    "aiohttp_raw_server",
    "aiohttp_server",
    "aiohttp_unused_port",
]

# aiohttp.pytest_plugin's names for the fixtures' types, used in extensions' annotations.
AiohttpClient = Callable[..., Awaitable[AiohttpTestClient]]
AiohttpServer = Callable[..., Awaitable[BaseTestServer]]
AiohttpRawServer = Callable[..., Awaitable[BaseTestServer]]


@pytest.fixture
def aiohttp_client(request: pytest.FixtureRequest) -> Iterator[AiohttpClient]:
    """``client = await aiohttp_client(app_or_server, server_kwargs=None, **kwargs)``: an
    :class:`AiohttpTestClient` (aiohttp's session) on a started Berth test server, closed
    after the test; ``kwargs`` go to aiohttp's ``ClientSession``."""
    tracker = Tracker(request)  # closed before any fixture's teardown, as make_client's

    async def factory(
        target: Application | BaseTestServer,
        *,
        server_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> AiohttpTestClient:
        if isinstance(target, Application):
            target = TestServer(target, **(server_kwargs or {}))
        elif not isinstance(target, BaseTestServer):
            raise ValueError(f"Unknown argument type: {type(target)!r}")
        client = AiohttpTestClient(target, **kwargs)
        tracker.add(client)
        await client.start_server()
        return client

    yield factory
    tracker.close_all()


@pytest.fixture
def aiohttp_server(make_server: ServerFactory) -> ServerFactory:
    """``server = await aiohttp_server(app, port=None, **kwargs)``."""
    return make_server


@pytest.fixture
def aiohttp_raw_server(make_raw_server: ServerFactory) -> ServerFactory:
    """``server = await aiohttp_raw_server(handler, port=None, **kwargs)``."""
    return make_raw_server


@pytest.fixture
def aiohttp_unused_port() -> Callable[[], int]:
    """``port = aiohttp_unused_port()``: a free TCP port on 127.0.0.1."""
    return unused_port
