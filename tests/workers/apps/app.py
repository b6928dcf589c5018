"""The application the worker tests serve, in every shape gunicorn may hand it over.

Routes report what the worker did (peer, scheme, pid, loop) so the tests can check it from
outside; hooks print markers to stderr, which the tests read from gunicorn's output.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator

from runtime import web

routes = web.RouteTableDef()
BACKGROUND = web.AppKey("background", object)
_OPEN_GENERATORS: list[AsyncIterator[int]] = []


def mark(text: str) -> None:
    print(f"MARK {text} pid={os.getpid()}", file=sys.stderr, flush=True)


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


@routes.get("/ws")
async def echo_socket(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        await ws.send_str(message.data)
    return ws


@routes.get("/info")
async def info(request: web.Request) -> web.StreamResponse:
    loop = asyncio.get_running_loop()
    return web.json_response(
        {
            "remote": request.remote,
            "scheme": request.scheme,
            "secure": request.secure,
            "pid": os.getpid(),
            "loop": type(loop).__module__,
        }
    )


@routes.get("/headers")
async def headers(request: web.Request) -> web.StreamResponse:
    return web.json_response([[name, value] for name, value in request.headers.items()])


@routes.get("/sleep/{seconds}")
async def sleep(request: web.Request) -> web.StreamResponse:
    await asyncio.sleep(float(request.match_info["seconds"]))
    return web.Response(text=f"slept {os.getpid()}")


@routes.get("/block/{seconds}")
async def block(request: web.Request) -> web.StreamResponse:
    blocking_call(float(request.match_info["seconds"]))
    return web.Response(text="unblocked")


def blocking_call(seconds: float) -> None:
    time.sleep(seconds)  # the event loop stops here: the watchdog's SIGABRT must show it


@routes.get("/error")
async def error(request: web.Request) -> web.StreamResponse:
    raise RuntimeError("handler failed on purpose")


@routes.get("/subprocess")
async def run_subprocess(request: web.Request) -> web.StreamResponse:
    # With SIGCHLD left ignored, the kernel reaps children itself and this reads 0.
    code = await asyncio.to_thread(lambda: subprocess.run(["sh", "-c", "exit 3"]).returncode)
    return web.Response(text=str(code))


async def forever() -> None:
    await asyncio.Event().wait()  # a task the app never cancels: the worker's teardown does


async def ticker() -> AsyncIterator[int]:
    while True:
        yield 1
        await asyncio.sleep(3600)


async def start_background(app: web.Application) -> None:
    app[BACKGROUND] = asyncio.get_running_loop().create_task(forever())
    gen = ticker()
    await gen.__anext__()  # an async generator left open: shutdown_asyncgens closes it
    _OPEN_GENERATORS.append(gen)


async def on_shutdown(app: web.Application) -> None:
    mark("on_shutdown")


async def on_cleanup(app: web.Application) -> None:
    mark("on_cleanup")


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    app.on_startup.append(start_background)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app


# -- every shape gunicorn may load ---------------------------------------------------------

instance = create_app()


async def create_app_async() -> web.Application:
    await asyncio.sleep(0)
    return create_app()


def create_runner() -> web.AppRunner:
    return web.AppRunner(create_app())


async def low_level(request: web.BaseRequest) -> web.StreamResponse:
    return web.Response(text="low-level ok")


def create_server_runner() -> web.ServerRunner:
    return web.ServerRunner(web.Server(low_level))


def broken_factory() -> web.Application:
    raise RuntimeError("factory failed on purpose")


def not_an_app() -> object:
    return object()


def broken_startup() -> web.Application:
    app = create_app()

    async def fail(app: web.Application) -> None:
        raise ConnectionRefusedError("database is down on purpose")

    app.on_startup.append(fail)
    return app
