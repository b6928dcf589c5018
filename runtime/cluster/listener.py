"""The subscriber: one pub/sub connection per worker, read without ever waiting on a socket.

It subscribes to the topics some local socket wants, the control notification channel and
this worker's reply channel. When the connection fails it reconnects with backoff (doubling
from ``backoff_min`` to ``backoff_max``) for as long as the hub runs, and reports a gap:
pub/sub keeps nothing for a subscriber that was away (docs/cluster.md). A subscription
Redis confirms twice also means the client library reconnected on its own, so that is a gap
too. A ping every ``health_interval`` of silence finds a connection that died quietly.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .config import ClusterConfig
from .gap import Gap
from .names import Names
from .stats import ClusterStats

__all__ = ["Listener"]

cluster_logger = logging.getLogger("runtime.cluster")

_DATA = frozenset({"message", "smessage"})
_SUBSCRIBED = frozenset({"subscribe", "ssubscribe"})
_UNSUBSCRIBED = frozenset({"unsubscribe", "sunsubscribe"})


class Listener:
    """Reads the worker's subscriptions and hands each message to the hub's callbacks.

    Args:
        connect: makes a new Redis client for one connection's lifetime.
        topics: the topics the local sockets want now (read at each (re)connection).
        on_data: ``(channel, payload)`` of a topic message.
        on_control: a control operation was added to the stream.
        on_reply: ``payload`` of an answer to one of this worker's operations.
        on_gap: messages may have been missed.
    """

    def __init__(
        self,
        *,
        connect: Callable[[], Redis],
        names: Names,
        worker_id: str,
        config: ClusterConfig,
        stats: ClusterStats,
        topics: Callable[[], Iterable[str]],
        on_data: Callable[[bytes, bytes], None],
        on_control: Callable[[], None],
        on_reply: Callable[[bytes], None],
        on_gap: Callable[[Gap], None],
    ) -> None:
        self._connect = connect
        self._names = names
        self._config = config
        self._stats = stats
        self._topics = topics
        self._on_data = on_data
        self._on_control = on_control
        self._on_reply = on_reply
        self._on_gap = on_gap
        self._ctl = names.ctl
        self._reply = names.reply(worker_id)
        self._pubsub: Any = None  # redis.asyncio.client.PubSub while connected
        self._subscribed: set[bytes] = set()
        self._sync_task: asyncio.Task[None] | None = None
        self._lost_at: float | None = None  # loop time the connection was lost
        self._connects = 0  # sessions that subscribed
        self._outage_reported = False  # the WARNING for this outage is out
        self.connected = False
        self.closed = False  # set by the hub's stop: the loops end at their next turn
        self.alive_at = 0.0  # loop time something was last read (the watchdog looks)

    # -- subscriptions -----------------------------------------------------------------

    def changed(self) -> None:
        """The wanted topics changed: (un)subscribe soon, in one command each way."""
        if self._pubsub is not None and self._sync_task is None:
            self._sync_task = asyncio.get_running_loop().create_task(self._sync_soon())

    async def _sync_soon(self) -> None:
        try:
            await self._sync()
        except (RedisError, OSError) as exc:
            # The read loop sees the same failure and reconnects, subscribing afresh.
            cluster_logger.debug("Subscription change failed: %r", exc)
        finally:
            self._sync_task = None

    def _wanted(self) -> set[bytes]:
        names = self._names
        return {names.topic(topic) for topic in self._topics()}

    async def _sync(self) -> None:
        pubsub = self._pubsub
        while pubsub is not None:
            wanted = self._wanted()
            add = wanted - self._subscribed
            drop = self._subscribed - wanted
            if not add and not drop:
                return
            # Recorded first: a change made while we await is seen by the next pass.
            self._subscribed |= add
            self._subscribed -= drop
            sharded = self._config.sharded
            if add:
                await (pubsub.ssubscribe if sharded else pubsub.subscribe)(*add)
            if drop:
                await (pubsub.sunsubscribe if sharded else pubsub.unsubscribe)(*drop)

    # -- the read loop -------------------------------------------------------------------

    async def run(self) -> None:
        """Listen until cancelled, reconnecting with backoff."""
        config = self._config
        delay = config.backoff_min
        while not self.closed:
            connects = self._connects
            try:
                await self._session()
            except (RedisError, OSError, TimeoutError) as exc:
                if not self._outage_reported:
                    self._outage_reported = True
                    cluster_logger.warning(
                        "The Redis subscriber connection failed (%s); reconnecting: messages "
                        "published meanwhile are missed",
                        _describe(exc),
                    )
                else:
                    cluster_logger.debug("Redis subscriber still unavailable: %r", exc)
            if self.closed:
                return
            if self._connects != connects:
                delay = config.backoff_min  # it had connected: a new outage backs off afresh
            # Jitter, so the workers of a fleet do not reconnect in lockstep.
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, config.backoff_max)

    async def _session(self) -> None:
        client = self._connect()
        pubsub = client.pubsub()
        loop = asyncio.get_running_loop()
        try:
            await pubsub.subscribe(self._ctl, self._reply)
            self._pubsub = pubsub
            self._subscribed = set()
            await self._sync()
            self.connected = True
            self.alive_at = loop.time()
            self._connects += 1
            self._outage_reported = False
            if self._lost_at is not None:
                lost_for = loop.time() - self._lost_at
                self._lost_at = None
                self._stats.reconnects += 1
                self._on_control()  # the stream may have grown while we were away
                self._on_gap(Gap("reconnect", frozenset(self._topics()), lost_for))
            await self._read(pubsub)
        finally:
            self.connected = False
            self._pubsub = None
            if self._sync_task is not None:
                self._sync_task.cancel()
                self._sync_task = None
            if self._lost_at is None:
                self._lost_at = loop.time()
            await _quietly_close(pubsub, client)

    async def _read(self, pubsub: Any) -> None:
        loop = asyncio.get_running_loop()
        interval = self._config.health_interval
        ctl = self._ctl
        reply = self._reply
        on_data = self._on_data
        stats = self._stats
        confirmed: set[bytes] = set()
        pinged = False
        while not self.closed:
            msg = await pubsub.get_message(timeout=interval)
            if msg is None:
                if pinged:
                    raise TimeoutError(f"no answer from Redis for {2 * interval:g} s")
                await pubsub.ping()
                pinged = True
                continue
            pinged = False
            self.alive_at = loop.time()
            kind = msg["type"]
            channel = msg["channel"]
            if kind in _DATA:
                if channel == ctl:
                    self._on_control()
                elif channel == reply:
                    self._on_reply(msg["data"])
                else:
                    stats.received += 1
                    on_data(channel, msg["data"])
            elif kind in _SUBSCRIBED:
                if channel in confirmed:
                    # Redis confirms a subscription once per SUBSCRIBE; a second one with
                    # no unsubscribe between means the client library made the connection
                    # again under us and resubscribed everything: every topic lapsed. The
                    # other channels' confirmations follow; they count as first ones.
                    confirmed.clear()
                    self._resubscribed()
                confirmed.add(channel)
            elif kind in _UNSUBSCRIBED:
                confirmed.discard(channel)

    def _resubscribed(self) -> None:
        self._stats.reconnects += 1
        self._on_control()  # the stream may have grown while we were away
        self._on_gap(Gap("resubscribed", frozenset(self._topics())))


async def _quietly_close(pubsub: Any, client: Redis) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except (RedisError, OSError) as exc:  # the connection is already broken
        cluster_logger.debug("Closing the subscriber connection: %r", exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
