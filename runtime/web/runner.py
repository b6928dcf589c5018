"""Runners and sites: bind sockets, serve, and shut down gracefully (docs/architecture.md,
"Shutdown, in order")."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import ssl as _ssl
import warnings
from typing import Any

from .access_log import AbstractAccessLogger, AccessLogger
from .app import Application
from .server import Server
from .websocket_registry import shutdown_websockets

__all__ = [
    "AppRunner",
    "BaseRunner",
    "BaseSite",
    "GracefulExit",
    "ServerRunner",
    "SockSite",
    "TCPSite",
    "UnixSite",
]

runner_logger = logging.getLogger("runtime.runner")


class GracefulExit(SystemExit):
    """Raised by the signal handlers ``handle_signals=True`` installs."""

    code = 1


# Loop passes that turn an accepted socket into a connection (accept, transport, made).
_ACCEPT_PASSES = 3


def _raise_graceful_exit() -> None:
    raise GracefulExit()


class BaseSite:
    """A listening socket; ``start()`` begins accepting, ``stop()`` stops."""

    def __init__(
        self,
        runner: BaseRunner,
        *,
        shutdown_timeout: float | None = None,
        ssl_context: _ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        if runner.server is None:
            raise RuntimeError("Call runner.setup() before making a site")
        self._runner = runner
        self._ssl_context = ssl_context
        self._backlog = backlog
        self._server: asyncio.AbstractServer | None = None
        if shutdown_timeout is not None:
            # As aiohttp: the runner shuts the server down, whatever its sites.
            warnings.warn(
                "Site(shutdown_timeout=...) is deprecated: pass shutdown_timeout to the "
                "runner, web.AppRunner(app, shutdown_timeout=...)",
                DeprecationWarning,
                stacklevel=3,
            )
            runner._shutdown_timeout = shutdown_timeout

    @property
    def name(self) -> str:
        raise NotImplementedError

    async def start(self) -> None:
        self._runner._reg_site(self)

    async def stop(self) -> None:
        """Stop accepting; connections already accepted are left to the runner."""
        self._runner._check_site(self)
        if self._server is not None:
            self._server.close()
        self._runner._unreg_site(self)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        # asyncio.Server and uvloop's Server both have ``sockets`` (uvloop's is no subclass
        # of asyncio.Server, and AbstractServer does not declare the attribute).
        sockets = getattr(self._server, "sockets", None)
        return tuple(sockets) if sockets else ()

    @property
    def port(self) -> int | None:
        for sock in self.sockets:
            name = sock.getsockname()
            if isinstance(name, tuple):
                return int(name[1])
        return None


class TCPSite(BaseSite):
    def __init__(
        self,
        runner: BaseRunner,
        host: str | None = None,
        port: int | None = None,
        *,
        shutdown_timeout: float | None = None,
        ssl_context: _ssl.SSLContext | None = None,
        backlog: int = 128,
        reuse_address: bool | None = None,
        reuse_port: bool | None = None,
    ) -> None:
        super().__init__(
            runner, shutdown_timeout=shutdown_timeout, ssl_context=ssl_context, backlog=backlog
        )
        self._host = host
        self._port = (8443 if ssl_context else 8080) if port is None else port
        self._reuse_address = reuse_address
        self._reuse_port = reuse_port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        host = "0.0.0.0" if not self._host else self._host
        return f"{scheme}://{host}:{self.port or self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            server,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )


class UnixSite(BaseSite):
    def __init__(
        self,
        runner: BaseRunner,
        path: str,
        *,
        shutdown_timeout: float | None = None,
        ssl_context: _ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(
            runner, shutdown_timeout=shutdown_timeout, ssl_context=ssl_context, backlog=backlog
        )
        self._path = path

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://unix:{self._path}:"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_unix_server(
            server, self._path, ssl=self._ssl_context, backlog=self._backlog
        )


class SockSite(BaseSite):
    """Serve on a socket that is already bound (and possibly listening), as gunicorn gives."""

    def __init__(
        self,
        runner: BaseRunner,
        sock: socket.socket,
        *,
        shutdown_timeout: float | None = None,
        ssl_context: _ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(
            runner, shutdown_timeout=shutdown_timeout, ssl_context=ssl_context, backlog=backlog
        )
        self._sock = sock
        scheme = "https" if ssl_context else "http"
        if sock.family == socket.AF_UNIX:
            self._name = f"{scheme}://unix:{sock.getsockname()}:"
        else:
            host, port = sock.getsockname()[:2]
            self._name = f"{scheme}://{host}:{port}"

    @property
    def name(self) -> str:
        return self._name

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            server, sock=self._sock, ssl=self._ssl_context, backlog=self._backlog
        )


class BaseRunner:
    """Owns the low-level server and its sites; ``cleanup()`` is the graceful shutdown."""

    def __init__(
        self,
        *,
        handle_signals: bool = False,
        shutdown_timeout: float = 60.0,
        **kwargs: Any,
    ) -> None:
        self._handle_signals = handle_signals
        self._kwargs = kwargs
        self._server: Server | None = None
        self._sites: list[BaseSite] = []
        self._shutdown_timeout = shutdown_timeout

    @property
    def server(self) -> Server | None:
        return self._server

    @property
    def sites(self) -> set[BaseSite]:
        return set(self._sites)

    @property
    def addresses(self) -> list[Any]:
        return [sock.getsockname() for site in self._sites for sock in site.sockets]

    async def setup(self) -> None:
        loop = asyncio.get_running_loop()
        if self._handle_signals:
            try:
                loop.add_signal_handler(signal.SIGINT, _raise_graceful_exit)
                loop.add_signal_handler(signal.SIGTERM, _raise_graceful_exit)
            except NotImplementedError:  # pragma: no cover - not on Unix
                pass
        self._server = await self._make_server()

    async def _make_server(self) -> Server:
        raise NotImplementedError

    async def _on_startup_done(self) -> None:
        return None

    async def _run_shutdown_hooks(self) -> None:
        return None

    async def _run_cleanup_hooks(self) -> None:
        return None

    async def shutdown(self) -> None:
        """Stop accepting on every site and run the application's shutdown hooks."""
        for site in list(self._sites):
            await site.stop()
        await self._run_shutdown_hooks()

    async def cleanup(self) -> None:
        """The graceful shutdown (docs/architecture.md): stop accepting, ``on_shutdown``,
        close idle keep-alive connections and let in-flight requests finish with
        ``Connection: close``, cancel what is left after ``shutdown_timeout``, then
        ``on_cleanup``."""
        server = self._server
        for site in list(self._sites):
            await site.stop()
        # A connection accepted just before the listener closed is made on a later pass of
        # the loop (its transport and connection_made are scheduled, not run). Let those
        # passes run, so it is among the connections below and gets the shutdown's grace
        # to be answered; otherwise the stop could end with it unserved and reset it.
        for _ in range(_ACCEPT_PASSES):
            await asyncio.sleep(0)
        if server is not None:
            server.pre_shutdown()  # responses from now on carry Connection: close
        await self._run_shutdown_hooks()
        if server is not None:
            # WebSockets get 1001 Going Away within the grace (docs/architecture.md).
            await shutdown_websockets(server.connections, timeout=self._shutdown_timeout)
            await server.shutdown(self._shutdown_timeout)
        await self._run_cleanup_hooks()
        self._server = None
        if self._handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError):
                    loop.remove_signal_handler(sig)

    def _reg_site(self, site: BaseSite) -> None:
        if site in self._sites:
            raise RuntimeError(f"Site {site} is already registered in runner {self}")
        self._sites.append(site)

    def _check_site(self, site: BaseSite) -> None:
        if site not in self._sites:
            raise RuntimeError(f"Site {site} is not registered in runner {self}")

    def _unreg_site(self, site: BaseSite) -> None:
        if site in self._sites:
            self._sites.remove(site)


class ServerRunner(BaseRunner):
    """Runner for a low-level :class:`Server`."""

    def __init__(self, web_server: Server, *, handle_signals: bool = False, **kwargs: Any) -> None:
        super().__init__(handle_signals=handle_signals, **kwargs)
        self._web_server = web_server

    async def _make_server(self) -> Server:
        return self._web_server


class AppRunner(BaseRunner):
    """Runner for an :class:`Application`: runs its startup, shutdown and cleanup signals.

    Keyword arguments other than ``handle_signals`` and ``shutdown_timeout`` go to
    :class:`Server` (``access_log``, ``keepalive_timeout``, ``max_line_size``, ...).

    Raises:
        TypeError: ``app`` is not an :class:`Application`, or ``access_log_class`` is not
            an :class:`AbstractAccessLogger` subclass.
    """

    def __init__(
        self,
        app: Application,
        *,
        handle_signals: bool = False,
        access_log_class: type[AbstractAccessLogger] = AccessLogger,
        **kwargs: Any,
    ) -> None:
        if not isinstance(app, Application):
            raise TypeError(f"The app should be an Application instance, got {app!r}")
        if not (
            isinstance(access_log_class, type)
            and issubclass(access_log_class, AbstractAccessLogger)
        ):
            raise TypeError(
                f"access_log_class must be a subclass of web.AbstractAccessLogger, "
                f"got {access_log_class!r}"
            )
        super().__init__(handle_signals=handle_signals, access_log_class=access_log_class, **kwargs)
        self._app = app

    @property
    def app(self) -> Application:
        return self._app

    async def _make_server(self) -> Server:
        # Routes, middlewares and signals lock now; state stays writable for startup hooks
        # (cleanup_ctx opens the database here), then the whole app freezes.
        self._app.pre_freeze()
        try:
            await self._app.startup()
        except Exception:
            runner_logger.exception("Application startup failed")
            raise
        self._app.freeze()
        server: Server = self._app._make_handler(**self._kwargs)
        return server

    async def _run_shutdown_hooks(self) -> None:
        await self._app.shutdown()

    async def _run_cleanup_hooks(self) -> None:
        await self._app.cleanup()
