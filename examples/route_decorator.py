"""A Flask-style ``@route`` decorator that registers each handler on an application's
router at once. (``web.RouteTableDef`` is the built-in way; docs/faq.md, "Are there any plans
for an @app.route decorator like in Flask?", says why. Subclassing ``web.Application`` to add
an ``app.route`` method warns, as in aiohttp, so the decorator is made from the app.)

Run it with ``python -m runtime examples.route_decorator:create_app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from runtime import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Route = Callable[..., Callable[[Handler], Handler]]


def route_decorator(app: web.Application) -> Route:
    """``route(path, method="GET")``: a decorator that adds the handler to ``app``."""

    def route(path: str, method: str = "GET") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            app.router.add_route(method, path, handler)
            return handler

        return register

    return route


def create_app() -> web.Application:
    app = web.Application()
    route = route_decorator(app)

    @route("/")
    async def index(request: web.Request) -> web.StreamResponse:
        return web.Response(text="Hello from a decorated route")

    @route("/items/{name}", method="PUT")
    async def put_item(request: web.Request) -> web.StreamResponse:
        return web.json_response({"stored": request.match_info["name"]}, status=201)

    return app
