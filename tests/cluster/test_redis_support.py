"""The Redis test helper itself: a real server that answers, restarts on its port, and
shows its clients (the end-to-end tests rely on each of these)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from tests.support.redis import RedisServer, local_ports_of, needs_redis


def test_starts_without_persistence(redis_server: RedisServer) -> None:
    assert redis_server.command("PING") is True
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.command("CONFIG", "GET", "save") == {"save": ""}
    assert redis_server.command("CONFIG", "GET", "appendonly") == {"appendonly": "no"}
    assert redis_server.command("CONFIG", "GET", "bind") == {"bind": "127.0.0.1"}


def test_stop_then_start_on_the_same_port(redis_server: RedisServer) -> None:
    port = redis_server.port
    redis_server.stop()
    assert not redis_server.running
    with pytest.raises(redis.ConnectionError):
        redis_server.command("PING")
    redis_server.start()
    assert redis_server.port == port
    assert redis_server.command("PING") is True


def test_kill_drops_clients(redis_server: RedisServer) -> None:
    with redis_server.client() as conn:
        conn.ping()
        redis_server.kill()
        with pytest.raises(redis.ConnectionError):
            conn.execute_command("PING")


def test_client_list_and_kill_by_process(redis_server: RedisServer) -> None:
    with redis_server.client() as conn:
        pubsub = conn.pubsub()
        pubsub.subscribe("room")
        pubsub.get_message(timeout=1)
        subscribers = redis_server.subscribers()
        assert [int(c["sub"]) for c in subscribers] == [1]
        ports = local_ports_of(os.getpid(), redis_server.port or 0)
        assert int(subscribers[0]["addr"].rsplit(":", 1)[1]) in ports
        assert redis_server.kill_connections_of(ports) >= 1
        assert redis_server.subscribers() == []
        pubsub.close()


@needs_redis
def test_extra_bind_address(tmp_path: Path) -> None:
    server = RedisServer(tmp_path, binds=("127.0.0.1", "127.0.0.2")).start()
    try:
        with redis.Redis(host="127.0.0.2", port=server.port, socket_timeout=5) as conn:
            assert conn.ping() is True
    finally:
        server.kill()


async def test_async_client(redis_server: RedisServer) -> None:
    conn = redis_server.async_client()
    try:
        await conn.set("k", "v")
        assert await conn.get("k") == "v"
    finally:
        await conn.aclose()
