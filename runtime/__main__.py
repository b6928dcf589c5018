"""``python -m runtime pkg.module:factory``: run an application for development, once or,
with ``--reload``, restarted on each change to the code (docs/development.md); with
``--aiohttp-compat``, an application written for aiohttp and its extensions
(docs/compat.md)."""

from __future__ import annotations

import argparse
import logging
import sys

from . import __version__, extensions
from .compat.aiohttp import AiohttpMissingError, install
from .devserver import supervisor
from .devserver.serving import ServeOptions, build_app, new_loop, serve
from .web.loader import import_target


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m runtime",
        description="Serve an application: an Application instance, a sync factory or an "
        "async factory, named as package.module:name.",
    )
    parser.add_argument("entry", help="package.module:app_or_factory")
    parser.add_argument(
        "--version",
        action="version",
        version=_version(),
        help="print Berth's version and whether its hot path runs compiled, then exit",
    )
    parser.add_argument("-H", "--host", default=None, help="TCP host (default: all interfaces)")
    parser.add_argument("-P", "--port", type=int, default=None, help="TCP port (default 8080)")
    parser.add_argument("-U", "--path", default=None, help="Unix socket path")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop")
    parser.add_argument("--no-access-log", action="store_true", help="do not log requests")
    parser.add_argument("--shutdown-timeout", type=float, default=60.0)
    parser.add_argument(
        "--debug",
        action="store_true",
        help="tracebacks in 500 pages, and asyncio's debug mode",
    )
    parser.add_argument(
        "--aiohttp-compat",
        action="store_true",
        help="serve an aiohttp application: 'aiohttp.web' and the modules its extensions "
        "import resolve to Berth's (needs aiohttp for its client; docs/compat.md)",
    )
    dev = parser.add_argument_group("reloading (needs watchfiles: pip install 'berth[dev]')")
    dev.add_argument(
        "--reload",
        action="store_true",
        help="restart on code changes, serving the last good version while an edit fails",
    )
    dev.add_argument(
        "--reload-dir",
        action="append",
        metavar="DIR",
        help="a directory to watch (repeatable; default: the current directory)",
    )
    dev.add_argument(
        "--reload-include",
        action="append",
        metavar="GLOB",
        help="file names that count as code (repeatable; default: *.py)",
    )
    dev.add_argument(
        "--reload-exclude",
        action="append",
        metavar="GLOB",
        default=[],
        help="file names that never count (repeatable)",
    )
    return parser


def _version() -> str:
    """``berth 0.1.0, hot path compiled (mypyc, 13 modules)``, or ``pure Python (why)``."""
    return f"berth {__version__}, hot path {extensions.mode()}"


def _serve_once(options: ServeOptions, args: argparse.Namespace) -> int:
    sys.path.insert(0, ".")
    try:
        target = import_target(options.entry)
    except (ValueError, ImportError, AttributeError) as exc:
        print(f"error: cannot load {options.entry!r}: {exc}", file=sys.stderr)
        return 2
    loop = new_loop(options)
    try:
        app = build_app(target, loop)
    except Exception as exc:
        logging.basicConfig()
        logging.getLogger("runtime.runner").exception("The application factory failed")
        print(f"error: {options.entry!r} failed to build the application: {exc}", file=sys.stderr)
        loop.close()
        return 3
    try:
        serve(app, loop, options, host=args.host, port=args.port, path=args.path)
    except Exception as exc:
        # Startup hooks or binding failed: the traceback is logged; end with one clear line.
        print(f"error: the server did not start: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 3
    return 0


def _serve_reloading(options: ServeOptions, args: argparse.Namespace) -> int:
    reload = supervisor.ReloadOptions(
        dirs=tuple(args.reload_dir or ["."]),
        include=tuple(args.reload_include or ["*.py"]),
        exclude=tuple(args.reload_exclude),
    )
    try:
        return supervisor.run(options, reload, host=args.host, port=args.port, path=args.path)
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = ServeOptions.from_args(args)
    if args.aiohttp_compat:
        # Here for a single server, and checked here for --reload, whose servers install
        # it again in their own processes.
        try:
            install()
        except AiohttpMissingError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.reload:
        return _serve_reloading(options, args)
    return _serve_once(options, args)


if __name__ == "__main__":
    sys.exit(main())
