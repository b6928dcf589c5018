"""An application whose responses are larger than the kernel's buffers, for clients that do
not read them (tests/workers/test_slow_readers.py). ``SEND_TIMEOUT`` in the environment
sets the server's ``send_timeout``."""

from __future__ import annotations

import os

from runtime import web

CHUNK = 65536


async def index(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def stream(request: web.Request) -> web.StreamResponse:
    """``/stream/{mib}``: that many MiB, written a chunk at a time."""
    size = int(request.match_info["mib"]) * 2**20
    response = web.StreamResponse()
    response.content_length = size
    await response.prepare(request)
    for _ in range(size // CHUNK):
        await response.write(b"x" * CHUNK)
    return response


def create_app() -> web.Application:
    send_timeout = float(os.environ.get("SEND_TIMEOUT", "60"))
    app = web.Application(handler_args={"send_timeout": send_timeout})
    app.router.add_get("/", index)
    app.router.add_get("/stream/{mib}", stream)
    return app
