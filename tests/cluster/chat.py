"""The reference chat (``examples/cluster_chat.py``) under real gunicorn, and its clients.

:class:`ChatCluster` runs it with ``-w N`` through the worker tests' gunicorn harness,
pointed at a test's ``redis-server``. :class:`Peer` is one WebSocket client of it that
reads everything in the background, so a test can ask what it received and how it was
closed. :func:`witness` puts a hub in the test process on the same Redis, to read presence
and to hold a socket that belongs to no topic (a gap never closes it, so only a control
operation can).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime import ClientSession, ClientWebSocketResponse, TCPConnector, WSMsgType, cluster, web
from runtime.http.ws import FrameReader, WSMessage
from tests.support import serve
from tests.support.redis import RedisServer, local_ports_of
from tests.workers.harness import Gunicorn, Launcher, wait_for

APP = "examples.cluster_chat:create_app"

_tokens = itertools.count()


def token(prefix: str) -> str:
    """A message text no other test step sends."""
    return f"{prefix}-{next(_tokens)}-{time.monotonic_ns()}"


class ChatCluster:
    """``gunicorn examples.cluster_chat:create_app -w N`` on a free port, on ``redis``."""

    def __init__(
        self,
        launch: Launcher,
        redis: RedisServer,
        *,
        workers: int = 3,
        presence_ttl: float | None = None,
    ) -> None:
        self.redis = redis
        self.workers = workers
        self.env = {"REDIS_URL": redis.url}
        if presence_ttl is not None:
            self.env["CLUSTER_PRESENCE_TTL"] = str(presence_ttl)
        self.gunicorn: Gunicorn = launch("-w", str(workers), target=APP)

    def start(self) -> ChatCluster:
        self.gunicorn.start(extra_env=self.env)
        self.gunicorn.wait_ready()
        wait_for(lambda: len(self.gunicorn.worker_pids()) == self.workers, 20, "gunicorn's workers")
        self.wait_joined()
        return self

    def wait_joined(self, timeout: float = 20) -> None:
        """Wait until every worker's hub is up (its subscriber connection is in
        ``CLIENT LIST``): a worker serves only once its application started."""
        wait_for(
            lambda: all(self.subscriber_of(pid) for pid in self.worker_pids()),
            timeout,
            "every worker's subscriber connection",
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.gunicorn.port}"

    def worker_pids(self) -> set[int]:
        return set(self.gunicorn.worker_pids())

    def redis_ports_of(self, pid: int) -> set[int]:
        """The local ports of worker ``pid``'s connections to Redis."""
        assert self.redis.port is not None
        return local_ports_of(pid, self.redis.port)

    def subscriber_of(self, pid: int) -> dict[str, str] | None:
        """The ``CLIENT LIST`` entry of worker ``pid``'s pub/sub connection."""
        ports = self.redis_ports_of(pid)
        for entry in self.redis.subscribers():
            if int(entry["addr"].rsplit(":", 1)[1]) in ports:
                return entry
        return None

    def warnings_of(self, pid: int) -> list[str]:
        """The WARNING lines worker ``pid`` wrote to gunicorn's error log."""
        return [
            line
            for line in self.gunicorn.stderr.splitlines()
            if f"[{pid}]" in line and "[WARNING]" in line
        ]

    def log(self) -> str:
        return f"--- gunicorn\n{self.gunicorn.stderr[-6000:]}\n--- redis\n{self.redis.log[-2000:]}"


@dataclass(eq=False)
class Peer:
    """One WebSocket of ``user`` in ``room``, read in the background until it closes."""

    user: str
    room: str
    ws: ClientWebSocketResponse
    worker: int
    received: list[str] = field(default_factory=list)
    close_code: int | None = None
    closed_at: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> Peer:
        self._task = asyncio.get_running_loop().create_task(self._pump())
        return self

    async def _pump(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type is WSMsgType.TEXT:
                    self.received.append(msg.data)
                    self._changed.set()
        finally:
            self.close_code = self.ws.close_code
            self.closed_at = time.monotonic()
            self._changed.set()

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    def count(self, text: str) -> int:
        return self.received.count(text)

    async def wait(self, predicate: Any, timeout: float) -> bool:
        """Wait until ``predicate(self)`` holds (or the timeout passes); say which."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return True

    async def wait_closed(self, timeout: float) -> int | None:
        await self.wait(lambda p: p.closed, timeout)
        return self.close_code

    async def send(self, text: str) -> None:
        await self.ws.send_str(text)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task


class Clients:
    """The test's WebSocket and HTTP clients of one chat cluster (closed at the end)."""

    def __init__(self, chat: ChatCluster, session: ClientSession) -> None:
        self.chat = chat
        self.session = session
        self.peers: list[Peer] = []

    async def connect(self, user: str, room: str, base: str | None = None) -> Peer:
        """Open ``/ws?user=..&room=..`` and read the ``{"worker": pid}`` greeting."""
        ws = await self.session.ws_connect(
            f"{base or self.chat.base}/ws", params={"user": user, "room": room}
        )
        first = await ws.receive(timeout=10)
        assert first.type is WSMsgType.TEXT, f"expected the greeting, got {first!r}"
        greeting = json.loads(first.data)
        peer = Peer(user, room, ws, int(greeting["worker"])).start()
        self.peers.append(peer)
        return peer

    async def spread(
        self, user: str, room: str, *, workers: Iterable[int] | None = None, limit: int = 240
    ) -> list[Peer]:
        """Connect ``user`` to ``room`` until each of ``workers`` (default: all the
        master's) holds at least one of the sockets; all of them are returned.

        gunicorn's workers race to accept on the one listening socket, so several
        connections made at once land on different workers; which ones is up to the kernel.
        """
        wanted = set(workers if workers is not None else self.chat.worker_pids())
        peers: list[Peer] = []
        while not wanted <= {p.worker for p in peers}:
            if len(peers) >= limit:
                seen = sorted({p.worker for p in peers})
                raise AssertionError(f"{len(peers)} sockets reached only workers {seen}")
            batch = [self.connect(user, room) for _ in range(6)]
            peers += await asyncio.gather(*batch)
        return peers

    async def on_worker(self, pid: int, user: str, room: str, *, limit: int = 240) -> Peer:
        """One socket of ``user`` in ``room`` on worker ``pid`` (others made on the way
        are closed)."""
        tries: list[Peer] = []
        try:
            while len(tries) < limit:
                batch = await asyncio.gather(*(self.connect(user, room) for _ in range(4)))
                tries += batch
                for peer in batch:
                    if peer.worker == pid:
                        tries.remove(peer)
                        return peer
            raise AssertionError(f"no socket landed on worker {pid} in {limit} tries")
        finally:
            for peer in tries:
                self.peers.remove(peer)
                await peer.aclose()

    async def post(self, path: str, body: str = "") -> tuple[int, Any]:
        async with self.session.post(f"{self.chat.base}{path}", data=body.encode()) as resp:
            text = await resp.text()
            with contextlib.suppress(ValueError):
                return resp.status, json.loads(text)
            return resp.status, text

    async def publish(self, room: str, text: str) -> None:
        status, answer = await self.post(f"/rooms/{room}", text)
        assert (status, answer) == (200, {"published": True}), (status, answer)

    async def settle(self, peers: Iterable[Peer], timeout: float = 15.0) -> None:
        """Publish to each room until every open peer of it has received something:
        then every worker has subscribed its sockets' rooms (a subscription is made in the
        background after the socket registers)."""
        by_room: dict[str, list[Peer]] = {}
        for peer in peers:
            by_room.setdefault(peer.room, []).append(peer)
        deadline = time.monotonic() + timeout
        for room, members in by_room.items():
            while True:
                probe = token(f"settle-{room}")
                await self.publish(room, probe)
                waiting = [p for p in members if not p.closed]
                results = await asyncio.gather(
                    *(p.wait(lambda q, t=probe: t in q.received, 0.5) for p in waiting)
                )
                if all(results):
                    break
                if time.monotonic() > deadline:
                    late = sorted(
                        {p.worker for p, ok in zip(waiting, results, strict=True) if not ok}
                    )
                    raise AssertionError(f"room {room}: workers {late} never subscribed")

    async def aclose(self) -> None:
        await asyncio.gather(*(peer.aclose() for peer in self.peers))


@contextlib.asynccontextmanager
async def clients(chat: ChatCluster) -> AsyncIterator[Clients]:
    async with ClientSession(connector=TCPConnector(limit=0)) as session:
        kit = Clients(chat, session)
        try:
            yield kit
        finally:
            await kit.aclose()


# -- a hub in the test process ---------------------------------------------------------------


@dataclass
class Witness:
    """A hub of the test process's own on the chat's Redis, served on ``base``."""

    hub: Any
    base: str

    async def gunicorn_workers(self) -> set[int]:
        """The pids of the live workers other than this one (from the hub's presence)."""
        return {pid_of(w) for w in await self.hub.workers() if w != self.hub.worker_id}

    async def presence(self, user: str) -> dict[int, int]:
        """Sockets of ``user`` per live worker pid."""
        return {pid_of(w): n for w, n in (await self.hub.presence(user)).items()}


def pid_of(worker_id: str) -> int:
    """The pid in a worker id (``host:pid:random``)."""
    return int(worker_id.rsplit(":", 2)[1])


async def _lone_socket(request: web.Request) -> web.WebSocketResponse:
    """A socket of ``?user=`` in no topic, greeted like the chat's own."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    cluster.hub(request).register(ws, user=request.query["user"], topics=[])
    await ws.send_str(json.dumps({"worker": 0}))
    async for _ in ws:
        pass
    return ws


@contextlib.asynccontextmanager
async def witness(redis: RedisServer, **settings: Any) -> AsyncIterator[Witness]:
    """``async with witness(redis) as w:`` a hub on ``redis``, its app on a free port."""
    app = web.Application()
    cluster.setup(app, redis.url, **settings)
    app.router.add_get("/ws", _lone_socket)
    async with serve(app) as port:
        yield Witness(cluster.hub(app), f"http://127.0.0.1:{port}")


# -- a client that never reads ---------------------------------------------------------------


class StalledClient:
    """A WebSocket client on a raw socket with a tiny receive buffer that stops reading
    after the greeting, so the server's writes back up behind it."""

    def __init__(self, port: int, user: str, room: str) -> None:
        sock = socket.socket()
        # Before connect, so the window the client announces stays small (RFC 9293 3.8.6).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", port))
        self.sock = sock
        sock.sendall(
            (
                f"GET /ws?user={user}&room={room} HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        self.reader = FrameReader(is_client=True, max_msg_size=0)
        head, rest = self._read_head()
        assert head.startswith(b"HTTP/1.1 101 "), head
        self.pending: list[WSMessage] = self.reader.feed(rest)
        greeting = self._next_message(timeout=10)
        assert greeting.type is WSMsgType.TEXT, greeting
        self.worker = int(json.loads(greeting.data)["worker"])

    def _read_head(self) -> tuple[bytes, bytes]:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise AssertionError(f"closed during the handshake: {data!r}")
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        return head, rest

    def _next_message(self, timeout: float) -> WSMessage:
        self.sock.settimeout(timeout)
        while not self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AssertionError("the server closed the connection without a Close")
            self.pending = self.reader.feed(chunk)
        return self.pending.pop(0)

    def read_until_close(self, timeout: float) -> tuple[int, int, str]:
        """Read everything the server had backed up, up to its Close frame: (data
        messages before it, close code, reason)."""
        deadline = time.monotonic() + timeout
        messages = 0
        while True:
            msg = self._next_message(max(0.01, deadline - time.monotonic()))
            if msg.type is WSMsgType.CLOSE:
                return messages, int(msg.data), msg.extra or ""
            if msg.type is WSMsgType.ERROR:
                raise AssertionError(f"bad frame from the server: {msg.data!r}")
            messages += msg.type in (WSMsgType.TEXT, WSMsgType.BINARY)

    def close(self) -> None:
        self.sock.close()
