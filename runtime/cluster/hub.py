"""The hub: one per worker, tying the local sockets to Redis (docs/cluster.md).

Data plane: ``publish(topic, data)`` reaches every local socket subscribed to ``topic`` on
every worker and host, at most once. Control plane: ``close_user`` and ``send_user`` reach
a user's sockets everywhere, at least once, and report who answered. Each worker keeps two
Redis connections, both made after the fork (from ``cleanup_ctx``): the subscriber and one
command connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from ..http.ws import FrameWriter, WSCloseCode, build_close_payload
from ..web.websocket_registry import close_sockets
from ..websocket.connection import WebSocketBase
from .config import ClusterConfig
from .control import ClusterUnavailable, Control, Report
from .gap import Gap
from .listener import Listener
from .local import LocalSockets
from .names import Names
from .presence import Presence
from .stats import ClusterStats
from .wire import ControlOp, decode_data, encode_data

__all__ = ["GapHandler", "Hub", "close_on_gap"]

cluster_logger = logging.getLogger("runtime.cluster")

GapHandler = Callable[[Gap, list[WebSocketBase]], Awaitable[None] | None]

# Server frames are never masked and, without permessage-deflate, depend on the message
# only: built once per message for every socket that did not agree compression.
_PLAIN_FRAMES = FrameWriter()
_CONNECT_TIMEOUT = 5.0
_COMMAND_TIMEOUT = 5.0
_STOP_TIMEOUT = 2.0


async def close_on_gap(gap: Gap, sockets: list[WebSocketBase]) -> None:
    """The default ``on_gap``: close the affected sockets with 1012 Service Restart, so
    their clients reconnect and fetch what they missed."""
    await close_sockets(
        sockets, code=WSCloseCode.SERVICE_RESTART, message="Missed messages: reconnect"
    )


class Hub:
    """This worker's end of the cluster. Made by :func:`runtime.cluster.setup`."""

    def __init__(self, config: ClusterConfig, *, on_gap: GapHandler | None = None) -> None:
        self.config = config
        self.stats = ClusterStats()
        self._names = Names(config.prefix)
        self._on_gap: GapHandler = on_gap or close_on_gap
        self._worker_id: str | None = None
        self._local = LocalSockets(
            limit=config.queue_size,
            overflow=config.overflow,
            stats=self.stats,
            on_topics=self._topics_changed,
            on_users=self._users_changed,
        )
        self._channel_topic: dict[bytes, str] = {}
        self._redis: Redis | None = None
        self._listener: Listener | None = None
        self._control: Control | None = None
        self._presence: Presence | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    # -- identity and state ----------------------------------------------------------------

    @property
    def worker_id(self) -> str:
        """``host:pid:random``, unique across restarts; set when the hub starts."""
        if self._worker_id is None:
            raise RuntimeError("The hub starts with the application (cleanup_ctx)")
        return self._worker_id

    @property
    def connected(self) -> bool:
        """Whether the subscriber connection is up now."""
        return self._listener is not None and self._listener.connected

    def sockets(self, *, user: str | None = None, topic: str | None = None) -> list[WebSocketBase]:
        """This worker's registered sockets, all or those of a user or a topic."""
        local = self._local
        if user is not None:
            return [m.outbox.ws for m in local.of_user(user)]
        if topic is not None:
            return [m.outbox.ws for m in local.of_topics((topic,))]
        return list(local.members)

    # -- local registration ------------------------------------------------------------------

    def register(
        self, ws: WebSocketBase, *, user: str | None = None, topics: Iterable[str] = ()
    ) -> None:
        """Register a prepared WebSocket under ``user`` and ``topics``.

        It leaves by itself when its connection ends. Registering again adds topics (and
        replaces the user).

        Raises:
            ValueError: an empty or non-str topic.
        """
        if isinstance(topics, str):
            topics = (topics,)
        self._local.add(ws, user, topics)

    def subscribe(self, ws: WebSocketBase, *topics: str) -> None:
        """Add topics to a registered socket.

        Raises:
            LookupError: the socket was not registered.
        """
        self._local.subscribe(ws, topics)

    def unsubscribe(self, ws: WebSocketBase, *topics: str) -> None:
        """Remove topics from a socket."""
        self._local.unsubscribe(ws, topics)

    def _topics_changed(self, added: Iterable[str], gone: Iterable[str]) -> None:
        names = self._names
        for topic in added:
            self._channel_topic[names.topic(topic)] = topic
        for topic in gone:
            self._channel_topic.pop(names.topic(topic), None)
        if self._listener is not None:
            self._listener.changed()

    def _users_changed(self, users: Iterable[str]) -> None:
        if self._presence is not None:
            self._presence.touch(users)

    # -- data plane --------------------------------------------------------------------------

    async def publish(self, topic: str, data: str | bytes) -> int:
        """Send ``data`` (text or binary) to every socket subscribed to ``topic``, on every
        worker and host. At most once: a worker whose subscriber is reconnecting misses it
        (and reports a gap).

        Returns:
            How many subscriber connections Redis handed it to (workers, not sockets).

        Raises:
            ClusterUnavailable: Redis could not be reached.
        """
        redis = self._command()
        channel = self._names.topic(topic)
        payload = encode_data(data)
        try:
            if self.config.sharded:
                receivers = await redis.spublish(channel, payload)
            else:
                receivers = await redis.publish(channel, payload)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(f"Could not publish to {topic!r}: {exc}") from exc
        self.stats.published += 1
        return int(receivers)

    def _on_data(self, channel: bytes, raw: bytes) -> None:
        topic = self._channel_topic.get(channel)
        if topic is None:
            return  # unsubscribed meanwhile
        members = self._local.by_topic.get(topic)
        if not members:
            return
        try:
            opcode, payload = decode_data(raw)
        except ValueError:
            self.stats.dropped += 1
            return
        frame = _PLAIN_FRAMES.frame(opcode, payload)
        for member in list(members):
            member.outbox.offer(opcode, payload, frame)

    # -- control plane -----------------------------------------------------------------------

    async def close_user(
        self,
        user: str,
        *,
        code: int = WSCloseCode.OK,
        reason: str = "",
        timeout: float = 1.0,
    ) -> Report:
        """Close every socket of ``user`` on every worker and host.

        Returns within ``timeout`` with the workers' answers (``report.closed``); a worker
        that did not answer in time still applies it when it reads the stream.

        Raises:
            ValueError: a close code that may not be sent (RFC 6455 7.4) or a reason over
                123 bytes.
            ClusterUnavailable: Redis did not take the operation within ``timeout``.
        """
        build_close_payload(code, reason)
        return await self._issue("close", user, timeout=timeout, code=code, reason=reason)

    async def send_user(self, user: str, data: str | bytes, *, timeout: float = 1.0) -> Report:
        """Send ``data`` to every socket of ``user`` on every worker and host, at least
        once (``report.sent``).

        Raises:
            ClusterUnavailable: Redis did not take the operation within ``timeout``.
        """
        return await self._issue("send", user, timeout=timeout, data=encode_data(data))

    async def _issue(self, op: str, user: str, *, timeout: float, **extra: Any) -> Report:
        control = self._control
        presence = self._presence
        if control is None or presence is None:
            raise RuntimeError("The hub starts with the application (cleanup_ctx)")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = 0.05
        while True:  # a blip shorter than the timeout does not fail the operation
            try:
                async with asyncio.timeout_at(deadline):
                    live = await presence.workers()
                break
            except TimeoutError:
                raise ClusterUnavailable(f"Redis did not answer within {timeout:g} s") from None
            except (RedisError, OSError) as exc:
                if loop.time() + delay >= deadline:
                    raise ClusterUnavailable(f"Could not list the workers: {exc!r}") from exc
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)
        remaining = max(deadline - loop.time(), 0.0)
        return await control.issue(op, user, live=live, timeout=remaining, **extra)

    def _apply(self, op: ControlOp) -> int:
        members = self._local.of_user(op.user)
        if op.op == "close":
            sockets = [m.outbox.ws for m in members if not m.outbox.ws.closed]
            if sockets:
                self._spawn(close_sockets(sockets, code=op.code, message=op.reason))
            return len(sockets)
        try:
            opcode, payload = decode_data(op.data)
        except ValueError:
            return 0
        frame = _PLAIN_FRAMES.frame(opcode, payload)
        for member in members:
            member.outbox.offer(opcode, payload, frame)
        return len(members)

    # -- presence ----------------------------------------------------------------------------

    async def presence(self, user: str) -> dict[str, int]:
        """``user``'s sockets per live worker, across hosts."""
        presence = self._presence
        if presence is None:
            raise RuntimeError("The hub starts with the application (cleanup_ctx)")
        try:
            return await presence.of_user(user)
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(f"Could not read presence: {exc!r}") from exc

    async def workers(self) -> list[str]:
        """The live workers' ids, across hosts."""
        presence = self._presence
        if presence is None:
            raise RuntimeError("The hub starts with the application (cleanup_ctx)")
        try:
            return sorted(await presence.workers())
        except (RedisError, OSError) as exc:
            raise ClusterUnavailable(f"Could not list the workers: {exc!r}") from exc

    # -- gaps --------------------------------------------------------------------------------

    def _gap(self, gap: Gap) -> None:
        self.stats.gaps += 1
        sockets = [m.outbox.ws for m in self._local.of_topics(gap.topics)]
        cluster_logger.warning(
            "Messages may have been missed (%s, %.1f s without a subscription): %d topics "
            "and %d sockets here are affected",
            gap.reason,
            gap.duration,
            len(gap.topics),
            len(sockets),
        )
        try:
            result = self._on_gap(gap, sockets)
        except Exception:
            cluster_logger.exception("on_gap failed")
            return
        if inspect.isawaitable(result):
            self._spawn(_awaited(result))

    # -- lifetime ----------------------------------------------------------------------------

    def _command(self) -> Redis:
        if self._redis is None:
            raise RuntimeError("The hub starts with the application (cleanup_ctx)")
        return self._redis

    def _client(self, **options: Any) -> Redis:
        return Redis.from_url(
            self.config.url,
            socket_keepalive=True,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            # Errors reach us; we reconnect and report the gap ourselves.
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
            **options,
        )

    async def start(self) -> None:
        """Connect (after the fork) and start listening. A Redis that is down now is
        retried in the background; the application starts anyway."""
        config = self.config
        names = self._names
        self._worker_id = wid = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        pool = BlockingConnectionPool.from_url(
            config.url,
            max_connections=1,  # one command connection per worker
            timeout=None,
            socket_keepalive=True,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            socket_timeout=_COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self._redis = redis = Redis(connection_pool=pool)
        self._presence = Presence(redis, names, wid, config.presence_ttl, self._local.user_counts)
        self._control = Control(redis, names, wid, config, self.stats, self._apply)
        self._listener = Listener(
            connect=self._client,
            names=names,
            worker_id=wid,
            config=config,
            stats=self.stats,
            topics=lambda: tuple(self._local.by_topic),
            on_data=self._on_data,
            on_control=self._control.wake,
            on_reply=self._control.on_reply,
            on_gap=self._gap,
        )
        try:
            await self._control.start()
            await self._presence.beat()
        except (RedisError, OSError) as exc:
            cluster_logger.warning(
                "Redis is not reachable at start (%r); the cluster connects when it is", exc
            )
        for name in ("listener", "control", "presence"):
            self._start_task(name)
        self._tasks["watchdog"] = asyncio.get_running_loop().create_task(self._watch())

    def _start_task(self, name: str) -> None:
        assert self._listener and self._control and self._presence
        runs: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "listener": self._listener.run,
            "control": self._control.run,
            "presence": self._presence.run,
        }
        self._tasks[name] = asyncio.get_running_loop().create_task(runs[name]())

    async def _watch(self) -> None:
        # The loops catch Redis's errors themselves; one that ends anyway hit a bug, and one
        # that reads nothing for long is stuck. Either is replaced, and loudly.
        interval = self.config.health_interval
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(interval)
            for name in ("listener", "control", "presence"):
                task = self._tasks[name]
                if task.done():
                    exc = None if task.cancelled() else task.exception()
                    cluster_logger.error("The cluster's %s died; restarting it", name, exc_info=exc)
                    self.stats.listener_restarts += 1
                    self._start_task(name)
                    if name == "listener":
                        self._gap(Gap("restarted", frozenset(self._local.by_topic)))
            listener = self._listener
            assert listener is not None
            if listener.connected and loop.time() - listener.alive_at > 3 * interval:
                cluster_logger.error(
                    "The Redis listener read nothing for %g s; restarting it", 3 * interval
                )
                self._tasks["listener"].cancel()

    async def stop(self) -> None:
        """Close what is still open with 1001, leave the presence, close the connections."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        if self._listener is not None:
            self._listener.closed = True
        if self._control is not None:
            self._control.close()
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a loop that swallowed its cancel still ends at its next turn (the
            # flags above), and a stop must not hang on one that does not.
            done, late = await asyncio.wait(tasks, timeout=_STOP_TIMEOUT)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    cluster_logger.error("A cluster loop failed", exc_info=task.exception())
            if late:
                cluster_logger.warning("Cluster loops still running at stop: %r", late)
        open_sockets = [ws for ws in self._local.members if not ws.closed]
        if open_sockets:
            await close_sockets(open_sockets, timeout=_STOP_TIMEOUT)
        for task in list(self._background):
            task.cancel()
        try:
            if self._presence is not None:
                async with asyncio.timeout(_STOP_TIMEOUT):
                    await self._presence.remove()
        except (RedisError, OSError, TimeoutError) as exc:
            cluster_logger.warning("Could not remove this worker's presence (%r); it expires", exc)
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.aclose(close_connection_pool=True)
            self._redis = None
        self._listener = self._control = self._presence = None

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def __repr__(self) -> str:
        return (
            f"<Hub {self._worker_id or 'not started'} sockets={len(self._local.members)} "
            f"topics={len(self._local.by_topic)}>"
        )


async def _awaited(result: Awaitable[None]) -> None:
    try:
        await result
    except Exception:
        cluster_logger.exception("on_gap failed")
