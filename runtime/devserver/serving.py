"""Load an application from ``pkg.module:name`` and serve it, as ``python -m runtime`` and
each child of the reloading supervisor both do."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..web.app import Application
from ..web.loader import import_target, resolve_app
from ..web.run_app import run_app

__all__ = ["ServeOptions", "build_app", "load_app", "new_loop", "serve"]


@dataclass(frozen=True)
class ServeOptions:
    """What decides how one server process runs, whatever it listens on."""

    entry: str
    uvloop: bool = False
    debug: bool = False
    access_log: bool = True
    shutdown_timeout: float = 60.0
    aiohttp_compat: bool = False  # install runtime.compat.aiohttp before the import

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ServeOptions:
        """The options from a parsed command line (``python -m runtime`` and a child's,
        which share these flags)."""
        return cls(
            entry=args.entry,
            uvloop=args.uvloop,
            debug=args.debug,
            access_log=not args.no_access_log,
            shutdown_timeout=args.shutdown_timeout,
            aiohttp_compat=args.aiohttp_compat,
        )

    def to_argv(self) -> list[str]:
        """The options as a child's command line (``runtime.devserver.child`` parses it)."""
        argv = [self.entry, "--shutdown-timeout", repr(self.shutdown_timeout)]
        argv += ["--uvloop"] * self.uvloop + ["--debug"] * self.debug
        argv += ["--aiohttp-compat"] * self.aiohttp_compat
        return argv + ["--no-access-log"] * (not self.access_log)


def new_loop(options: ServeOptions) -> asyncio.AbstractEventLoop:
    """A fresh loop, uvloop's when asked, in asyncio's debug mode under ``--debug``."""
    loop: asyncio.AbstractEventLoop
    if options.uvloop:
        import uvloop  # noqa: PLC0415 - optional extra

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    loop.set_debug(options.debug)
    return loop


def load_app(entry: str, loop: asyncio.AbstractEventLoop) -> Application:
    """Import ``entry`` and build its application on ``loop``.

    Raises:
        ValueError, ImportError, AttributeError: ``entry`` names nothing importable.
        TypeError, Exception: as :func:`build_app`, or whatever importing the module raised.
    """
    return build_app(import_target(entry), loop)


def build_app(target: Any, loop: asyncio.AbstractEventLoop) -> Application:
    """The application ``target`` stands for: itself, or what its factory (sync or async,
    run on ``loop``) returns.

    Raises:
        TypeError: ``target`` is not an application nor a factory returning one.
        Exception: whatever the factory raised.
    """
    if isinstance(target, Application):
        return target
    app = loop.run_until_complete(resolve_app(target))
    if not isinstance(app, Application):
        raise TypeError(f"The factory returned {app!r}, not an Application")
    return app


def serve(
    app: Application,
    loop: asyncio.AbstractEventLoop,
    options: ServeOptions,
    *,
    print: Callable[..., None] | None = print,
    **where: Any,
) -> None:
    """Run ``app`` with ``run_app`` until stopped; ``where`` says where it listens
    (``host``/``port``/``path`` or ``sock``) and may pass ``handle_signals``."""
    extra: dict[str, Any] = {}
    if options.debug:
        # Only when asked: an explicit debug=False would override Application(debug=True).
        extra["debug"] = True
    run_app(
        app,
        access_log=logging.getLogger("runtime.access") if options.access_log else None,
        shutdown_timeout=options.shutdown_timeout,
        loop=loop,
        print=print,
        **where,
        **extra,
    )
