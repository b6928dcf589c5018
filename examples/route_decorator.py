"""A Flask-style ``@app.route`` decorator: derive from ``web.Application`` and add one.
(``web.RouteTableDef`` is the built-in way; docs/faq.md, "Are there any plans for an
@app.route decorator like in Flask?", says why.)

Run it with ``python -m runtime examples.route_decorator:create_app``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from runtime import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class App(web.Application):
    """An application with a ``@app.route(path)`` decorator."""

    def route(self, path: str, method: str = "GET") -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.router.add_route(method, path, handler)
            return handler

        return register


def create_app() -> App:
    app = App()

    @app.route("/")
    async def index(request: web.Request) -> web.StreamResponse:
        return web.Response(text="Hello from a decorated route")

    @app.route("/items/{name}", method="PUT")
    async def put_item(request: web.Request) -> web.StreamResponse:
        return web.json_response({"stored": request.match_info["name"]}, status=201)

    return app
