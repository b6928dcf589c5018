"""The application behind nginx in the end-to-end tests (gunicorn + GunicornWebWorker).

Each route reports what the application saw, so the tests can compare it with what the
client sent through nginx.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time

from runtime import web
from runtime.web.accel import accel_redirect, no_proxy_buffering
from runtime.web.readiness import readiness

ACCEL_URL = "/_protected/"
TICKS = 4
TICK_INTERVAL = 0.3


async def whoami(request: web.Request) -> web.Response:
    return web.json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "secure": request.secure,
            "host": request.host,
            "url": str(request.url),
            "request_id": request.headers.get("X-Request-ID"),
            "forwarded_for": request.headers.get("X-Forwarded-For"),
            "forwarded_host": request.headers.get("X-Forwarded-Host"),
            "connection": request.headers.get("Connection"),
            "version": f"{request.version.major}.{request.version.minor}",
            "pid": os.getpid(),
            # Which upstream connection carried the request (nginx reuses them).
            "conn": id(request.protocol),
        }
    )


async def pid(request: web.Request) -> web.Response:
    return web.Response(text=str(os.getpid()))


async def upload(request: web.Request) -> web.Response:
    """Read the body as it streams in; report when the handler started and when the first
    and the last bytes came, and how the body was framed."""
    started = time.time()
    digest = hashlib.sha256()
    size = 0
    first = last = 0.0
    while True:
        chunk = await request.content.readany()
        if not chunk:
            break
        last = time.time()
        if not size:
            first = last
        size += len(chunk)
        digest.update(chunk)
    return web.json_response(
        {
            "size": size,
            "sha256": digest.hexdigest(),
            "started": started,
            "first": first,
            "last": last,
            "content_length": request.content_length,
            "chunked": "chunked" in request.headers.get("Transfer-Encoding", "").lower(),
        }
    )


async def _ticks(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    await response.prepare(request)
    for tick in range(TICKS):
        if tick:
            await asyncio.sleep(TICK_INTERVAL)
        await response.write(f"tick {tick} {time.time():.3f}\n".encode())
    await response.write_eof()
    return response


async def stream(request: web.Request) -> web.StreamResponse:
    response = no_proxy_buffering(web.StreamResponse(headers={"Content-Type": "text/plain"}))
    return await _ticks(request, response)


async def buffered_stream(request: web.Request) -> web.StreamResponse:
    return await _ticks(request, web.StreamResponse(headers={"Content-Type": "text/plain"}))


async def download(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if request.query.get("deny"):
        raise web.HTTPForbidden()
    return accel_redirect(ACCEL_URL + name, filename=request.query.get("as"))


async def echo(request: web.Request) -> web.StreamResponse:
    from runtime.http.ws import WSMsgType
    from runtime.web.websocket import WebSocketResponse

    ws = WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(f"echo: {msg.data}")
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/whoami", whoami)
    app.router.add_get("/pid", pid)
    app.router.add_post("/upload", upload)
    app.router.add_post("/streamed/upload", upload)  # under the stack's streaming location
    app.router.add_get("/stream", stream)
    app.router.add_get("/buffered-stream", buffered_stream)
    app.router.add_get("/download/{name}", download)
    app.router.add_get("/ws", echo)
    app.router.add_get("/ready", readiness(app))
    return app
