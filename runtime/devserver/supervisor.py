"""The reloading supervisor: binds once, runs one child server at a time, and swaps in a new
one on each change to the code, only once the new one serves (docs/development.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from . import report
from .children import Child
from .listener import bind, display_name, release
from .serving import ServeOptions
from .watch import SourceFilter, Watcher, changes, watcher

__all__ = ["ReloadOptions", "run"]

logger = logging.getLogger("runtime.devserver")


@dataclass(frozen=True)
class ReloadOptions:
    """Which files are watched: ``include`` patterns minus ``exclude`` ones, under ``dirs``."""

    dirs: tuple[str, ...] = (".",)
    include: tuple[str, ...] = ("*.py",)
    exclude: tuple[str, ...] = ()


class _Stopped(Exception):
    """SIGINT or SIGTERM came while the supervisor waited."""


class Supervisor:
    """Runs child servers on one socket; see the package's docstring for the protocol."""

    def __init__(
        self, sock: socket.socket, options: ServeOptions, reload: ReloadOptions, awatch: Watcher
    ) -> None:
        self._sock = sock
        self._options = options
        self._reload = reload
        self._filter = SourceFilter(reload.dirs, reload.include, reload.exclude)
        self._awatch = awatch
        self._stop = asyncio.Event()
        self._changes: asyncio.Queue[list[str]] = asyncio.Queue()
        self._current: Child | None = None
        self._retiring: set[asyncio.Task[int]] = set()

    async def run(self) -> int:
        """Serve until SIGINT or SIGTERM; then stop every child and return 0."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop.set)
        watching = asyncio.create_task(self._watch())
        report.running(display_name(self._sock), self._filter.roots, self._reload.include)
        try:
            changed: list[str] = []
            while True:
                await self._load(changed)
                changed = await self._next_change()
        except _Stopped:
            pass
        finally:
            self._stop.set()
            if self._current is not None:
                self._retire(self._current)
            for result in await asyncio.gather(*self._retiring, return_exceptions=True):
                if isinstance(result, BaseException):
                    logger.error("Stopping a server failed", exc_info=result)
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching
            report.stopped()
        return 0

    async def _load(self, changed: list[str]) -> None:
        """Start a new child; once it serves, stop the old one. A child that fails leaves
        the old one serving; a change before it loads starts another in its place."""
        while True:
            candidate = await Child.start(self._sock, self._options)
            try:
                error = await self._unless_stopped_or_changed(candidate.loaded())
            except _Stopped:
                await candidate.stop(self._options.shutdown_timeout)
                raise
            if isinstance(error, list):  # superseded by a newer edit
                await candidate.stop(self._options.shutdown_timeout)
                changed = error
                report.superseded(changed)
                continue
            if error is not None:
                await candidate.stop(0)  # already exited: this closes its pipes
                report.failed(changed, error, self._current.pid if self._current else None)
                return
            old, self._current = self._current, candidate
            report.reloaded(changed, candidate.pid)
            if old is not None:
                self._retire(old)
            return

    def _retire(self, child: Child) -> None:
        """Stop ``child`` gracefully in the background: its last requests may take their
        time, and the next edit need not wait for them."""
        task = asyncio.create_task(child.stop(self._options.shutdown_timeout))
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def _next_change(self) -> list[str]:
        """The next batch of changes; says so if the serving child exits meanwhile."""
        current = self._current
        if current is not None:
            result = await self._unless_stopped_or_changed(current.process.wait())
            if isinstance(result, list):
                return result
            report.exited(current.pid, result)
            await current.stop(0)
            self._current = None
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        result = await self._unless_stopped_or_changed(never)
        assert isinstance(result, list)  # never resolves
        return result

    async def _unless_stopped_or_changed(self, work: Awaitable[Any]) -> Any:
        """``work``'s result, or the changed paths if files change first.

        Raises:
            _Stopped: a signal came first.
        """
        tasks = [
            asyncio.ensure_future(work),
            asyncio.ensure_future(self._stop.wait()),
            asyncio.ensure_future(self._drain_changes()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        done, stopped, changed = tasks
        if stopped.done() and not stopped.cancelled():
            raise _Stopped
        if changed.done() and not changed.cancelled():
            return changed.result()
        return done.result()

    async def _drain_changes(self) -> list[str]:
        """The next batch, merged with any others already waiting."""
        paths = set(await self._changes.get())
        while not self._changes.empty():
            paths.update(self._changes.get_nowait())
        return sorted(paths)

    async def _watch(self) -> None:
        try:
            async for paths in changes(self._awatch, self._filter, self._stop):
                self._changes.put_nowait(paths)
        except Exception:
            logger.exception("Watching for changes failed; stopping")
            self._stop.set()


def run(options: ServeOptions, reload: ReloadOptions, **where: Any) -> int:
    """Serve ``options.entry`` on ``where`` (``host``, ``port``, ``path``), reloading on
    changes, until SIGINT or SIGTERM.

    Raises:
        RuntimeError: watchfiles is not installed.
        OSError: the address cannot be bound.
    """
    awatch = watcher()
    sock = bind(where.get("host"), where.get("port"), where.get("path"))
    try:
        return asyncio.run(Supervisor(sock, options, reload, awatch).run())
    finally:
        release(sock)
