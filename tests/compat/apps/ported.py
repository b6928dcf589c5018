"""An application written for aiohttp and aiohttp-jinja2, untouched: every import is
aiohttp's. Served on Berth only in the compatibility mode."""

from __future__ import annotations

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.web_exceptions import HTTPMethodNotAllowed

TEMPLATES = {
    "page.html": "<h1>{{ title }}</h1><p>{{ who }} of {{ site }} at {{ request.path }}</p>",
}

TITLE = web.AppKey("TITLE", str)


async def server(request: web.Request) -> web.Response:
    """Says whose request object this is, and whose client the app would use."""
    return web.Response(
        text=f"{type(request).__module__} {aiohttp.ClientSession.__module__}",
    )


@aiohttp_jinja2.template("page.html")
async def page(request: web.Request) -> dict[str, str]:
    return {"title": request.config_dict[TITLE]}


class PageView(web.View):
    @aiohttp_jinja2.template("page.html")
    async def get(self) -> dict[str, str]:
        return {"title": "view"}


async def refuse(request: web.Request) -> web.Response:
    raise HTTPMethodNotAllowed(request.method, ["POST"])


async def root_context(request: web.Request) -> dict[str, str]:
    return {"who": "root", "site": "berth"}


async def sub_context(request: web.Request) -> dict[str, str]:
    return {"who": "sub"}  # over the root's, which the root's middleware set first


def create_app() -> web.Application:
    app = web.Application(middlewares=[aiohttp_jinja2.context_processors_middleware])
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.DictLoader(TEMPLATES),
        context_processors=[aiohttp_jinja2.request_processor, root_context],
    )
    app[TITLE] = "root"
    app.router.add_get("/", server)
    app.router.add_get("/page", page)
    app.router.add_view("/view", PageView)
    app.router.add_get("/refuse", refuse)

    sub = web.Application(middlewares=[aiohttp_jinja2.context_processors_middleware])
    aiohttp_jinja2.setup(sub, loader=jinja2.DictLoader(TEMPLATES))
    sub[aiohttp_jinja2.APP_CONTEXT_PROCESSORS_KEY] = (aiohttp_jinja2.request_processor, sub_context)
    sub.router.add_get("/page", page)
    sub.router.add_view("/view", PageView)
    app.add_subapp("/sub", sub)
    return app
