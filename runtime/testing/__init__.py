"""The test kit: ``TestServer``, ``TestClient`` and friends (aiohttp.test_utils' names),
``make_mocked_request`` for unit tests without a server, and the pytest plugin
(``runtime.testing.pytest_plugin``, registered as ``berth``). See docs/testing.md."""

from .kit import BaseTestServer, RawTestServer, TestClient, TestServer, loop_context, unused_port
from .mocked import make_mocked_coro, make_mocked_request

__all__ = [
    "BaseTestServer",
    "RawTestServer",
    "TestClient",
    "TestServer",
    "loop_context",
    "make_mocked_coro",
    "make_mocked_request",
    "unused_port",
]
