"""``worker_connections``: a limit that makes room before it refuses (docs/hardening.md).

A hard limit that only stops accepting can be turned against the server: a thousand idle
keep-alive connections, or a thousand clients that never finish their heads, and no one
else gets in. So at the limit, before each new connection, one connection is closed to make
room, the cheapest first: one already closing, then idle ones (oldest first), then heads
begun and not finished, then bodies arriving below the minimum rate (slowest first), then
peers that have read nothing for a second while our writes to them are blocked (longest
first; see ``HttpProtocol.shed_rank``). A request being served and a WebSocket are never
closed while their peer keeps reading. Only when nothing can be closed does the worker stop
accepting (new connections wait in the listen backlog, where a sibling worker may take
them) until a connection ends.

Each episode at the limit is logged twice at most: one WARNING when the worker first has to
refuse, one INFO line when it is over, with what was closed.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections import deque
from collections.abc import Collection
from typing import Any

from ..server.protocol import HttpProtocol

__all__ = ["ConnectionLimit"]

_POLL_WHILE_FULL = 0.05
# How many candidates one scan keeps, and for how long: a scan reads every connection, so
# under a flood it runs once per this many new connections, not once per connection.
_SCAN_KEEP = 64
_SCAN_FRESH = 0.5
# An episode at the limit is over after this long without reaching it.
_EPISODE_QUIET = 1.0
_KINDS = ("closing", "idle", "slow head", "slow body", "not reading")


class ConnectionLimit:
    """Caps a worker's open connections, shedding idle and slow ones to make room.

    Args:
        limit: the most connections open at once (accepted, TLS handshakes included).
        connections: the server's open connections (``web.Server.connections``).
        logger: where the episode lines go (gunicorn's error log).
    """

    def __init__(
        self,
        limit: int,
        connections: Collection[HttpProtocol],
        logger: logging.Logger | Any,
    ) -> None:
        self.limit = limit
        self._connections = connections
        self._logger = logger
        self.handshaking = 0  # accepted, not yet handed to the protocol
        self.sites: list[Any] = []
        self.paused = False
        self._timer: asyncio.TimerHandle | None = None
        self._shed: set[HttpProtocol] = set()  # closed to make room, not yet gone
        self._victims: deque[HttpProtocol] = deque()
        self._scanned_at = float("-inf")
        self._episode: _Episode | None = None

    @property
    def room(self) -> int:
        shed = self._shed
        if shed:
            # Connections closed to make room count as gone: their transport closes within
            # a loop iteration, and they must not make us shed again meanwhile.
            shed.difference_update([conn for conn in shed if conn.transport is None])
        return self.limit - (len(self._connections) - len(shed)) - self.handshaking

    def make_room(self) -> bool:
        """Close the cheapest connection that may be closed; False if there is none."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        episode = self._episode_at(loop, now)
        rescanned = False
        while True:
            if not self._victims or now - self._scanned_at > _SCAN_FRESH:
                if rescanned:
                    return False
                self._scan(now)
                rescanned = True
                continue
            conn = self._victims.popleft()
            rank = conn.shed_rank(now)
            if rank is None or conn in self._shed or conn.transport is None:
                continue  # busy again, or gone, since the scan
            conn.shed()
            self._shed.add(conn)
            episode.shed[rank[0]] += 1
            return True

    def _scan(self, now: float) -> None:
        self._scanned_at = now
        ranked = [
            (rank, i, conn)
            for i, conn in enumerate(self._connections)
            if (rank := conn.shed_rank(now)) is not None and conn not in self._shed
        ]
        self._victims = deque(conn for _, _, conn in heapq.nsmallest(_SCAN_KEEP, ranked))

    # -- refusing: nothing could be shed ------------------------------------------------

    def pause(self) -> None:
        """Stop accepting on every site until a connection can be made room for."""
        if self.paused:
            return
        self.paused = True
        for site in self.sites:
            site.pause()
        loop = asyncio.get_running_loop()
        episode = self._episode_at(loop, loop.time())
        if not episode.refused_since:
            episode.refused_since = loop.time()
        if not episode.warned:
            episode.warned = True
            self._logger.warning(
                "worker_connections (%d) reached and no connection can be closed to make "
                "room (all are serving requests or WebSockets to peers that read): new "
                "connections wait in the listen backlog. Raise --worker-connections or add "
                "workers if this recurs.",
                self.limit,
            )
        self._schedule()

    def _schedule(self) -> None:
        # A connection that ends does not tell us; polling only while full costs nothing in
        # normal operation.
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(_POLL_WHILE_FULL, self._check)

    def _check(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.room >= 0 or self._has_candidate(now):
            # Accept again: a waiting connection gets the free slot, or one made for it.
            self.paused = False
            episode = self._episode
            if episode is not None and episode.refused_since:
                episode.refused_for += now - episode.refused_since
                episode.refused_since = 0.0
            for site in self.sites:
                site.resume()
        else:
            self._schedule()

    def _has_candidate(self, now: float) -> bool:
        self._scan(now)
        return bool(self._victims)

    # -- episodes -----------------------------------------------------------------------

    def _episode_at(self, loop: asyncio.AbstractEventLoop, now: float) -> _Episode:
        episode = self._episode
        if episode is None:
            episode = self._episode = _Episode(now)
            episode.timer = loop.call_later(_EPISODE_QUIET, self._episode_tick)
        episode.last_seen = now
        return episode

    def _episode_tick(self) -> None:
        episode = self._episode
        if episode is None:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.paused or now - episode.last_seen < _EPISODE_QUIET:
            episode.timer = loop.call_later(_EPISODE_QUIET, self._episode_tick)
            return
        self._episode = None
        self._logger.info(
            "worker_connections (%d) episode over after %.1f s: closed %s to make room; "
            "refused for %.1f s",
            self.limit,
            episode.last_seen - episode.started,
            ", ".join(f"{n} {kind}" for n, kind in zip(episode.shed, _KINDS, strict=True)),
            episode.refused_for,
        )

    def close(self) -> None:
        """The worker stops: no more polling or episode lines."""
        for timer in (self._timer, self._episode.timer if self._episode else None):
            if timer is not None:
                timer.cancel()
        self._timer = None
        self._episode = None


class _Episode:
    __slots__ = (
        "last_seen",
        "refused_for",
        "refused_since",
        "shed",
        "started",
        "timer",
        "warned",
    )

    def __init__(self, now: float) -> None:
        self.started = now
        self.last_seen = now
        self.shed = [0] * len(_KINDS)  # by shed_rank kind: closing, idle, ..., not reading
        self.refused_since = 0.0
        self.refused_for = 0.0
        self.warned = False
        self.timer: asyncio.TimerHandle | None = None
