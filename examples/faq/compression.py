"""docs/faq.md, "How to enable gzip compression globally for the whole application?": the
compression middleware, outermost."""

from __future__ import annotations

from middlewares import compression_middleware
from runtime import web


async def report(request: web.Request) -> web.Response:
    return web.json_response([{"id": i, "name": f"row {i}"} for i in range(1000)])


def create_app() -> web.Application:
    app = web.Application(middlewares=[compression_middleware()])  # first: outermost
    app.router.add_get("/report", report)
    return app
