"""Accepting on gunicorn's listening sockets, with ``worker_connections`` as the limit.

``loop.create_server(sock=...)`` cannot pause accepting, and it calls ``listen()`` again with
its own backlog (100 or 128 instead of gunicorn's ``backlog``). So each listener gets a small
acceptor of our own: it waits for the socket to be readable, accepts a batch, and hands each
connection to ``loop.connect_accepted_socket`` (the same path ``create_server`` takes, TLS
included). At ``worker_connections`` open connections it first makes room by closing an idle
or slow connection (``limit.ConnectionLimit``); only when none can be closed does it stop
watching the sockets, and the kernel keeps queueing new connections in the backlog (or
another worker takes them) until one closes. gunicorn already called ``listen(backlog)``; we
never call it again, which also spares systemd-activated sockets (where SELinux may refuse
it).

A stop closes the worker's copy of each listening socket at once, after taking what the
kernel had already queued for it: a socket left open would keep completing handshakes into
the backlog, and those connections would be reset when the worker exits. Closed, the last
copy (the arbiter closes its own first on SIGTERM) makes the kernel refuse new connections
at connect time, which clients and proxies retry safely. On a reload, or under systemd
socket activation, another copy keeps listening and nothing queued is lost.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import ssl as _ssl
from collections.abc import Callable

from ..web import BaseRunner, BaseSite
from .limit import ConnectionLimit

__all__ = ["ConnectionLimit", "GunicornSite"]

# Connections accepted per readiness event: a few, so workers sharing a socket share the load.
_BATCH = 16
# Out of file descriptors or memory: stop accepting this long instead of spinning.
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_RESOURCE_PAUSE = 0.5
# How long a stop waits for TLS handshakes in progress before dropping them.
_HANDSHAKE_WAIT = 1.0


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
        self.stop_accepting()
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
        """Stop for good (a stop has begun): take what the kernel already queued for this
        socket, then close it, so nothing more is queued here to be reset at exit;
        ``stop()`` completes the stop."""
        if self._stopped:
            return
        self._stopped = True
        self.pause()
        if self._loop is not None and self._sock.fileno() >= 0:
            self._take_queued()
        self._sock.close()

    def _take_queued(self) -> None:
        # The limit does not apply here: these connections completed their handshake before
        # the stop, and serving them (with Connection: close) beats resetting them.
        while True:
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            except OSError as exc:
                self._logger.debug("Stopped taking queued connections on %s: %r", self._name, exc)
                return
            self._hand_over(conn)

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
            try:
                conn, _addr = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # another worker took it, or the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                self._on_accept_error(exc)
                return
            self._hand_over(conn)
            # Room is made only for a connection that really came (workers sharing a socket
            # all wake for each one); if none can be made, this one is kept, one over.
            if limit.room < 0 and not limit.make_room():
                limit.pause()
                return

    def _hand_over(self, conn: socket.socket) -> None:
        conn.setblocking(False)
        self._limit.handshaking += 1
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
