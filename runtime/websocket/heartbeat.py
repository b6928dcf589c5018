"""A WebSocket's heartbeat (aiohttp's ``heartbeat=``): ping a peer that has been quiet for
the interval, and fail the connection when nothing comes back within half of it.

https://docs.aiohttp.org/en/stable/web_reference.html#websocketresponse

Any bytes from the peer prove it alive (RFC 6455 5.5.3: a Pong may also come unasked), so a
read cancels the wait for a pong and moves the next ping's deadline. The ping timer is armed
once and not re-armed per read: when it fires before the deadline it sleeps again until it.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

__all__ = ["HeartbeatOwner", "Pinger"]


class HeartbeatOwner(Protocol):
    """The socket a :class:`Pinger` keeps alive."""

    def _heartbeat_ping(self) -> bool:
        """Send a ping; False when the socket no longer wants one (closing or closed)."""
        ...

    def _heartbeat_missed(self, waited: float) -> None:
        """No byte came ``waited`` seconds after a ping: fail the connection."""
        ...


class Pinger:
    """The heartbeat timers of one socket, from :meth:`start` until :meth:`stop`."""

    __slots__ = ("_due", "_interval", "_loop", "_owner", "_ping_handle", "_pong_handle")

    def __init__(
        self, owner: HeartbeatOwner, loop: asyncio.AbstractEventLoop, interval: float
    ) -> None:
        self._owner = owner
        self._loop = loop
        self._interval = interval
        self._due = 0.0
        self._ping_handle: asyncio.TimerHandle | None = None
        self._pong_handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Ping after ``interval`` seconds, unless the peer is heard from first."""
        self._due = self._loop.time() + self._interval
        if self._ping_handle is None:
            self._ping_handle = self._loop.call_at(self._due, self._on_ping_due)

    def seen_alive(self) -> None:
        """The peer sent something: no pong needed, the next ping an interval from now."""
        if self._pong_handle is not None:
            self._pong_handle.cancel()
            self._pong_handle = None
        self.start()

    def stop(self) -> None:
        """Cancel both timers (the socket is closing, or gone)."""
        if self._ping_handle is not None:
            self._ping_handle.cancel()
            self._ping_handle = None
        if self._pong_handle is not None:
            self._pong_handle.cancel()
            self._pong_handle = None

    def _on_ping_due(self) -> None:
        self._ping_handle = None
        loop = self._loop
        if loop.time() < self._due:  # heard from since the timer was armed
            self._ping_handle = loop.call_at(self._due, self._on_ping_due)
            return
        if not self._owner._heartbeat_ping():
            return
        if self._pong_handle is None:
            self._pong_handle = loop.call_later(self._interval / 2, self._on_pong_missed)

    def _on_pong_missed(self) -> None:
        self._pong_handle = None
        self._owner._heartbeat_missed(self._interval / 2)
