"""Accepting on gunicorn's listening sockets, with ``worker_connections`` as a hard limit.

``loop.create_server(sock=...)`` cannot pause accepting, and it calls ``listen()`` again with
its own backlog (100 or 128 instead of gunicorn's ``backlog``). So each listener gets a small
acceptor of our own: it waits for the socket to be readable, accepts a batch, and hands each
connection to ``loop.connect_accepted_socket`` (the same path ``create_server`` takes, TLS
included). At ``worker_connections`` open connections it stops watching the sockets; the
kernel keeps queueing new ones in the backlog (or another worker takes them) until a
connection closes. gunicorn already called ``listen(backlog)``; we never call it again, which
also spares systemd-activated sockets (where SELinux may refuse it).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl as _ssl
from collections.abc import Callable

from ..runner import BaseRunner, BaseSite

__all__ = ["ConnectionLimit", "GunicornSite"]

# Connections accepted per readiness event: a few, so workers sharing a socket share the load.
_BATCH = 16
# Out of file descriptors or memory: stop accepting this long instead of spinning.
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESOURCE_PAUSE = 0.5
_POLL_WHILE_FULL = 0.05
# How long a stop waits for TLS handshakes in progress before dropping them.
_HANDSHAKE_WAIT = 1.0


class ConnectionLimit:
    """``worker_connections``: pauses every site at the limit and resumes them below it.

    Args:
        limit: the most connections open at once (accepted, including TLS handshakes).
        open_connections: how many connections the server holds now.
    """

    def __init__(self, limit: int, open_connections: Callable[[], int]) -> None:
        self.limit = limit
        self._open = open_connections
        self.handshaking = 0  # accepted, not yet handed to the protocol
        self.sites: list[GunicornSite] = []
        self._timer: asyncio.TimerHandle | None = None
        self.paused = False

    @property
    def room(self) -> int:
        return self.limit - self._open() - self.handshaking

    def pause(self) -> None:
        if self.paused:
            return
        self.paused = True
        for site in self.sites:
            site.pause()
        self._schedule()

    def _schedule(self) -> None:
        # A connection that closes does not tell us; polling only while full costs nothing
        # in normal operation.
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(_POLL_WHILE_FULL, self._check)

    def _check(self) -> None:
        self._timer = None
        if self.room > 0:
            self.paused = False
            for site in self.sites:
                site.resume()
        else:
            self._schedule()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class GunicornSite(BaseSite):
    """A runner site on one of gunicorn's listening sockets (``worker.sockets[i].sock``).

    Args:
        runner: a set-up runner.
        sock: the listening socket; gunicorn made it, bound it and called ``listen()``.
        protocol_factory: builds the protocol for each accepted connection.
        limit: the worker-wide connection limit.
        ssl_context: TLS for this listener (``gunicorn.sock.ssl_context(cfg)``).
        shutdown_timeout: how long the runner lets in-flight requests finish.
        logger: gunicorn's logger.
    """

    def __init__(
        self,
        runner: BaseRunner,
        sock: socket.socket,
        *,
        protocol_factory: Callable[[], asyncio.BaseProtocol],
        limit: ConnectionLimit,
        ssl_context: _ssl.SSLContext | None,
        shutdown_timeout: float,
        logger: logging.Logger,
    ) -> None:
        super().__init__(runner, shutdown_timeout=shutdown_timeout, ssl_context=ssl_context)
        self._sock = sock
        self._factory = protocol_factory
        self._limit = limit
        self._logger = logger
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watching = False
        self._serving = False
        self._stopped = False
        self._pending: set[asyncio.Task[None]] = set()
        self._retry: asyncio.TimerHandle | None = None
        scheme = "https" if ssl_context else "http"
        name = sock.getsockname()
        if sock.family == socket.AF_UNIX:
            self._name = f"{scheme}://unix:{name}:"
        elif sock.family == socket.AF_INET6:
            self._name = f"{scheme}://[{name[0]}]:{name[1]}"
        else:
            self._name = f"{scheme}://{name[0]}:{name[1]}"

    @property
    def name(self) -> str:
        return self._name

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return (self._sock,)

    async def start(self) -> None:
        await super().start()
        self._loop = asyncio.get_running_loop()
        self._serving = True
        self._limit.sites.append(self)
        if not self._limit.paused:
            self.resume()

    async def stop(self) -> None:
        """Stop accepting; connections accepted so far (TLS handshakes included) reach the
        server before this returns, so the graceful shutdown that follows sees them all."""
        self._serving = False
        self.pause()
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self in self._limit.sites:
            self._limit.sites.remove(self)
        if not self._limit.sites:
            self._limit.close()
        if self._pending:
            # A plain connection reaches the server within a loop iteration; a TLS handshake
            # may stall (a client that never finishes it) and must not hold up the stop.
            _, stalled = await asyncio.wait(set(self._pending), timeout=_HANDSHAKE_WAIT)
            for task in stalled:
                task.cancel()
            if stalled:
                await asyncio.wait(stalled)
        await super().stop()

    def stop_accepting(self) -> None:
        """Pause for good (a stop has begun); ``stop()`` completes it."""
        self._stopped = True
        self.pause()

    def pause(self) -> None:
        if self._watching and self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
            self._watching = False

    def resume(self) -> None:
        if self._serving and not self._stopped and not self._watching and self._loop is not None:
            self._loop.add_reader(self._sock.fileno(), self._accept)
            self._watching = True

    def _accept(self) -> None:
        limit = self._limit
        for _ in range(_BATCH):
            if not self._watching:
                return  # paused meanwhile
            if limit.room <= 0:
                limit.pause()
                return
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # another worker took it, or the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                self._on_accept_error(exc)
                return
            conn.setblocking(False)
            limit.handshaking += 1
            assert self._loop is not None
            task = self._loop.create_task(self._connect(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _on_accept_error(self, exc: OSError) -> None:
        if exc.errno in _RESOURCE_ERRORS:
            self._logger.error("Out of resources accepting on %s (%s); pausing", self._name, exc)
            self.pause()
            assert self._loop is not None
            self._retry = self._loop.call_later(_RESOURCE_PAUSE, self._resume_after_error)
        else:
            self._logger.exception("Error accepting a connection on %s", self._name)

    def _resume_after_error(self) -> None:
        self._retry = None
        if not self._limit.paused:
            self.resume()

    async def _connect(self, conn: socket.socket) -> None:
        assert self._loop is not None
        try:
            await self._loop.connect_accepted_socket(self._factory, conn, ssl=self._ssl_context)
        except OSError as exc:  # ssl.SSLError and TimeoutError are OSErrors
            # A failed TLS handshake or a client gone before we set up: routine, not an error.
            self._logger.debug("Connection on %s failed to start: %r", self._name, exc)
            conn.close()
        except asyncio.CancelledError:
            conn.close()
            raise
        finally:
            self._limit.handshaking -= 1
