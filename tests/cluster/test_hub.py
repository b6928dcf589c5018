"""The hub in-process: two applications ("workers") on one real redis-server.

Each worker is an application with its own hub, served by the test kit on its own port;
clients are the project's WebSocket client. The gunicorn end-to-end runs are in
test_gunicorn_cluster.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from runtime import cluster, web
from runtime.client import ClientWebSocketResponse
from runtime.testing import TestClient, TestServer
from tests.support.redis import RedisServer

pytestmark = pytest.mark.timeout(60)


def make_app(url: str, **settings: Any) -> web.Application:
    app = web.Application()
    settings.setdefault("backoff_min", 0.1)
    settings.setdefault("backoff_max", 0.5)
    settings.setdefault("health_interval", 1.0)
    cluster.setup(app, url, prefix="test", **settings)

    async def chat(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        topics = request.query.getall("topic", [])
        cluster.hub(request).register(ws, user=request.query.get("user"), topics=topics)
        await ws.send_str("ready")
        async for msg in ws:
            if msg.type is web.WSMsgType.TEXT:
                await cluster.hub(request).publish(topics[0], msg.data)
        return ws

    app.router.add_get("/ws", chat)
    return app


Workers = Callable[..., AsyncIterator[list[TestClient]]]


@pytest.fixture
async def workers(module_redis_server: RedisServer) -> AsyncIterator[list[TestClient]]:
    clients = [TestClient(TestServer(make_app(module_redis_server.url))) for _ in range(2)]
    for client in clients:
        await client.start_server()
    try:
        yield clients
    finally:
        for client in clients:
            await client.close()


def hub_of(client: TestClient) -> cluster.Hub:
    assert client.app is not None
    return cluster.hub(client.app)


async def join(client: TestClient, user: str, *topics: str) -> ClientWebSocketResponse:
    query = "&".join([f"user={user}"] + [f"topic={t}" for t in topics])
    ws = await client.ws_connect(f"/ws?{query}")
    assert (await ws.receive_str(timeout=5)) == "ready"
    return ws


async def settle(*hubs: cluster.Hub) -> None:
    """Wait until each hub's subscriptions are confirmed (a PUBLISH reaches them all)."""
    for _ in range(200):
        if all(h.connected for h in hubs):
            await asyncio.sleep(0.05)
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the hubs did not connect")


async def no_message(ws: ClientWebSocketResponse, wait: float = 0.2) -> None:
    with pytest.raises(TimeoutError):
        await ws.receive(timeout=wait)


async def test_publish_reaches_every_subscriber_on_every_worker_once(
    workers: list[TestClient],
) -> None:
    a, b = workers
    in_room = [
        await join(a, "u1", "room"),
        await join(b, "u2", "room"),
        await join(b, "u3", "room"),
    ]
    elsewhere = await join(a, "u4", "other")
    await settle(hub_of(a), hub_of(b))
    receivers = await hub_of(a).publish("room", "hello")
    assert receivers == 2  # one subscriber connection per worker, not one per socket
    await hub_of(b).publish("room", b"\x00\x01")
    for ws in in_room:
        assert await ws.receive_str(timeout=5) == "hello"
        assert await ws.receive_bytes(timeout=5) == b"\x00\x01"
        await no_message(ws)
    await no_message(elsewhere)
    assert hub_of(a).stats.published == 1
    assert hub_of(b).stats.delivered == 4


async def test_a_message_sent_on_a_socket_fans_out_through_redis(
    workers: list[TestClient],
) -> None:
    a, b = workers
    sender = await join(a, "u1", "room")
    listener = await join(b, "u2", "room")
    await settle(hub_of(a), hub_of(b))
    await sender.send_str("from a")
    assert await listener.receive_str(timeout=5) == "from a"
    assert await sender.receive_str(timeout=5) == "from a"  # the sender is in the room too


async def test_a_topic_is_subscribed_while_a_local_socket_wants_it(
    workers: list[TestClient], module_redis_server: RedisServer
) -> None:
    a, _ = workers
    ws = await join(a, "u1", "room")
    await settle(hub_of(a))

    async def channels() -> set[str]:
        for _ in range(100):
            found = set(module_redis_server.command("PUBSUB", "CHANNELS", "test:topic:*"))
            if found == expected:
                return found
            await asyncio.sleep(0.02)
        return found

    expected = {"test:topic:room"}
    assert await channels() == expected
    await ws.close()
    expected = set()
    assert await channels() == expected


async def test_close_user_closes_that_users_sockets_on_every_worker(
    workers: list[TestClient],
) -> None:
    a, b = workers
    alice = [await join(a, "alice", "room"), await join(b, "alice"), await join(b, "alice")]
    bob = await join(b, "bob", "room")
    await settle(hub_of(a), hub_of(b))
    report = await hub_of(a).close_user("alice", code=4001, reason="logged out")
    assert report.closed == 3
    assert report.complete
    assert set(report.workers) == {hub_of(a).worker_id, hub_of(b).worker_id}
    assert report.as_dict()["closed"] == 3
    for ws in alice:
        msg = await ws.receive(timeout=5)
        assert msg.type is web.WSMsgType.CLOSE
        assert msg.data == 4001
        assert msg.extra == "logged out"
    await no_message(bob)
    assert not bob.closed
    again = await hub_of(b).close_user("alice")
    assert again.closed == 0 and again.complete


async def test_close_user_refuses_a_code_that_may_not_be_sent(
    workers: list[TestClient],
) -> None:
    with pytest.raises(ValueError):
        await hub_of(workers[0]).close_user("alice", code=1005)  # RFC 6455 7.4.1


async def test_send_user_reaches_that_users_sockets_only(workers: list[TestClient]) -> None:
    a, b = workers
    alice = [await join(a, "alice"), await join(b, "alice")]
    bob = await join(a, "bob")
    await settle(hub_of(a), hub_of(b))
    report = await hub_of(b).send_user("alice", "just for you")
    assert report.sent == 2 and report.complete
    for ws in alice:
        assert await ws.receive_str(timeout=5) == "just for you"
    await no_message(bob)


async def test_presence_counts_sockets_per_worker_and_leaves_on_stop(
    module_redis_server: RedisServer,
) -> None:
    a = TestClient(TestServer(make_app(module_redis_server.url)))
    b = TestClient(TestServer(make_app(module_redis_server.url)))
    await a.start_server()
    await b.start_server()
    try:
        wa, wb = hub_of(a).worker_id, hub_of(b).worker_id
        assert await hub_of(a).workers() == sorted([wa, wb])
        sockets = [await join(a, "alice"), await join(a, "alice"), await join(b, "alice")]
        for _ in range(100):
            if await hub_of(b).presence("alice") == {wa: 2, wb: 1}:
                break
            await asyncio.sleep(0.02)
        assert await hub_of(b).presence("alice") == {wa: 2, wb: 1}
        await sockets[2].close()
        for _ in range(100):
            if await hub_of(a).presence("alice") == {wa: 2}:
                break
            await asyncio.sleep(0.02)
        assert await hub_of(a).presence("alice") == {wa: 2}
        await b.close()  # a clean stop leaves at once, without waiting for the TTL
        assert await hub_of(a).workers() == [wa]
        assert module_redis_server.command("EXISTS", f"test:presence:{wb}") == 0
    finally:
        await a.close()
        await b.close()


async def test_a_stopping_worker_closes_its_sockets_with_1001(
    module_redis_server: RedisServer,
) -> None:
    client = TestClient(TestServer(make_app(module_redis_server.url)))
    await client.start_server()
    ws = await join(client, "alice", "room")
    await client.server.close()
    msg = await ws.receive(timeout=5)
    assert msg.type is web.WSMsgType.CLOSE
    assert msg.data == 1001
    await client.close()


async def test_a_redis_outage_is_a_gap_the_sockets_hear_about(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "runtime.cluster")
    client = TestClient(TestServer(make_app(redis_server.url)))
    await client.start_server()
    try:
        hub = hub_of(client)
        in_room = await join(client, "alice", "room")
        no_topic = await join(client, "bob")
        await settle(hub)
        await asyncio.to_thread(redis_server.restart_after, 1.0)
        msg = await in_room.receive(timeout=10)
        assert msg.type is web.WSMsgType.CLOSE
        assert msg.data == 1012  # the default on_gap: reconnect and resync
        assert not no_topic.closed  # no topic, nothing missed: control is at-least-once
        assert hub.stats.gaps == 1
        assert hub.stats.reconnects == 1
        gap_lines = [r for r in caplog.records if "may have been missed" in r.getMessage()]
        assert len(gap_lines) == 1
        # The outage itself was announced when it began, once, not only when it ended.
        lost = [r for r in caplog.records if "subscriber connection failed" in r.getMessage()]
        assert len(lost) == 1
        assert lost[0].created < gap_lines[0].created
        # Fan-out resumes for who comes back.
        again = await join(client, "alice", "room")
        await settle(hub)
        await hub.publish("room", "back")
        assert await again.receive_str(timeout=5) == "back"
    finally:
        await client.close()


async def test_a_custom_on_gap_is_called_with_the_affected_sockets(
    redis_server: RedisServer,
) -> None:
    seen: list[tuple[cluster.Gap, int]] = []

    async def on_gap(gap: cluster.Gap, sockets: list[Any]) -> None:
        seen.append((gap, len(sockets)))
        for ws in sockets:
            await ws.send_str("resync")

    client = TestClient(TestServer(make_app(redis_server.url, on_gap=on_gap)))
    await client.start_server()
    try:
        ws = await join(client, "alice", "room")
        await settle(hub_of(client))
        await asyncio.to_thread(redis_server.restart_after, 0.5)
        assert await ws.receive_str(timeout=10) == "resync"
        ((gap, count),) = seen
        assert gap.reason == "reconnect"
        assert gap.topics == frozenset({"room"})
        assert gap.duration > 0.3
        assert count == 1
    finally:
        await client.close()


async def test_a_close_issued_while_a_worker_was_cut_off_is_applied_when_it_is_back(
    redis_server: RedisServer,
) -> None:
    def ignore(gap: cluster.Gap, sockets: list[Any]) -> None:
        return None

    a = TestClient(TestServer(make_app(redis_server.url, on_gap=ignore)))
    b = TestClient(
        TestServer(make_app(redis_server.url, on_gap=ignore, backoff_min=1.0, backoff_max=2.0))
    )
    await a.start_server()
    await b.start_server()
    try:
        alice = await join(b, "alice", "room")
        await settle(hub_of(a), hub_of(b))
        # Cut every subscriber off: b's listener is away for about a second, so the
        # notification is lost; the stream keeps the operation for b's cursor.
        redis_server.command("CLIENT", "KILL", "TYPE", "pubsub")
        report = await hub_of(a).close_user("alice", code=4001, timeout=0.2)
        assert report.closed == 0  # b did not answer in time...
        msg = await alice.receive(timeout=10)  # ...but applies it once back
        assert msg.type is web.WSMsgType.CLOSE
        assert msg.data == 4001
    finally:
        await a.close()
        await b.close()


async def test_a_client_that_does_not_read_is_closed_with_1013_and_the_subscriber_stays(
    module_redis_server: RedisServer,
) -> None:
    client = TestClient(TestServer(make_app(module_redis_server.url, queue_size=4)))
    await client.start_server()
    try:
        hub = hub_of(client)
        slow = await join(client, "slow", "room")
        await settle(hub)
        subscribers = module_redis_server.command("CLIENT", "LIST", "TYPE", "pubsub")
        big = "x" * 65536
        for _ in range(200):  # the client stops reading at 64 KiB queued; TCP fills up
            await hub.publish("room", big)
            if hub.stats.closed_slow:
                break
        for _ in range(100):
            if hub.stats.closed_slow:
                break
            await asyncio.sleep(0.05)
        assert hub.stats.closed_slow == 1
        assert hub.stats.dropped > 0
        kinds = []
        while True:
            msg = await slow.receive(timeout=10)
            kinds.append(msg.type)
            if msg.type is not web.WSMsgType.TEXT:
                break
        assert msg.type is web.WSMsgType.CLOSE
        assert msg.data == 1013
        assert hub.connected
        after = module_redis_server.command("CLIENT", "LIST", "TYPE", "pubsub")
        assert _ids(after) == _ids(subscribers)  # the same connection, never cut off
        assert hub.stats.reconnects == 0
    finally:
        await client.close()


def _ids(client_list: bytes | str) -> set[str]:
    text = client_list.decode() if isinstance(client_list, bytes) else client_list
    return {part for part in text.split() if part.startswith("id=")}


@pytest.mark.parametrize("overflow", ["drop_newest", "drop_oldest"])
async def test_drop_policies_keep_the_socket_open(
    module_redis_server: RedisServer, overflow: str
) -> None:
    client = TestClient(
        TestServer(make_app(module_redis_server.url, queue_size=4, overflow=overflow))
    )
    await client.start_server()
    try:
        hub = hub_of(client)
        slow = await join(client, "slow", "room")
        await settle(hub)
        big = "x" * 65536
        sent = 0
        while hub.stats.dropped < 5 and sent < 300:
            sent += 1
            await hub.publish("room", f"{sent:05d}" + big)
            await asyncio.sleep(0)
        for _ in range(100):
            if hub.stats.received == sent:
                break
            await asyncio.sleep(0.02)
        assert hub.stats.dropped >= 5
        assert hub.stats.closed_slow == 0
        got = []
        while len(got) < sent - hub.stats.dropped:
            got.append(int((await slow.receive_str(timeout=10))[:5]))
        await no_message(slow)
        assert got == sorted(got)  # in order, with holes
        if overflow == "drop_oldest":
            assert got[-1] == sent  # the freshest survives
        else:
            assert got[-1] < sent
        assert not slow.closed
    finally:
        await client.close()


async def test_sharded_pubsub(module_redis_server: RedisServer) -> None:
    a = TestClient(TestServer(make_app(module_redis_server.url, sharded=True)))
    b = TestClient(TestServer(make_app(module_redis_server.url, sharded=True)))
    await a.start_server()
    await b.start_server()
    try:
        ws = await join(b, "u", "room")
        await settle(hub_of(a), hub_of(b))
        for _ in range(100):
            if module_redis_server.command("PUBSUB", "SHARDCHANNELS"):
                break
            await asyncio.sleep(0.02)
        assert await hub_of(a).publish("room", "sharded") == 1
        assert await ws.receive_str(timeout=5) == "sharded"
    finally:
        await a.close()
        await b.close()


async def test_a_listener_that_dies_is_restarted_by_the_watchdog(
    module_redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = cluster.Hub._on_data
    calls = 0

    def broken_once(self: cluster.Hub, channel: bytes, raw: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("a bug in delivery")
        real(self, channel, raw)

    monkeypatch.setattr(cluster.Hub, "_on_data", broken_once)
    client = TestClient(TestServer(make_app(module_redis_server.url, health_interval=0.2)))
    await client.start_server()
    try:
        hub = hub_of(client)
        ws = await join(client, "u", "room")
        await settle(hub)
        await hub.publish("room", "lost")
        for _ in range(100):
            if hub.stats.listener_restarts:
                break
            await asyncio.sleep(0.05)
        assert hub.stats.listener_restarts == 1
        assert any("died; restarting" in r.getMessage() for r in caplog.records)
        msg = await ws.receive(timeout=5)
        assert msg.type is web.WSMsgType.CLOSE and msg.data == 1012  # the restart is a gap
    finally:
        await client.close()


def test_settings_are_checked_when_set_up() -> None:
    app = web.Application()
    with pytest.raises(ValueError, match="queue_size"):
        cluster.setup(app, "redis://127.0.0.1:1/0", queue_size=0)
    with pytest.raises(ValueError):
        cluster.setup(app, "redis://127.0.0.1:1/0", overflow="explode")
    with pytest.raises(LookupError, match="cluster.setup"):
        cluster.hub(web.Application())


async def test_close_user_rides_out_a_blip_shorter_than_its_timeout(
    redis_server: RedisServer,
) -> None:
    client = TestClient(TestServer(make_app(redis_server.url)))
    await client.start_server()
    try:
        hub = hub_of(client)
        alice = await join(client, "alice")  # no topic: the gap does not close it
        await settle(hub)
        redis_server.stop()

        def back_soon() -> None:
            time.sleep(0.5)
            redis_server.start()

        back = asyncio.create_task(asyncio.to_thread(back_soon))
        report = await hub.close_user("alice", code=4001, timeout=8)
        await back
        msg = await alice.receive(timeout=5)
        assert msg.type is web.WSMsgType.CLOSE and msg.data == 4001
        assert report.closed in (0, 1)  # the worker may answer after the report is made
    finally:
        await client.close()


async def test_operations_raise_when_redis_stays_away(redis_server: RedisServer) -> None:
    client = TestClient(TestServer(make_app(redis_server.url)))
    await client.start_server()
    try:
        hub = hub_of(client)
        await settle(hub)
        redis_server.stop()
        with pytest.raises(cluster.ClusterUnavailable):
            await hub.publish("room", "nobody hears this")
        with pytest.raises(cluster.ClusterUnavailable):
            await hub.close_user("alice", timeout=0.3)
        with pytest.raises(cluster.ClusterUnavailable):
            await hub.workers()
    finally:
        await client.close()


async def test_the_backoff_starts_afresh_for_each_outage(redis_server: RedisServer) -> None:
    # A long outage grows the delay to backoff_max; once connected again, the next outage
    # must begin at backoff_min, not where the last one left off.
    client = TestClient(TestServer(make_app(redis_server.url, backoff_min=0.1, backoff_max=4.0)))
    await client.start_server()
    try:
        hub = hub_of(client)
        await settle(hub)
        await asyncio.to_thread(redis_server.restart_after, 3.5)  # 0.1 + 0.2 + ... > 3 s
        for _ in range(600):  # the delay has grown to 3.2 s or 4 s by now
            if hub.stats.reconnects:
                break
            await asyncio.sleep(0.02)
        assert hub.stats.reconnects == 1
        await settle(hub)
        await asyncio.to_thread(redis_server.restart_after, 0.2)
        back = time.monotonic()
        while hub.stats.reconnects < 2:
            await asyncio.sleep(0.02)
            assert time.monotonic() - back < 2.0, "the second outage waited out the old delay"
    finally:
        await client.close()
