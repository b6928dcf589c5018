"""Starlette's benchmark app: the same routes and bytes as ``bench/apps/berth_hello.py``.

Served by bench/run.py as::

    uvicorn bench.apps.starlette_hello:app --loop uvloop --http httptools --no-access-log ...

(and without ``--no-access-log``, at ``--log-level info``, for the logging scenario).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from bench.apps import common


async def hello(request: Request) -> Response:
    return PlainTextResponse(common.HELLO)


async def json_hello(request: Request) -> Response:
    # Starlette's JSONResponse writes compact JSON; the charset matches aiohttp's header.
    return JSONResponse(common.JSON_MESSAGE, media_type=common.JSON_CONTENT_TYPE)


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type=common.ECHO_CONTENT_TYPE)


async def api_static(request: Request) -> Response:
    return PlainTextResponse("static")


async def api_item(request: Request) -> Response:
    return PlainTextResponse(request.path_params["id"])


async def text100k(request: Request) -> Response:
    return PlainTextResponse(common.TEXT_100K)


def _routes() -> list[BaseRoute]:
    routes: list[BaseRoute] = [
        Route("/", hello),
        Route("/json", json_hello),
        Route(common.ECHO_PATH, echo, methods=["POST"]),
    ]
    routes += [
        Route(path, api_item if dynamic else api_static) for path, dynamic in common.api_routes()
    ]
    # GZipMiddleware on /gz only (compressed inline below its 128 KiB thread threshold).
    routes.append(
        Mount(
            "/gz",
            routes=[Route(common.COMPRESS_PATH.removeprefix("/gz"), text100k)],
            middleware=[Middleware(GZipMiddleware, compresslevel=common.GZIP_LEVEL)],
        )
    )
    return routes


app = Starlette(routes=_routes())
