"""A bare ASGI callable, no framework: what uvicorn and granian cost on their own.

Serves plaintext (``/``), json (``/json``) and post-echo-16k (``POST /echo``) with the same
bytes as the framework apps. It has no router (so no routes-200) and no compression (so no
compress-100k). Served by bench/run.py as::

    uvicorn bench.apps.asgi_hello:app --loop uvloop --http httptools --no-access-log ...
    granian --interface asgi --loop uvloop --no-access-log ... bench.apps.asgi_hello:app
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from bench.apps import common

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TEXT = b"text/plain; charset=utf-8"


async def _respond(send: Send, status: int, content_type: bytes, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    kind = scope["type"]
    if kind != "http":
        if kind == "lifespan":
            await _lifespan(receive, send)
        return
    path, method = scope["path"], scope["method"]
    if path == "/" and method == "GET":
        await _respond(send, 200, _TEXT, common.HELLO.encode())
    elif path == "/json" and method == "GET":
        body = json.dumps(common.JSON_MESSAGE, separators=(",", ":")).encode()
        await _respond(send, 200, common.JSON_CONTENT_TYPE.encode(), body)
    elif path == common.ECHO_PATH and method == "POST":
        body = await _read_body(receive)
        await _respond(send, 200, common.ECHO_CONTENT_TYPE.encode(), body)
    else:
        await _respond(send, 404, _TEXT, b"Not Found")
