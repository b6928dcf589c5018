"""aiohttp's benchmark app, the baseline Berth is measured against: the same routes and bytes
as ``bench/apps/berth_hello.py``.

bench/run.py serves it two ways, both one process on a uvloop loop:

* under gunicorn, the issue's anchor::

    gunicorn -w 1 -k aiohttp.worker.GunicornUVLoopWebWorker --no-control-socket \\
        -b 127.0.0.1:PORT bench.apps.aiohttp_hello:create_app

* with ``web.run_app``::

    python -m bench.apps.aiohttp_hello --host 127.0.0.1 --port PORT

For the logging scenario gunicorn also gets ``--access-logfile -``: the worker then passes
gunicorn's access logger to aiohttp's ``AccessLogger``.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from aiohttp import web

from bench.apps import common


async def hello(request: web.Request) -> web.Response:
    return web.Response(text=common.HELLO)


async def json_hello(request: web.Request) -> web.Response:
    return web.json_response(common.JSON_MESSAGE, dumps=common.compact_json)


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type=common.ECHO_CONTENT_TYPE)


async def api_static(request: web.Request) -> web.Response:
    return web.Response(text="static")


async def api_item(request: web.Request) -> web.Response:
    return web.Response(text=request.match_info["id"])


async def text100k(request: web.Request) -> web.Response:
    """aiohttp's own way: the handler turns compression on (gzip, zlib's default level 6;
    bodies over 4 KiB are compressed in the loop's default executor)."""
    response = web.Response(body=common.TEXT_100K, content_type="text/plain", charset="utf-8")
    response.enable_compression()
    return response


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
    app.router.add_get("/json", json_hello)
    app.router.add_post(common.ECHO_PATH, echo)
    app.router.add_get("/ws", ws_echo)
    for path, dynamic in common.api_routes():
        app.router.add_get(path, api_item if dynamic else api_static)
    app.router.add_get(common.COMPRESS_PATH, text100k)
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
