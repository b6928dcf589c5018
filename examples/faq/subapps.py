"""docs/faq.md, "Does Berth have the Flask Blueprint or Django App concept?": a nested
application with its own middleware, mounted under a prefix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from runtime import web

SITE = web.AppKey("site", str)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def admins_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.headers.get("X-Role") != "admin":
        raise web.HTTPForbidden()
    return await handler(request)


async def home(request: web.Request) -> web.Response:
    return web.Response(text=f"welcome to {request.app[SITE]}")


async def users(request: web.Request) -> web.Response:
    return web.Response(text=f"users of {request.config_dict[SITE]}")  # found in the parent


def create_admin() -> web.Application:
    admin = web.Application(middlewares=[admins_only])  # guards /admin/... only
    admin.router.add_get("/users", users)
    return admin


def create_app() -> web.Application:
    app = web.Application()
    app[SITE] = "example.org"
    app.router.add_get("/", home)
    app.add_subapp("/admin/", create_admin())  # GET /admin/users
    return app
