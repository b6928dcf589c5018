"""One way to serve an application or a bare handler on loopback for a test."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from runtime import web

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def serve(
    target: web.Application | Handler,
    *,
    ssl_context: ssl.SSLContext | None = None,
    unix_path: str | None = None,
    shutdown_timeout: float = 5.0,
    **kwargs: Any,
) -> AsyncIterator[int]:
    """``async with serve(app_or_handler) as port:`` a server on 127.0.0.1 and a free port.

    An :class:`~runtime.web.Application` goes through an ``AppRunner`` (startup and cleanup
    hooks run); a bare handler through the low-level ``Server``. Linux routes all of
    127.0.0.0/8 to it, so a client may connect from ``127.0.0.2``. With ``ssl_context``
    the port speaks TLS; with ``unix_path`` the server listens on that socket too.
    ``kwargs`` go to the low-level server (``access_log`` is off unless given). On the way
    out the runner shuts down gracefully, waiting up to ``shutdown_timeout`` seconds.
    """
    kwargs.setdefault("access_log", None)
    runner: web.BaseRunner
    if isinstance(target, web.Application):
        runner = web.AppRunner(target, shutdown_timeout=shutdown_timeout, **kwargs)
    else:
        runner = web.ServerRunner(web.Server(target, **kwargs), shutdown_timeout=shutdown_timeout)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        if unix_path is not None:
            await web.UnixSite(runner, unix_path).start()
        assert site.port is not None
        yield site.port
    finally:
        await runner.cleanup()
