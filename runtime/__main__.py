"""``python -m runtime pkg.module:factory``: run an application for development."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from .web.app import Application
from .web.loader import import_target, resolve_app
from .web.run_app import run_app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime",
        description="Serve an application: an Application instance, a sync factory or an "
        "async factory, named as package.module:name.",
    )
    parser.add_argument("entry", help="package.module:app_or_factory")
    parser.add_argument("-H", "--host", default=None, help="TCP host (default: all interfaces)")
    parser.add_argument("-P", "--port", type=int, default=None, help="TCP port (default 8080)")
    parser.add_argument("-U", "--path", default=None, help="Unix socket path")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--no-access-log", action="store_true", help="do not log requests")
    parser.add_argument("--shutdown-timeout", type=float, default=60.0)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    sys.path.insert(0, ".")
    try:
        target = import_target(args.entry)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"error: cannot load {args.entry!r}: {exc}", file=sys.stderr)
        return 2
    loop: asyncio.AbstractEventLoop
    if args.uvloop:
        import uvloop  # noqa: PLC0415 - optional extra

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        app = (
            target
            if isinstance(target, Application)
            else loop.run_until_complete(resolve_app(target))
        )
    except Exception as exc:
        logging.basicConfig()
        logging.getLogger("runtime.runner").exception("The application factory failed")
        print(f"error: {args.entry!r} failed to build the application: {exc}", file=sys.stderr)
        loop.close()
        return 3
    try:
        run_app(
            app,
            host=args.host,
            port=args.port,
            path=args.path,
            access_log=None if args.no_access_log else logging.getLogger("runtime.access"),
            shutdown_timeout=args.shutdown_timeout,
            loop=loop,
        )
    except Exception as exc:
        # Startup hooks or binding failed: the traceback is logged; end with one clear line.
        print(f"error: the server did not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
