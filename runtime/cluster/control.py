"""Control operations across workers: at-least-once through a Redis Stream.

``close_user`` and ``send_user`` append an entry to ``{p}:control`` (``XADD ... MAXLEN ~``)
and publish a wake-up on ``{p}:ctl``. Every worker reads the stream from its own cursor, so
a worker whose connection blipped still applies, once it is back, what was issued meanwhile;
a notification lost in a gap is made up by the periodic poll. Applying is idempotent: a
worker reads each entry once, and closing a socket twice closes it once. Each worker answers
on the caller's reply channel with how many of its sockets it acted on; the caller gathers
the answers of the live workers into a :class:`Report`, within a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .config import ClusterConfig
from .names import Names
from .stats import ClusterStats
from .wire import ControlOp, decode_reply, encode_reply

__all__ = ["ClusterUnavailable", "Control", "Report"]

cluster_logger = logging.getLogger("runtime.cluster")

_BATCH = 256


class ClusterUnavailable(ConnectionError):
    """Redis could not be reached to publish or to issue an operation."""


@dataclass(frozen=True, slots=True)
class Report:
    """What a control operation did across the cluster.

    Attributes:
        op: ``"close"`` or ``"send"``.
        user: whose sockets.
        count: sockets acted on, summed over the workers that answered.
        workers: the workers that answered within the timeout.
        expected: the workers alive when the operation was issued.
    """

    op: str
    user: str
    count: int
    workers: tuple[str, ...]
    expected: tuple[str, ...]

    @property
    def closed(self) -> int:
        """Sockets closed (``close_user``)."""
        return self.count if self.op == "close" else 0

    @property
    def sent(self) -> int:
        """Sockets the message went to (``send_user``)."""
        return self.count if self.op == "send" else 0

    @property
    def complete(self) -> bool:
        """Every worker alive at the start answered. When not, the others still apply the
        operation when they read the stream; their count is just not in this report."""
        return set(self.expected) <= set(self.workers)

    def as_dict(self) -> dict[str, Any]:
        key = "closed" if self.op == "close" else "sent"
        return {
            "op": self.op,
            "user": self.user,
            key: self.count,
            "workers": list(self.workers),
            "expected": list(self.expected),
            "complete": self.complete,
        }


@dataclass(slots=True)
class _Waiter:
    expected: frozenset[str]
    answers: dict[str, int] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Control:
    """Issues operations, and applies the stream's operations to this worker's sockets.

    Args:
        apply: applies one operation here and returns how many sockets it acted on.
        live_workers: the live worker ids (presence).
    """

    def __init__(
        self,
        redis: Redis,
        names: Names,
        worker_id: str,
        config: ClusterConfig,
        stats: ClusterStats,
        apply: Callable[[ControlOp], int],
    ) -> None:
        self._redis = redis
        self._names = names
        self._worker_id = worker_id
        self._config = config
        self._stats = stats
        self._apply = apply
        self._reply_channel = names.reply(worker_id)
        self._cursor: bytes | None = None  # the last entry read; None until first connected
        self._wake = asyncio.Event()
        self._waiters: dict[str, _Waiter] = {}
        self._check_trim = False
        self._closed = False

    async def start(self) -> None:
        """Read from the stream's current end: what was issued before we existed is not
        ours (we had no sockets then)."""
        # redis-py types its replies as unions of every RESP shape: ours are known.
        last: Any = await self._redis.xrevrange(self._names.control, "+", "-", count=1)
        self._cursor = bytes(last[0][0]) if last else b"0-0"

    # -- applying --------------------------------------------------------------------------

    def wake(self) -> None:
        """The stream grew (a notification), or may have (a reconnect)."""
        self._wake.set()

    async def run(self) -> None:
        """Read and apply operations until cancelled or :meth:`close`."""
        loop = asyncio.get_running_loop()
        poll = self._config.control_poll
        while not self._closed:
            # A timer sets the event rather than asyncio.timeout() around the wait:
            # redis-py can leave this task's cancel count raised after a failed read, and
            # asyncio.timeout() then takes the hub's own cancel for its expiry and swallows
            # it, so stop() would wait forever.
            timer = loop.call_later(poll, self._wake.set)
            try:
                await self._wake.wait()
            finally:
                timer.cancel()
            self._wake.clear()
            if self._closed:
                return
            try:
                if self._cursor is None:
                    await self.start()
                if self._check_trim:
                    await self._look_for_trimmed()
                await self._pump()
            except (RedisError, OSError) as exc:
                self._check_trim = True
                cluster_logger.debug("Reading the control stream failed: %r", exc)

    def close(self) -> None:
        """Stop reading (the loop ends at its next turn, cancelled or not)."""
        self._closed = True
        self._wake.set()

    async def _pump(self) -> None:
        stream = self._names.control
        while True:
            cursor = self._cursor
            assert cursor is not None
            found: Any = await self._redis.xread({stream: cursor}, count=_BATCH)
            if not found:
                return
            entries = found[0][1]
            for entry_id, fields in entries:
                self._cursor = entry_id
                await self._apply_entry(fields)
            if len(entries) < _BATCH:
                return

    async def _apply_entry(self, fields: dict[bytes, bytes]) -> None:
        try:
            op = ControlOp.from_fields(fields)
        except (KeyError, ValueError, UnicodeDecodeError):
            cluster_logger.warning("Skipping a control entry we cannot read: %r", fields)
            return
        count = self._apply(op)
        self._stats.control_applied += 1
        await self._redis.publish(op.reply, encode_reply(op.id, self._worker_id, count))

    async def _look_for_trimmed(self) -> None:
        # After a failure: entries past our cursor may have been trimmed (MAXLEN ~) while
        # we could not read. Redis 7 keeps the highest id a trim removed.
        self._check_trim = False
        try:
            info = await self._redis.xinfo_stream(self._names.control)
        except RedisError:  # no stream yet: nothing was trimmed
            return
        deleted = info.get("max-deleted-entry-id")
        cursor = self._cursor
        if deleted and cursor is not None and _id(deleted) > _id(cursor):
            self._stats.gaps += 1
            cluster_logger.warning(
                "Control operations were trimmed from the stream before this worker read "
                "them (it was cut off too long; raise control_maxlen)"
            )

    # -- issuing ---------------------------------------------------------------------------

    def on_reply(self, raw: bytes) -> None:
        """An answer arrived on this worker's reply channel."""
        try:
            op_id, worker, count = decode_reply(raw)
        except (ValueError, KeyError, TypeError):
            cluster_logger.debug("Ignoring a reply we cannot read: %r", raw)
            return
        waiter = self._waiters.get(op_id)
        if waiter is None:
            return  # late: the caller has its report already
        waiter.answers[worker] = count
        if waiter.expected <= waiter.answers.keys():
            waiter.done.set()

    async def issue(
        self,
        op: str,
        user: str,
        *,
        live: list[str],
        timeout: float,
        code: int = 1000,
        reason: str = "",
        data: bytes = b"",
    ) -> Report:
        """Append an operation, wake the workers, and gather their answers.

        Raises:
            ClusterUnavailable: Redis did not take the operation within ``timeout``.
        """
        entry = ControlOp(
            op=op,
            id=uuid.uuid4().hex,
            reply=self._reply_channel,
            user=user,
            code=code,
            reason=reason,
            data=data,
        )
        waiter = self._waiters[entry.id] = _Waiter(frozenset(live))
        appended = False
        try:
            async with asyncio.timeout(timeout):
                await self._append(entry)
                appended = True
                if waiter.expected:
                    await waiter.done.wait()
        except TimeoutError:
            if not appended:
                raise ClusterUnavailable(
                    f"Redis did not take the {op} operation within {timeout:g} s"
                ) from None
        finally:
            del self._waiters[entry.id]
        return Report(
            op=op,
            user=user,
            count=sum(waiter.answers.values()),
            workers=tuple(sorted(waiter.answers)),
            expected=tuple(sorted(waiter.expected)),
        )

    async def _append(self, entry: ControlOp) -> None:
        # Retried while Redis is away, until the caller's timeout: a short blip should not
        # turn a logout into an error.
        delay = 0.05
        while True:
            try:
                pipe = self._redis.pipeline(transaction=False)
                pipe.xadd(
                    self._names.control,
                    entry.fields(),  # type: ignore[arg-type]
                    maxlen=self._config.control_maxlen,
                    approximate=True,
                )
                pipe.publish(self._names.ctl, b"")
                await pipe.execute()
                return
            except (RedisError, OSError) as exc:
                cluster_logger.debug("Issuing a control operation failed: %r", exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.5)


def _id(entry_id: bytes | str) -> tuple[int, int]:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)
