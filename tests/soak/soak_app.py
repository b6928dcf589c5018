"""The app every soak scenario serves, written once for both servers.

gunicorn imports it as a top-level module (``soak_app:app``, this directory on PYTHONPATH), so
``--berth-root`` can point the server at another checkout of Berth. ``SOAK_SERVER=aiohttp``
serves it with ``aiohttp.web``; anything else with Berth's ``runtime.web`` (same API).

Routes: ``GET /`` a short text; ``GET /sleep?s=N`` answers after N seconds (at most 30);
``POST /upload`` reads the whole body and answers its size; ``GET /ws`` a WebSocket that
echoes every message and closes itself on the text ``close``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

if os.environ.get("SOAK_SERVER", "berth") == "aiohttp":
    from aiohttp import web
else:
    from runtime import web  # type: ignore[no-redef]

SERVER = os.environ.get("SOAK_SERVER", "berth")


async def index(request: Any) -> Any:
    return web.Response(text="ok")


async def sleep(request: Any) -> Any:
    seconds = min(30.0, float(request.query.get("s", "1")))
    await asyncio.sleep(seconds)
    return web.Response(text=f"slept {seconds}")


async def upload(request: Any) -> Any:
    body = await request.read()
    return web.Response(text=str(len(body)))


async def websocket(request: Any) -> Any:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == web.WSMsgType.TEXT:
            if msg.data == "close":
                await ws.close()
                break
            await ws.send_str(msg.data)
        elif msg.type == web.WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def create_app() -> Any:
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/sleep", sleep)
    app.router.add_post("/upload", upload)
    app.router.add_get("/ws", websocket)
    return app


app = create_app()
