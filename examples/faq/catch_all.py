"""docs/faq.md, "How to create a route that catches URLs with a given prefix?": a variable
whose pattern spans slashes, and ``*`` for every method."""

from __future__ import annotations

from runtime import web


async def sink(request: web.Request) -> web.Response:
    return web.Response(text=f"{request.method} {request.match_info['tail']}")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_route("*", "/path/to/{tail:.+}", sink)
    return app
