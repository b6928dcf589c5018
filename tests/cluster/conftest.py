"""Fixtures for the cluster tests: a real ``redis-server`` on a free loopback port.

``redis_server`` is the test's own (it may stop, restart or kill it); ``module_redis_server``
is shared by a module's tests that only publish and read, and is flushed before each use.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis import REDIS_SERVER, RedisServer


def _require_redis() -> None:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh, running ``redis-server`` for one test, killed at its end."""
    _require_redis()
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def _module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    _require_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def module_redis_server(_module_redis: RedisServer) -> RedisServer:
    """The module's ``redis-server``, started again if a test stopped it, and empty."""
    if not _module_redis.running:
        _module_redis.start()
    _module_redis.command("FLUSHALL")
    return _module_redis
