"""The worker's stop, bounded by gunicorn's ``graceful_timeout``.

Graceful (TERM, HUP reload, max_requests, reloader, parent gone), in the order of
docs/architecture.md:

1. stop accepting on every listener (connections already accepted reach the server);
2. mark every connection as closing: idle keep-alive connections get ``grace`` seconds in
   which a request that was already on its way is still answered, with
   ``Connection: close`` (RFC 9112 9.6); in-flight responses carry ``Connection: close``;
3. the WebSocket hook, then ``on_shutdown``;
4. in-flight requests finish, for at most ``drain`` seconds, then are cancelled;
5. ``on_cleanup``.

The arbiter SIGKILLs a worker ``graceful_timeout`` after signalling it, so all of that is
capped a little earlier (``cap``), leaving time for the loop teardown. Quick (QUIT, INT):
connections are aborted at once and the same steps get ``quick_timeout`` in all. A QUIT that
arrives during a graceful stop turns it quick.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..web import BaseRunner
from .accept import GunicornSite

__all__ = ["Drain", "ShutdownTiming"]

QUICK_TIMEOUT = 1.0
_TEARDOWN_MARGIN = 0.5  # left for cancelling tasks, executors and closing the loop
_HOOKS_SHARE = 0.1  # of graceful_timeout, at least half a second, for on_shutdown/on_cleanup


@dataclass(frozen=True, slots=True)
class ShutdownTiming:
    """Seconds for each part of a graceful stop.

    Attributes:
        cap: the whole stop, hooks included.
        drain: what in-flight requests get before they are cancelled.
        grace: the window idle keep-alive connections stay open.
    """

    cap: float
    drain: float
    grace: float

    @classmethod
    def from_graceful_timeout(cls, graceful_timeout: float, grace: float) -> ShutdownTiming:
        cap = max(0.5, graceful_timeout - _TEARDOWN_MARGIN)
        drain = max(0.0, cap - max(0.5, graceful_timeout * _HOOKS_SHARE))
        return cls(cap=cap, drain=drain, grace=min(grace, drain / 2))


class Drain:
    """Runs one stop; ``go_quick()`` may cut it short at any time.

    Args:
        runner: the set-up runner (its ``cleanup()`` runs hooks and drains the server).
        sites: the listeners.
        timing: the graceful budget.
        close_websockets: the hook called before ``on_shutdown``.
        logger: gunicorn's logger.
    """

    def __init__(
        self,
        runner: BaseRunner,
        sites: Sequence[GunicornSite],
        timing: ShutdownTiming,
        close_websockets: Callable[[BaseRunner], Awaitable[None]],
        logger: Any,
    ) -> None:
        self._runner = runner
        self._sites = sites
        self._timing = timing
        self._close_websockets = close_websockets
        self._logger = logger
        self.quick = False
        self._deadline = 0.0
        self._wake: asyncio.Future[None] | None = None

    async def run(self, *, quick: bool = False) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + self._timing.cap
        if quick:
            self.go_quick()
        task = loop.create_task(self._stop())
        while not task.done():
            remaining = self._deadline - loop.time()
            if remaining <= 0:
                break
            self._wake = loop.create_future()
            await asyncio.wait(
                {task, self._wake}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            self._wake = None
        if not task.done():
            self._logger.warning(
                "Shutdown did not finish in %.1f s; cancelling what is left", self._timing.cap
            )
            task.cancel()
            await asyncio.wait({task}, timeout=QUICK_TIMEOUT)
        elif not task.cancelled() and task.exception() is not None:
            self._logger.error("Error during shutdown", exc_info=task.exception())

    def go_quick(self) -> None:
        """Abort every connection and give the rest of the stop ``QUICK_TIMEOUT`` at most."""
        self.quick = True
        self._abort_connections()
        loop = asyncio.get_running_loop()
        self._deadline = min(self._deadline or float("inf"), loop.time() + QUICK_TIMEOUT)
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _abort_connections(self) -> None:
        server = self._runner.server
        if server is not None:
            for conn in list(server.connections):
                conn.abort()

    async def _stop(self) -> None:
        for site in self._sites:
            await site.stop()
        server = self._runner.server
        if server is not None:
            if self.quick:
                self._abort_connections()  # accepted while the listeners were stopping
            server.pre_shutdown()
        await self._close_websockets(self._runner)
        # on_shutdown, the drain (bounded by the sites' shutdown_timeout) and on_cleanup.
        await self._runner.cleanup()
