"""The worker's pulse: ``notify()`` the arbiter, and notice a new parent or a cleared
``alive`` flag.

It is a loop timer, so it beats while the loop runs — during startup, serving and the whole
graceful drain — and stops beating when the loop is blocked, which is what the arbiter's
``timeout`` watchdog is for. (Workers that stop notifying while draining get SIGABRT and
SIGKILL mid-request once the drain outlasts ``timeout``.)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

__all__ = ["Heartbeat", "heartbeat_interval"]

_MAX_INTERVAL = 1.0


def heartbeat_interval(worker_timeout: float) -> float:
    """About a second, never longer than the worker's ``timeout`` (half of gunicorn's
    ``timeout`` setting, which is 0 when the watchdog is off)."""
    if worker_timeout <= 0:
        return _MAX_INTERVAL
    return min(_MAX_INTERVAL, worker_timeout)


class Heartbeat:
    """Calls ``notify`` every ``interval`` seconds and ``check`` right after.

    Args:
        notify: the worker's ``notify`` (touches the heartbeat file).
        interval: seconds between beats.
        ppid: the arbiter's pid; when ``os.getppid()`` differs, ``on_orphaned`` runs once.
        on_orphaned: called when the parent changed (the arbiter died).
        check: called on every beat (the worker polls ``alive`` here: the reloader thread
            clears it without waking the loop).
    """

    def __init__(
        self,
        notify: Callable[[], None],
        interval: float,
        ppid: int,
        on_orphaned: Callable[[], None],
        check: Callable[[], None],
    ) -> None:
        self._notify = notify
        self.interval = interval
        self._ppid = ppid
        self._on_orphaned = on_orphaned
        self._check = check
        self._handle: asyncio.TimerHandle | None = None
        self._orphaned = False

    def start(self) -> None:
        self._beat()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _beat(self) -> None:
        self._handle = asyncio.get_running_loop().call_later(self.interval, self._beat)
        self._notify()
        if not self._orphaned and os.getppid() != self._ppid:
            self._orphaned = True
            self._on_orphaned()
        self._check()
