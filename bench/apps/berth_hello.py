"""Berth hello-world, the same routes as ``bench/apps/aiohttp_hello.py``.

Served by bench/run.py as::

    python -m runtime bench.apps.berth_hello:create_app --host 127.0.0.1 --port PORT \\
        --uvloop --no-access-log
"""

from __future__ import annotations

from runtime import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """Echo every text message back (the ws-echo scenario, driven by bench/ws_load.py)."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(msg.data)
    return ws


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/ws", ws_echo)
    return app
