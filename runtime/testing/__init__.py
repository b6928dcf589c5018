"""The test kit: ``TestServer``, ``TestClient`` and friends (aiohttp.test_utils' names), and
the pytest plugin (``runtime.testing.pytest_plugin``, registered as ``berth``). See
docs/testing.md."""

from .kit import BaseTestServer, RawTestServer, TestClient, TestServer, loop_context, unused_port

__all__ = [
    "BaseTestServer",
    "RawTestServer",
    "TestClient",
    "TestServer",
    "loop_context",
    "unused_port",
]
