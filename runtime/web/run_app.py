"""``web.run_app``: serve an application until SIGINT/SIGTERM, for development and scripts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl as _ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from .access_log import AbstractAccessLogger, AccessLogger, access_logger
from .app import Application
from .runner import AppRunner, BaseSite, GracefulExit, SockSite, TCPSite, UnixSite

__all__ = ["run_app"]


async def _run_app(
    app: Application | Awaitable[Application],
    *,
    host: str | Iterable[str] | None,
    port: int | None,
    path: str | Iterable[str] | None,
    sock: socket.socket | Iterable[socket.socket] | None,
    ssl_context: _ssl.SSLContext | None,
    backlog: int,
    reuse_address: bool | None,
    reuse_port: bool | None,
    print: Callable[..., None] | None,
    runner_kwargs: dict[str, Any],
) -> None:
    if not isinstance(app, Application):
        app = await app
    runner = AppRunner(app, **runner_kwargs)
    await runner.setup()
    sites: list[BaseSite] = []
    try:
        if host is not None or port is not None or (path is None and sock is None):
            hosts = [host] if host is None or isinstance(host, str) else list(host)
            sites += [
                TCPSite(
                    runner,
                    h,
                    port,
                    ssl_context=ssl_context,
                    backlog=backlog,
                    reuse_address=reuse_address,
                    reuse_port=reuse_port,
                )
                for h in hosts
            ]
        if path is not None:
            paths = [path] if isinstance(path, str) else list(path)
            sites += [UnixSite(runner, p, ssl_context=ssl_context, backlog=backlog) for p in paths]
        if sock is not None:
            socks = [sock] if isinstance(sock, socket.socket) else list(sock)
            sites += [SockSite(runner, s, ssl_context=ssl_context, backlog=backlog) for s in socks]
        for site in sites:
            await site.start()
        if print is not None:
            names = sorted(str(s.name) for s in runner.sites)
            print(
                "======== Running on {} ========\n(Press CTRL+C to quit)".format(", ".join(names))
            )
        await asyncio.Event().wait()  # until a signal or Ctrl+C cancels us
    finally:
        await runner.cleanup()


def _cancel_tasks(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {
                    "message": "unhandled exception during shutdown",
                    "exception": task.exception(),
                    "task": task,
                }
            )


def run_app(
    app: Application | Awaitable[Application],
    *,
    host: str | Iterable[str] | None = None,
    port: int | None = None,
    path: str | Iterable[str] | None = None,
    sock: socket.socket | Iterable[socket.socket] | None = None,
    shutdown_timeout: float = 60.0,
    keepalive_timeout: float = 75.0,
    ssl_context: _ssl.SSLContext | None = None,
    print: Callable[..., None] | None = print,
    backlog: int = 128,
    access_log_class: type[AbstractAccessLogger] = AccessLogger,
    access_log_format: str = AccessLogger.LOG_FORMAT,
    access_log: logging.Logger | None = access_logger,
    handle_signals: bool = True,
    reuse_address: bool | None = None,
    reuse_port: bool | None = None,
    handler_cancellation: bool = False,
    loop: asyncio.AbstractEventLoop | None = None,
    **kwargs: Any,
) -> None:
    """Serve ``app`` (an Application or a coroutine returning one) until interrupted.

    Shutdown is graceful: new connections stop, ``on_shutdown`` runs, in-flight requests get
    ``shutdown_timeout`` seconds to finish, then ``on_cleanup`` runs. Other keyword
    arguments go to :class:`AppRunner`, and from it to :class:`Server` (``read_bufsize``,
    ``auto_decompress``, ``max_line_size``, ...), as in aiohttp.
    """
    loop = loop or asyncio.new_event_loop()
    if (
        access_log is not None
        and access_log.level == logging.NOTSET
        and not access_log.handlers
        and not logging.getLogger().handlers
    ):
        # Like aiohttp: show access lines when nothing else configured logging.
        logging.basicConfig(level=logging.DEBUG if loop.get_debug() else logging.INFO)
    main = loop.create_task(
        _run_app(
            app,
            host=host,
            port=port,
            path=path,
            sock=sock,
            ssl_context=ssl_context,
            backlog=backlog,
            reuse_address=reuse_address,
            reuse_port=reuse_port,
            print=print,
            runner_kwargs={
                "handle_signals": handle_signals,
                "shutdown_timeout": shutdown_timeout,
                "keepalive_timeout": keepalive_timeout,
                "access_log_class": access_log_class,
                "access_log_format": access_log_format,
                "access_log": access_log,
                "handler_cancellation": handler_cancellation,
                **kwargs,
            },
        )
    )
    try:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(main)
    except (GracefulExit, KeyboardInterrupt):
        pass
    finally:
        try:
            main.cancel()
            with contextlib.suppress(asyncio.CancelledError, GracefulExit, KeyboardInterrupt):
                loop.run_until_complete(main)
        finally:
            _cancel_tasks(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            asyncio.set_event_loop(None)
