"""Fixtures for the cluster tests: a real ``redis-server`` on a free loopback port, and
gunicorn masters through the worker tests' harness.

``redis_server`` is the test's own (it may stop, restart or kill it); ``module_redis_server``
is shared by a module's tests, which keep to names of their own and leave it running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.redis import REDIS_SERVER, RedisServer
from tests.workers.harness import Launcher, launcher


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
def module_redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One ``redis-server`` for a whole module, killed after its last test."""
    _require_redis()
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Launcher]:
    """Start gunicorn instances with ``gunicorn(*cli_args, target=...)``; every one is
    killed (with its whole session) when the test ends."""
    with launcher(tmp_path) as launch:
        yield launch
