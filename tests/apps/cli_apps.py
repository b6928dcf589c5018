"""Applications for the command-line tests: each way an entry point can be written."""

from __future__ import annotations

from collections.abc import AsyncIterator

from runtime import web


async def hello(request: web.Request) -> web.Response:
    return web.Response(text="hello")


def _app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", hello)
    return app


instance = _app()


def sync_factory() -> web.Application:
    return _app()


async def async_factory() -> web.Application:
    return _app()


def not_an_app() -> object:
    return object()


def broken_startup() -> web.Application:
    app = _app()

    async def fail(app: web.Application) -> AsyncIterator[None]:
        raise ConnectionRefusedError("database is down")
        yield

    app.cleanup_ctx.append(fail)
    return app
