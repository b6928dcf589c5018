"""docs/faq.md, "API stability and deprecation policy", for an HTTP API: a deprecated
endpoint announces itself with Deprecation, Sunset and Link headers, and warns in tests."""

from __future__ import annotations

from datetime import date, timedelta

from middlewares.deprecation import deprecated, deprecation_middleware
from runtime import web

SINCE = date(2026, 1, 1)


@deprecated(since=SINCE, sunset=SINCE + timedelta(days=548), replacement="/v2/items")
async def items_v1(request: web.Request) -> web.Response:
    return web.json_response([])


def create_app() -> web.Application:
    app = web.Application(middlewares=[deprecation_middleware()])
    app.router.add_get("/v1/items", items_v1)
    return app
