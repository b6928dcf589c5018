"""The demo app of the README: ``make run`` serves it.

It shows answers of docs/faq.md at work: shared resources on the application, data a
middleware stashes on the request, and a catch-all route for a URL prefix. It also counts its
requests by route and serves the counts at ``/metrics``, true across every worker
(``make run`` sets ``PROMETHEUS_MULTIPROC_DIR``; docs/middlewares/metrics.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable

from middlewares.metrics import metrics_handler, metrics_middleware
from runtime import web

routes = web.RouteTableDef()
STARTED = web.AppKey("started", float)
REQUEST_START = "request_start"


@web.middleware
async def timing(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    request[REQUEST_START] = time.perf_counter()  # data for later: see docs/faq.md
    response = await handler(request)
    elapsed = time.perf_counter() - request[REQUEST_START]
    response.headers["Server-Timing"] = f"app;dur={elapsed * 1000:.2f}"
    return response


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    return web.Response(text="Hello from Berth!\n")


@routes.get("/hello/{name}")
async def hello(request: web.Request) -> web.StreamResponse:
    return web.json_response({"hello": request.match_info["name"]})


@routes.get("/uptime")
async def uptime(request: web.Request) -> web.StreamResponse:
    return web.json_response({"uptime": round(time.monotonic() - request.app[STARTED], 3)})


@routes.post("/echo")
async def echo(request: web.Request) -> web.StreamResponse:
    return web.Response(body=await request.read(), content_type=request.content_type)


@routes.route("*", "/files/{tail:.+}")
async def sink(request: web.Request) -> web.StreamResponse:
    return web.json_response({"method": request.method, "tail": request.match_info["tail"]})


async def started(app: web.Application) -> AsyncIterator[None]:
    app[STARTED] = time.monotonic()
    yield


def create_app() -> web.Application:
    """The factory gunicorn and ``python -m runtime`` call."""
    app = web.Application(middlewares=[metrics_middleware(), timing])
    app.add_routes(routes)
    app.router.add_get("/metrics", metrics_handler())
    app.cleanup_ctx.append(started)
    return app
