"""One server of the reloading supervisor, run as ``python -m runtime.devserver.child``.

It loads the application, serves it on the listening socket it inherited, and tells the
supervisor how that went through a pipe: the line ``ready`` once it serves, or the
traceback of what failed, and then it exits. It stops gracefully on SIGTERM, and also when
the supervisor is gone (its lifeline pipe reaches end of file), so that no server outlives
the supervisor, even one killed with SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import signal
import socket
import sys
import traceback
from typing import TextIO

from ..compat.aiohttp import install as install_aiohttp_compat
from ..web.runner import GracefulExit
from .serving import ServeOptions, load_app, new_loop, serve

__all__ = ["READY", "main"]

READY = "ready\n"
logger = logging.getLogger("runtime.devserver")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runtime.devserver.child")
    parser.add_argument("entry")
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--ready-fd", type=int, required=True)
    parser.add_argument("--lifeline-fd", type=int, required=True)
    parser.add_argument("--shutdown-timeout", type=float, default=60.0)
    parser.add_argument("--uvloop", action="store_true")
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("--aiohttp-compat", action="store_true")
    return parser


def _stop_on_signal_or_orphaning(loop: asyncio.AbstractEventLoop, lifeline_fd: int) -> None:
    """SIGTERM, or the supervisor's end of the lifeline closing, stops the server once."""
    stopping = False

    def stop() -> None:
        nonlocal stopping
        if stopping:  # a second signal must not interrupt the graceful shutdown
            return
        stopping = True
        loop.remove_reader(lifeline_fd)
        raise GracefulExit()  # run_app catches it and shuts down gracefully

    loop.add_signal_handler(signal.SIGTERM, stop)
    loop.add_reader(lifeline_fd, stop)  # the supervisor never writes: readable means EOF


# Frames of the machinery that loads and starts an application: a traceback shown to the
# developer starts at the first frame of their code.
_MACHINERY = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,  # runtime/
    os.path.dirname(os.path.abspath(asyncio.__file__)) + os.sep,
    os.path.dirname(os.path.abspath(importlib.__file__)) + os.sep,
    "<frozen importlib.",
)


def _traceback_of(exc: BaseException) -> str:
    """``exc``'s traceback without the leading frames of Berth, asyncio and importlib."""
    shown = traceback.TracebackException.from_exception(exc)
    frames = list(shown.stack)
    while frames and frames[0].filename.startswith(_MACHINERY):
        del frames[0]
    shown.stack = traceback.StackSummary.from_list(frames)
    return "".join(shown.format())


def _report(ready: TextIO, text: str) -> None:
    ready.write(text)
    ready.flush()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    options = ServeOptions.from_args(args)
    # Ctrl-C in a terminal reaches the whole process group; the supervisor alone decides,
    # and stops this server with one SIGTERM.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sock = socket.socket(fileno=args.listen_fd)
    with open(args.ready_fd, "w", encoding="utf-8", errors="replace", closefd=True) as ready:
        loop = new_loop(options)
        try:
            if options.aiohttp_compat:
                install_aiohttp_compat()  # before the application imports aiohttp
            app = load_app(options.entry, loop)
        except Exception as exc:
            _report(ready, _traceback_of(exc))
            loop.close()
            return 3
        _stop_on_signal_or_orphaning(loop, args.lifeline_fd)
        serving = False

        def announce(*_: object) -> None:
            nonlocal serving
            serving = True
            _report(ready, READY)

        try:
            serve(app, loop, options, print=announce, sock=sock, handle_signals=False)
        except Exception as exc:
            if not serving:  # startup hooks failed: the supervisor shows why
                _report(ready, _traceback_of(exc))
                return 3
            logger.exception("The server stopped with an error")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
