"""A socket's outgoing queue: the fan-out never waits for a slow peer.

A message goes straight to the socket while its send buffer has room (no task, no await).
Once the buffer is full, messages wait here, at most ``queue_size`` of them, and one task
per backed-up socket sends them as the peer reads. A full queue applies the overflow
policy. So the subscriber reading from Redis never blocks, and Redis never cuts it off
(``client-output-buffer-limit pubsub``) because one client reads slowly.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Final

from ..http.ws import WSCloseCode, WSMsgType
from ..websocket.connection import WebSocketBase
from .config import Overflow
from .stats import ClusterStats

__all__ = ["Outbox"]

cluster_logger = logging.getLogger("runtime.cluster")

_Item = tuple[WSMsgType, bytes, bytes]  # opcode, payload, the shared uncompressed frame
_SLOW_REASON: Final = "Too slow: messages overflowed"


class Outbox:
    """The messages waiting for one WebSocket."""

    __slots__ = ("_limit", "_overflow", "_queue", "_stats", "_task", "ws")

    def __init__(
        self, ws: WebSocketBase, *, limit: int, overflow: Overflow, stats: ClusterStats
    ) -> None:
        self.ws = ws
        self._limit = limit
        self._overflow = overflow
        self._stats = stats
        self._queue: deque[_Item] = deque()
        self._task: asyncio.Task[None] | None = None

    def __len__(self) -> int:
        return len(self._queue)

    def offer(self, opcode: WSMsgType, payload: bytes, frame: bytes) -> None:
        """Send a message now, or queue it behind the ones already waiting."""
        stats = self._stats
        queue = self._queue
        if not queue:
            try:
                if self.ws._offer(opcode, payload, frame):
                    stats.delivered += 1
                    return
            except ConnectionResetError:
                stats.dropped += 1  # closing: it leaves the hub when its connection ends
                return
            queue.append((opcode, payload, frame))
            self._task = asyncio.get_running_loop().create_task(self._send_queued())
            return
        if len(queue) < self._limit:
            queue.append((opcode, payload, frame))
            return
        stats.dropped += 1
        policy = self._overflow
        if policy is Overflow.DROP_OLDEST:
            queue.popleft()
            queue.append((opcode, payload, frame))
        elif policy is Overflow.CLOSE:
            self._close_slow()
        # DROP_NEWEST: this message is the one dropped.

    def _close_slow(self) -> None:
        stats = self._stats
        stats.dropped += len(self._queue)
        self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self.ws.closed:
            return
        stats.closed_slow += 1
        cluster_logger.info("Closing a WebSocket that fell %d messages behind", self._limit)
        # The Close goes out ahead of what was queued; close() waits for the peer's answer
        # at most the socket's own timeout, then drops the connection.
        asyncio.get_running_loop().create_task(
            self.ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=_SLOW_REASON)
        )

    async def _send_queued(self) -> None:
        ws = self.ws
        queue = self._queue
        stats = self._stats
        try:
            while queue:
                await ws._writable()
                while queue:
                    opcode, payload, frame = queue[0]
                    if not ws._offer(opcode, payload, frame):
                        break
                    queue.popleft()
                    stats.delivered += 1
        except ConnectionResetError:
            stats.dropped += len(queue)
            queue.clear()
        finally:
            if self._task is asyncio.current_task():
                self._task = None

    def discard(self) -> None:
        """The socket left: forget what it had waiting."""
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self._stats.dropped += len(self._queue)
        self._queue.clear()
