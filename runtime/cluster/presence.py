"""Presence: which workers are alive, and how many sockets each holds for a user.

Every key a worker writes carries the presence TTL and is refreshed by its heartbeat (every
third of the TTL), so the entries of a worker that was SIGKILLed, or whose host vanished,
expire by themselves; a worker that stops cleanly deletes them at once. Liveness is a key
with a TTL rather than a timestamp, so the hosts' clocks never need to agree: Redis's own
clock expires it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .names import Names

__all__ = ["Presence"]

cluster_logger = logging.getLogger("runtime.cluster")

_USER = "u:"


class Presence:
    """Writes this worker's presence and reads everyone's.

    Args:
        counts: this worker's sockets per user, now.
    """

    def __init__(
        self,
        redis: Redis,
        names: Names,
        worker_id: str,
        ttl: float,
        counts: Callable[[], dict[str, int]],
    ) -> None:
        self._redis = redis
        self._names = names
        self._worker_id = worker_id
        self._ttl_ms = max(1, round(ttl * 1000))
        self._interval = ttl / 3
        self._counts = counts
        self._dirty: set[str] = set()
        self._flush_task: asyncio.Task[None] | None = None
        self._in_sync = False  # the hash in Redis matches our counts (but for _dirty)
        self._closed = False

    # -- writing -------------------------------------------------------------------------

    def touch(self, users: Iterable[str]) -> None:
        """These users' socket counts changed: write them soon, batched."""
        self._dirty.update(users)
        if self._flush_task is None and self._in_sync:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    async def _flush(self) -> None:
        try:
            await asyncio.sleep(0)  # let the changes of this loop pass pile up
            while self._dirty and self._in_sync:
                users, self._dirty = self._dirty, set()
                counts = self._counts()
                key = self._names.presence(self._worker_id)
                pipe = self._redis.pipeline(transaction=False)
                for user in users:
                    n = counts.get(user, 0)
                    if n:
                        pipe.hset(key, _USER + user, n)
                    else:
                        pipe.hdel(key, _USER + user)
                pipe.pexpire(key, self._ttl_ms)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._in_sync = False  # the next heartbeat writes the whole hash again
            cluster_logger.debug("Presence update failed: %r", exc)
        finally:
            self._flush_task = None

    async def beat(self) -> None:
        """One heartbeat: liveness, and the whole hash again if it may be stale."""
        names = self._names
        wid = self._worker_id
        ttl = self._ttl_ms
        key = names.presence(wid)
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(names.worker(wid), _describe_worker(), px=ttl)
        pipe.zadd(names.workers, {wid: time.time()})
        if not self._in_sync:
            self._dirty.clear()
            counts = self._counts()
            pipe.delete(key)
            if counts:
                pipe.hset(key, mapping={_USER + user: n for user, n in counts.items()})
        pipe.pexpire(key, ttl)
        await pipe.execute()
        if not self._in_sync:
            self._in_sync = True
            if self._dirty:
                self.touch(())

    async def run(self) -> None:
        """Heartbeat until cancelled; a failed beat makes the next one rewrite everything."""
        while not self._closed:
            try:
                await self.beat()
            except (RedisError, OSError) as exc:
                self._in_sync = False
                cluster_logger.debug("Presence heartbeat failed: %r", exc)
            await asyncio.sleep(self._interval)

    async def remove(self) -> None:
        """Leave now: a clean stop does not wait for the TTL (and beat no more)."""
        self._closed = True
        names = self._names
        wid = self._worker_id
        self._in_sync = False
        if self._flush_task is not None:
            self._flush_task.cancel()
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(names.worker(wid), names.presence(wid))
        pipe.zrem(names.workers, wid)
        await pipe.execute()

    # -- reading -------------------------------------------------------------------------

    async def workers(self) -> list[str]:
        """The live workers (their liveness key has not expired), in no special order."""
        names = self._names
        members: Any = await self._redis.zrange(names.workers, 0, -1)
        known = [bytes(w).decode() for w in members]
        if not known:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for wid in known:
            pipe.exists(names.worker(wid))
        alive = await pipe.execute()
        dead = [wid for wid, up in zip(known, alive, strict=True) if not up]
        if dead:
            # Keep the index bounded: a restarted fleet leaves a name per dead worker.
            await self._redis.zrem(names.workers, *dead)
        return [wid for wid, up in zip(known, alive, strict=True) if up]

    async def of_user(self, user: str) -> dict[str, int]:
        """Sockets of ``user`` per live worker (workers without any are left out)."""
        live = await self.workers()
        if not live:
            return {}
        pipe = self._redis.pipeline(transaction=False)
        for wid in live:
            pipe.hget(self._names.presence(wid), _USER + user)
        found = await pipe.execute()
        return {wid: int(n) for wid, n in zip(live, found, strict=True) if n}


def _describe_worker() -> str:
    return socket.gethostname()
