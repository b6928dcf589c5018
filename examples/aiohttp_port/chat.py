"""The chat: its page, its WebSocket, and the JSON API other origins may call.

Each worker keeps its own sockets and history: a message reaches the sockets of the worker
that received it (fan-out across workers is a job for a broker, not for this demo).
"""

from __future__ import annotations

import contextlib
from collections import deque
from typing import Any

import aiohttp_jinja2
from aiohttp import WSCloseCode, WSMsgType, web

from .auth import current_user

MAX_TEXT = 1000

SOCKETS = web.AppKey("SOCKETS", dict[web.WebSocketResponse, str])
HISTORY = web.AppKey("HISTORY", deque[dict[str, str]])


async def page(request: web.Request) -> web.Response:
    name = await current_user(request)
    if name is None:
        raise web.HTTPFound("/login")
    context = {"name": name, "history": list(request.app[HISTORY])}
    return aiohttp_jinja2.render_template("chat.html", request, context)


async def websocket(request: web.Request) -> web.WebSocketResponse:
    name = await current_user(request)
    if name is None:
        raise web.HTTPForbidden(text="Sign in first")
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)
    sockets = request.app[SOCKETS]
    sockets[ws] = name
    try:
        async for message in ws:
            # ==, as aiohttp's documentation compares: an IntEnum equals its value whichever
            # module's enum the message carries.
            if message.type == WSMsgType.TEXT:
                await publish(request.app, name, message.data, sender=ws)
    finally:
        sockets.pop(ws, None)
    return ws


async def publish(
    app: web.Application, name: str, text: str, *, sender: web.WebSocketResponse | None
) -> dict[str, str] | None:
    """Record a message and send it to every socket but its sender's; None if empty."""
    text = text.strip()[:MAX_TEXT]
    if not text:
        return None
    entry = {"name": name, "text": text}
    app[HISTORY].append(entry)
    for ws in list(app[SOCKETS]):
        if ws is not sender and not ws.closed:
            # A socket that went away mid-send leaves the registry when its handler ends.
            with contextlib.suppress(ConnectionError):
                await ws.send_json(entry)
    return entry


async def list_messages(request: web.Request) -> web.Response:
    headers = {"X-Chat-Online": str(len(request.app[SOCKETS]))}
    return web.json_response(list(request.app[HISTORY]), headers=headers)


async def post_message(request: web.Request) -> web.Response:
    name = await current_user(request)
    if name is None:
        return web.json_response({"error": "sign in first"}, status=401)
    try:
        body: Any = await request.json()
    except ValueError:
        return web.json_response({"error": "a JSON body, please"}, status=400)
    text = body.get("text") if isinstance(body, dict) else None
    if not isinstance(text, str):
        return web.json_response({"error": 'expected {"text": "..."}'}, status=400)
    entry = await publish(request.app, name, text, sender=None)
    if entry is None:
        return web.json_response({"error": "empty message"}, status=400)
    return web.json_response(entry, status=201)


async def close_sockets(app: web.Application) -> None:
    """On shutdown: tell every open socket the server is going away (1001)."""
    for ws in list(app[SOCKETS]):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"Server shutdown")
