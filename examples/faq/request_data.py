"""docs/faq.md, "How may a middleware store data for a web handler to use later?": in the
request, under a typed ``web.RequestKey``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from runtime import web

USER = web.RequestKey("user", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def identify(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[USER] = request.headers.get("X-User", "guest")
    return await handler(request)


async def whoami(request: web.Request) -> web.Response:
    return web.Response(text=request[USER])  # a str to mypy


def create_app() -> web.Application:
    app = web.Application(middlewares=[identify])
    app.router.add_get("/whoami", whoami)
    return app
