"""python-socketio's answer to the fan-out job, the peer of ``examples/cluster_chat.py`` in the
``fanout`` scenario: an aiohttp app with a Socket.IO server whose client manager is
``AsyncRedisManager`` (one Redis subscriber per worker, every emit published to all of them).

Served by bench/run.py as::

    REDIS_URL=redis://127.0.0.1:PORT/0 gunicorn -w 3 -k aiohttp.GunicornUVLoopWebWorker \\
        --no-control-socket -b 127.0.0.1:PORT bench.apps.socketio_chat:create_app

The routes mirror the reference chat's where the load needs them:

* ``/socket.io/?EIO=4&transport=websocket&room=R``: Engine.IO v4 straight over WebSocket. On
  the Socket.IO connect the socket joins room ``R`` and is sent the event
  ``["worker", <pid>]``, as Berth's chat sends ``{"worker": <pid>}`` first.
* ``POST /rooms/{room}``: the body, as text, is emitted to the room as event ``"m"`` with
  ``sio.emit(..., room=room)``; answers ``{"published": true}``.
* ``GET /``: a plain answer, for the harness's readiness check.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import socketio
from aiohttp import web

from bench.apps import common

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
_SIO: web.AppKey[Any] = web.AppKey("sio", object)


def _room_of(environ: dict[str, Any]) -> str | None:
    """The ``room`` query parameter of the Engine.IO request (aiohttp's environ has the
    query string as WSGI's ``QUERY_STRING``)."""
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    rooms = query.get("room")
    return rooms[0] if rooms else None


def create_server(redis_url: str) -> Any:
    """The Socket.IO server: Redis client manager, the connect handler joining the room."""
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        client_manager=socketio.AsyncRedisManager(redis_url),
        # Accept first, then run the connect handler: the worker event follows the CONNECT
        # acknowledgement, as Berth's first message follows the 101.
        always_connect=True,
        # No Origin check: the load generator is not a browser.
        cors_allowed_origins="*",
    )

    @sio.event  # type: ignore[untyped-decorator]
    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        room = _room_of(environ)
        if room is None:
            return False
        await sio.enter_room(sid, room)
        await sio.emit("worker", os.getpid(), to=sid)
        return True

    return sio


async def publish(request: web.Request) -> web.Response:
    """Emit the request body to the room, through Redis to every worker's sockets in it."""
    text = await request.text()
    await request.app[_SIO].emit(common.FANOUT_EVENT, text, room=request.match_info["room"])
    return web.json_response({"published": True})


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def create_app() -> web.Application:
    """The app, built in the worker (aiohttp's gunicorn worker takes a coroutine function)."""
    app = web.Application()
    sio = create_server(os.environ.get("REDIS_URL", DEFAULT_REDIS_URL))
    sio.attach(app)
    app[_SIO] = sio
    app.router.add_post("/rooms/{room}", publish)
    app.router.add_get("/", ready)
    return app
