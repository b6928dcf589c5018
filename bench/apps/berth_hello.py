"""Berth's benchmark app: the same routes and bytes as ``bench/apps/aiohttp_hello.py``.

Served by bench/run.py as::

    python -m runtime bench.apps.berth_hello:create_app --host 127.0.0.1 --port PORT \\
        --uvloop --no-access-log
    gunicorn -w 1 -k runtime.workers.GunicornUVLoopWebWorker ... bench.apps.berth_hello:create_app
    gunicorn -w 1 -k runtime.workers.GunicornWebWorker ... bench.apps.berth_hello:create_app

and, for the logging scenario, with ``middlewares.access_logging``::

    gunicorn -w 1 -k runtime.workers.GunicornUVLoopWebWorker ... \\
        bench.apps.berth_hello:create_logging_app
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from bench.apps import common
from middlewares.compression import compression_middleware
from runtime import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text=common.HELLO)


async def json_hello(request: web.Request) -> web.Response:
    return web.json_response(common.JSON_MESSAGE, dumps=common.compact_json)


async def echo(request: web.Request) -> web.Response:
    return web.Response(body=await request.read(), content_type=common.ECHO_CONTENT_TYPE)


async def api_static(request: web.Request) -> web.Response:
    return web.Response(text="static")


async def api_item(request: web.Request) -> web.Response:
    return web.Response(text=request.match_info["id"])


async def text100k(request: web.Request) -> web.Response:
    return web.Response(body=common.TEXT_100K, content_type="text/plain", charset="utf-8")


async def ws_echo(request: web.Request) -> web.WebSocketResponse:
    """Echo every text message back (the ws-echo scenario, driven by bench/ws_load.py)."""
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        await ws.send_str(msg.data)
    return ws


def create_app(middlewares: Sequence[Any] = ()) -> web.Application:
    app = web.Application(middlewares=middlewares)
    app.router.add_get("/", hello)
    app.router.add_get("/json", json_hello)
    app.router.add_post(common.ECHO_PATH, echo)
    app.router.add_get("/ws", ws_echo)
    for path, dynamic in common.api_routes():
        app.router.add_get(path, api_item if dynamic else api_static)
    # Compression on /gz/ only: installed on the whole app, the middleware would also add
    # `Vary: Accept-Encoding` to every text response of the other scenarios.
    gz = web.Application(middlewares=[compression_middleware(gzip_level=common.GZIP_LEVEL)])
    gz.router.add_get(common.COMPRESS_PATH.removeprefix("/gz"), text100k)
    app.add_subapp("/gz", gz)
    return app


def create_logging_app() -> web.Application:
    """The same app with ``middlewares.access_logging``: one JSON line per request on stderr
    (which bench/run.py writes to the server's log file), written by structlog directly
    (``direct_stream``, what docs/middlewares/access_logging.md recommends under load)."""
    # Imported here: the other servers do not load structlog.
    from middlewares.access_logging import access_log_middleware, configure  # noqa: PLC0415

    configure(renderer="json", direct_stream=sys.stderr)
    return create_app([access_log_middleware()])


def create_metrics_app() -> web.Application:
    """The same app with ``middlewares.metrics`` (one process: no multiprocess files)."""
    from middlewares.metrics import metrics_middleware  # noqa: PLC0415 - optional extra

    return create_app([metrics_middleware()])


def create_tracing_app() -> web.Application:
    """The same app with ``middlewares.tracing``: every span made, sampled and handed to a
    batch processor whose exporter drops it (what is measured is Berth's side, not a
    collector's)."""
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415 - optional extra
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from middlewares.tracing import tracing_middleware  # noqa: PLC0415

    class Drop(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    # Sized for a benchmark's rate: with the defaults (a 2,048-span queue, a flush every
    # 5 s) the queue overflows within a tenth of a second at tens of thousands of requests
    # a second, and every dropped span logs a warning, which is what would be measured.
    provider.add_span_processor(
        BatchSpanProcessor(
            Drop(), max_queue_size=1 << 16, schedule_delay_millis=100, max_export_batch_size=4096
        )
    )
    return create_app([tracing_middleware(tracer_provider=provider)])
