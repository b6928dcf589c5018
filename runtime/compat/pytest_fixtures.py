"""aiohttp's pytest fixture names (``aiohttp_client``, ``aiohttp_server``,
``aiohttp_raw_server``, ``aiohttp_unused_port``) on Berth's test kit: the substitute
``aiohttp.pytest_plugin``.

Loaded only through the compatibility mode (``pytest_plugins = "aiohttp.pytest_plugin"``
after ``runtime.compat.aiohttp.install()``): Berth's own plugin defines no ``aiohttp_*``
names, so pytest-aiohttp's fixtures are never shadowed otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from ..testing import BaseTestServer, TestClient, unused_port
from ..testing.pytest_plugin import ClientFactory, ServerFactory

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
AiohttpClient = Callable[..., Awaitable[TestClient]]
AiohttpServer = Callable[..., Awaitable[BaseTestServer]]
AiohttpRawServer = Callable[..., Awaitable[BaseTestServer]]


@pytest.fixture
def aiohttp_client(make_client: ClientFactory) -> ClientFactory:
    """``client = await aiohttp_client(app_or_server, server_kwargs=None, **kwargs)``."""
    return make_client


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
