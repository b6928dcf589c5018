"""``track_cluster`` with a real hub on a real redis-server: the hub's counters reach
Prometheus while the app runs and after it stops, and messages the hub fans out to sockets
(``_offer``) count as WebSocket messages sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from middlewares.metrics import (
    ClusterMetrics,
    HttpMetrics,
    metrics_middleware,
    track_cluster,
)
from runtime import cluster, web
from runtime.client import ClientWebSocketResponse
from runtime.testing import TestClient, TestServer
from tests.support.redis import REDIS_SERVER, RedisServer

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


def make_app(url: str, registry: CollectorRegistry) -> web.Application:
    app = web.Application(middlewares=[metrics_middleware(metrics=HttpMetrics(registry))])
    hub = cluster.setup(app, url, prefix="metrics", backoff_min=0.1, backoff_max=0.5)
    track_cluster(app, hub, metrics=ClusterMetrics(registry), interval=0.05)

    async def room(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        cluster.hub(request).register(ws, topics=["lobby"])
        await ws.send_str("ready")
        async for msg in ws:
            await cluster.hub(request).publish("lobby", msg.data)
        return ws

    app.router.add_get("/rooms/lobby", room)
    return app


async def join(client: TestClient) -> ClientWebSocketResponse:
    ws = await client.ws_connect("/rooms/lobby")
    assert await ws.receive_str(timeout=5) == "ready"
    return ws


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def until(check: object, timeout: float = 10.0) -> None:
    """Poll ``check()`` until it is true."""
    assert callable(check)
    for _ in range(int(timeout / 0.02)):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


async def test_the_hub_counters_are_exported_while_running_and_after(
    redis_server: RedisServer,
) -> None:
    registry = CollectorRegistry()
    client = TestClient(TestServer(make_app(redis_server.url, registry)))
    await client.start_server()
    try:
        hub = cluster.hub(client.app) if client.app is not None else None
        assert hub is not None
        sockets = [await join(client), await join(client)]
        await until(lambda: hub.connected and value(registry, "berth_cluster_connected") == 1)
        await asyncio.sleep(0.05)  # the subscription is confirmed after the connection
        await sockets[0].send_str("hello")
        for ws in sockets:
            assert await ws.receive_str(timeout=5) == "hello"
        # Copied by the periodic task, the app still running.
        await until(lambda: value(registry, "berth_cluster_messages_delivered_total") == 2)
        assert value(registry, "berth_cluster_messages_published_total") == 1
        assert value(registry, "berth_cluster_messages_received_total") == 1
        assert value(registry, "berth_cluster_messages_dropped_total") == 0
        # The fan-out goes through _offer: counted as sent, beside each "ready".
        messages = "http_server_websocket_messages_total"
        route = "/rooms/lobby"
        assert value(registry, messages, http_route=route, direction="sent") == 4
        assert value(registry, messages, http_route=route, direction="received") == 1
        await hub.publish("lobby", "after the last copy?")
        for ws in sockets:
            await ws.close()
    finally:
        await client.close()
    # After cleanup: one last copy (the publish above), and the worker is not connected.
    assert value(registry, "berth_cluster_messages_published_total") == 2
    assert value(registry, "berth_cluster_connected") == 0


async def test_an_outage_is_exported_as_a_reconnect_and_a_gap(redis_server: RedisServer) -> None:
    registry = CollectorRegistry()
    client = TestClient(TestServer(make_app(redis_server.url, registry)))
    await client.start_server()
    try:
        ws = await join(client)
        await until(lambda: value(registry, "berth_cluster_connected") == 1)
        await asyncio.to_thread(redis_server.restart_after, 0.5)
        assert (await ws.receive(timeout=10)).data == 1012  # on_gap's default close
        await until(lambda: value(registry, "berth_cluster_reconnects_total") == 1)
        assert value(registry, "berth_cluster_gaps_total") == 1
        await until(lambda: value(registry, "berth_cluster_connected") == 1)
    finally:
        await client.close()
