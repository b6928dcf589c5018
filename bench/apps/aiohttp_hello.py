"""aiohttp hello-world, the baseline Berth is measured against.

bench/run.py serves it two ways, both one process on a uvloop loop:

* under gunicorn, the issue's anchor::

    gunicorn -w 1 -k aiohttp.worker.GunicornUVLoopWebWorker --no-control-socket \\
        -b 127.0.0.1:PORT bench.apps.aiohttp_hello:create_app

* with ``web.run_app``::

    python -m bench.apps.aiohttp_hello --host 127.0.0.1 --port PORT
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """Echo every text message back (the ws-echo scenario, driven by bench/ws_load.py)."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(msg.data)
    return ws


async def create_app() -> web.Application:
    """Application factory (gunicorn's aiohttp worker awaits coroutine functions)."""
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/ws", ws_echo)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's default loop")
    args = parser.parse_args(argv)

    loop: asyncio.AbstractEventLoop
    if args.no_uvloop:
        loop = asyncio.new_event_loop()
    else:
        import uvloop  # noqa: PLC0415  (optional dependency, only needed here)

        loop = uvloop.new_event_loop()
    web.run_app(
        create_app(), host=args.host, port=args.port, access_log=None, print=None, loop=loop
    )


if __name__ == "__main__":
    main()
