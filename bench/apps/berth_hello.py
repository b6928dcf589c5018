"""Berth hello-world, the same routes as ``bench/apps/aiohttp_hello.py``.

Served by bench/run.py as::

    python -m runtime bench.apps.berth_hello:create_app --host 127.0.0.1 --port PORT \\
        --uvloop --no-access-log
"""

from __future__ import annotations

from runtime import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="Hello, World!")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    return app
