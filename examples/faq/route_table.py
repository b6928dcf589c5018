"""docs/faq.md, "Are there any plans for an @app.route decorator like in Flask?": a
``web.RouteTableDef`` collects the routes, and the factory registers them in one place."""

from __future__ import annotations

from runtime import web

routes = web.RouteTableDef()


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    return web.Response(text="index")


@routes.put("/items/{name}")
async def put_item(request: web.Request) -> web.Response:
    return web.json_response({"stored": request.match_info["name"]}, status=201)


def create_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)  # registered here, in the order they are listed
    return app
