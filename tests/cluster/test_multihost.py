"""Several hosts, simulated (issue 17, item 8): two gunicorn masters, one on 127.0.0.2 and one
on 127.0.0.3, each running ``examples.cluster_chat:create_app`` with two workers, sharing
nothing but one redis-server, behind a real nginx rendered with ``--upstream`` twice.

Clients go through nginx; to be sure which host a socket is on, some connect to a host
directly as well (the server's first message names its worker's pid, which belongs to
exactly one master).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime import ClientSession, ClientWebSocketResponse, WSMsgType, web
from tests.cluster.chat_stack import Host, Stack, chat_stack
from tests.deploy.tools import needs_nginx
from tests.support import serve
from tests.support.redis import REDIS_SERVER, RedisServer

cluster = pytest.importorskip("runtime.cluster")

pytestmark = [
    pytest.mark.slow,
    needs_nginx,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
    pytest.mark.timeout(180),
]

HOSTS = ("127.0.0.2", "127.0.0.3")
TTL = 2.0  # CLUSTER_PRESENCE_TTL: a dead host's presence must go within seconds


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, redis_server: RedisServer) -> Iterator[Stack]:
    """The hosts that the non-destructive tests share."""
    with chat_stack(tmp_path_factory.mktemp("multihost"), redis_server.url, HOSTS, ttl=TTL) as s:
        yield s


@contextlib.asynccontextmanager
async def clients(stack: Stack) -> AsyncIterator[Clients]:
    async with ClientSession() as session:
        group = Clients(stack, session)
        try:
            yield group
        finally:
            await group.close()


class Clients:
    """Chat clients of one test: each socket remembers the host it landed on."""

    def __init__(self, stack: Stack, session: ClientSession) -> None:
        self.stack = stack
        self.session = session
        self.sockets: list[tuple[ClientWebSocketResponse, Host, str]] = []

    async def connect(
        self, user: str, room: str, *, via: Host | None = None
    ) -> tuple[ClientWebSocketResponse, Host]:
        """A socket through nginx, or straight to ``via``; returns it and its host."""
        base = via.url if via is not None else self.stack.url
        ws = await self.session.ws_connect(
            f"{base}/ws", params={"user": user, "room": room}, receive_timeout=10
        )
        hello = await ws.receive_json(timeout=10)
        host = self.stack.host_of(int(hello["worker"]))
        if via is not None:
            assert host is via
        self.sockets.append((ws, host, user))
        return ws, host

    async def post(self, base: str, path: str, data: str = "") -> Any:
        async with self.session.post(f"{base}{path}", data=data) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    async def settle(self, room: str, members: list[ClientWebSocketResponse]) -> None:
        """Publish markers until every member got one: each worker holding a member has
        subscribed to the room. Publishing is at-most-once, so a message sent before a
        subscription is confirmed may rightly be lost; the test's real messages come after."""
        pending = set(members)
        async with asyncio.timeout(15):
            for n in range(1000):
                await self.post(self.stack.url, f"/rooms/{room}", f"marker-{n}")
                for ws in list(pending):
                    with contextlib.suppress(TimeoutError):
                        msg = await ws.receive(timeout=0.2)
                        assert msg.type == WSMsgType.TEXT, msg
                        pending.discard(ws)
                if not pending:
                    break
        # Drain the markers still in flight.
        for ws in members:
            while True:
                try:
                    msg = await ws.receive(timeout=0.3)
                except TimeoutError:
                    break
                assert msg.type == WSMsgType.TEXT and msg.data.startswith("marker-"), msg

    async def close(self) -> None:
        for ws, _, _ in self.sockets:
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(ws.close(), 5)


async def texts_until_quiet(ws: ClientWebSocketResponse, quiet: float = 0.5) -> list[str]:
    """Every text message that arrives until ``quiet`` seconds pass without one."""
    texts: list[str] = []
    while True:
        try:
            msg = await ws.receive(timeout=quiet)
        except TimeoutError:
            return texts
        assert msg.type == WSMsgType.TEXT, msg
        texts.append(msg.data)


async def closed_with(ws: ClientWebSocketResponse, timeout: float) -> int | None:
    """Read until the server closes the socket; its close code."""
    async with asyncio.timeout(timeout):
        while True:
            msg = await ws.receive()
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                return ws.close_code


@contextlib.asynccontextmanager
async def observer(redis_url: str) -> AsyncIterator[Any]:
    """A hub in the test process on the same Redis, to read presence."""
    app = web.Application()
    hub = cluster.setup(app, redis_url, presence_ttl=TTL)
    async with serve(app):
        yield hub


async def live_workers(hub: Any, pids: set[int]) -> set[str]:
    """The live worker ids (``host:pid:random``) among ``pids``."""
    return {wid for wid in await hub.workers() if int(wid.split(":")[-2]) in pids}


async def wait_live(hub: Any, pids: set[int], count: int, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while len(await live_workers(hub, pids)) != count:
            await asyncio.sleep(0.1)


async def test_a_logout_on_one_host_closes_the_users_sockets_on_the_other(
    stack: Stack, redis_server: RedisServer
) -> None:
    first, second = stack.hosts
    workers = first.worker_pids() | second.worker_pids()
    async with observer(redis_server.url) as hub, clients(stack) as c:
        await wait_live(hub, workers, 4, timeout=10)  # every worker has joined the cluster
        # alice on both hosts, directly and through nginx; bob beside her on both.
        alice = [(await c.connect("alice", "lobby", via=host))[0] for host in (first, second)]
        alice += [(await c.connect("alice", "lobby"))[0] for _ in range(4)]
        bob = [(await c.connect("bob", "lobby", via=host))[0] for host in (first, second)]
        # carol only on the second host; her logout goes to the first one.
        carol = [(await c.connect("carol", "lobby", via=second))[0] for _ in range(3)]

        report = await c.post(first.url, "/logout?user=carol")
        codes = await asyncio.gather(*(closed_with(ws, 5) for ws in carol))
        assert codes == [4001] * 3, stack.log()
        assert report["closed"] == 3, report
        # Every worker of both hosts answered the first host's request.
        answered = {int(w.split(":")[-2]) for w in report["workers"]}
        assert answered >= workers, report
        assert report["complete"] is True, report

        report = await c.post(stack.url, "/logout?user=alice")
        codes = await asyncio.gather(*(closed_with(ws, 5) for ws in alice))
        assert codes == [4001] * len(alice)
        assert report["closed"] == len(alice), report
        # Nobody else was touched: bob still hears the room.
        await c.settle("lobby", bob)
        assert not any(ws.closed for ws in bob)


async def test_a_publish_reaches_both_hosts(stack: Stack) -> None:
    first, second = stack.hosts
    async with clients(stack) as c:
        members = [(await c.connect(f"u{n}", "room-1", via=host))[0]
                   for n, host in enumerate((first, second, first, second))]  # fmt: skip
        via_nginx = [await c.connect(f"n{n}", "room-1") for n in range(4)]
        members += [ws for ws, _ in via_nginx]
        # A socket in another room hears nothing of this one.
        elsewhere, _ = await c.connect("other", "room-2", via=second)
        await c.settle("room-1", members)

        answer = await c.post(stack.url, "/rooms/room-1", "hello both hosts")
        assert answer == {"published": True}
        for ws in members:
            assert await texts_until_quiet(ws) == ["hello both hosts"]
        # A message typed on one host reaches the room on the other.
        await members[0].send_str("typed on the first host")
        for ws in members:
            assert await texts_until_quiet(ws) == ["typed on the first host"]
        assert await texts_until_quiet(elsewhere, quiet=0.2) == []


async def test_a_host_that_is_stopped_hard_leaves_the_other_serving(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.command("FLUSHALL")
    with chat_stack(tmp_path, redis_server.url, HOSTS, ttl=TTL) as stack:
        doomed, survivor = stack.hosts
        doomed_pids, survivor_pids = doomed.worker_pids(), survivor.worker_pids()
        async with observer(redis_server.url) as hub, clients(stack) as c:
            on_doomed = [(await c.connect("dana", "r", via=doomed))[0] for _ in range(4)]
            await c.connect("dana", "r", via=survivor)
            await c.settle("r", on_doomed)  # every doomed worker that holds a socket is up
            presence = await hub.presence("dana")
            assert {int(w.split(":")[-2]) for w in presence} & doomed_pids, presence
            await wait_live(hub, doomed_pids | survivor_pids, 4, timeout=10)

            # A host that hangs while it is being stopped: its workers are frozen, so they
            # cannot leave the cluster; the stop's SIGTERM goes unanswered and the SIGKILL
            # that follows (systemd's TimeoutStopSec, KillMode=mixed) takes the whole host.
            for pid in doomed_pids:
                os.kill(pid, signal.SIGSTOP)
            doomed.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(1.0)
            await asyncio.get_running_loop().run_in_executor(None, doomed.kill_all)

            # Its presence expires with the TTL; the survivor's stays.
            await wait_live(hub, doomed_pids, 0, timeout=3 * TTL + 2)
            presence = await hub.presence("dana")
            pids = {int(w.split(":")[-2]) for w in presence}
            assert pids and pids <= survivor_pids, presence
            assert len(await live_workers(hub, survivor_pids)) == 2

            # nginx passes over the dead host: pages, sockets, publishes and logouts work.
            for _ in range(6):
                async with c.session.get(f"{stack.url}/") as resp:
                    assert resp.status == 200
            fresh = [await c.connect("erin", "r2") for _ in range(4)]
            assert all(host is survivor for _, host in fresh)
            await c.settle("r2", [ws for ws, _ in fresh])
            await c.post(stack.url, "/rooms/r2", "still here")
            for ws, _ in fresh:
                assert await texts_until_quiet(ws) == ["still here"]
            report = await c.post(stack.url, "/logout?user=erin")
            assert report["closed"] == 4, report
            # Nobody waits for the dead host: it is not expected to answer.
            expected = {int(w.split(":")[-2]) for w in report["expected"]}
            assert not expected & doomed_pids and report["complete"] is True, report


async def test_a_host_stopped_gracefully_hands_its_clients_to_the_other(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The ordinary stop (a deploy, a reboot): SIGTERM, then SIGKILL for whatever is left.
    The host's sockets get 1001 Going Away, its workers leave the cluster at once (the TTL
    here is far longer than the test), and clients coming back through nginx find the
    other host."""
    redis_server.command("FLUSHALL")
    with chat_stack(tmp_path, redis_server.url, HOSTS, ttl=60.0) as stack:
        leaving, staying = stack.hosts
        leaving_pids, staying_pids = leaving.worker_pids(), staying.worker_pids()
        async with observer(redis_server.url) as hub, clients(stack) as c:
            on_leaving = [(await c.connect("fay", "r", via=leaving))[0] for _ in range(4)]
            await c.connect("fay", "r", via=staying)
            await wait_live(hub, leaving_pids | staying_pids, 4, timeout=10)

            leaving.proc.send_signal(signal.SIGTERM)
            codes = await asyncio.gather(*(closed_with(ws, 10) for ws in on_leaving))
            assert codes == [1001] * 4
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, leaving.proc.wait, 15)
            await loop.run_in_executor(None, leaving.kill_all)

            assert await live_workers(hub, leaving_pids) == set()
            presence = await hub.presence("fay")
            assert {int(w.split(":")[-2]) for w in presence} <= staying_pids, presence

            back = [await c.connect("fay", "r") for _ in range(4)]  # as the page reconnects
            assert all(host is staying for _, host in back)
            await c.settle("r", [ws for ws, _ in back])
            report = await c.post(stack.url, "/logout?user=fay")
            assert report["closed"] == 5, report
