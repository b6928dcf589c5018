"""aiohttp's pytest fixture names (``aiohttp_client``, ``aiohttp_server``,
``aiohttp_raw_server``) on Berth's test kit: the substitute ``aiohttp.pytest_plugin``.

Loaded only through the compatibility mode (``pytest_plugins = "aiohttp.pytest_plugin"``
after ``runtime.compat.aiohttp.install()``): Berth's own plugin defines no ``aiohttp_*``
names, so pytest-aiohttp's fixtures are never shadowed otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from ..testing import BaseTestServer, TestClient
from ..testing.pytest_plugin import ClientFactory, ServerFactory

__all__ = [
    "AiohttpClient",
    "AiohttpRawServer",
    "AiohttpServer",
    "aiohttp_client",
    "aiohttp_raw_server",
    "aiohttp_server",
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
