"""docs/faq.md, "Where to put my database connection so handlers can access it?": on the
application, opened and closed by a cleanup context."""

from __future__ import annotations

from collections.abc import AsyncIterator

from runtime import web


class Database:
    """Stands for your driver's connection pool (asyncpg, aiomysql, ...)."""

    async def fetch_answer(self) -> int:
        return 42

    async def close(self) -> None:
        pass


DB = web.AppKey("db", Database)


async def database(app: web.Application) -> AsyncIterator[None]:
    app[DB] = Database()  # at startup, on the worker's loop
    yield
    await app[DB].close()  # at cleanup


async def answer(request: web.Request) -> web.Response:
    return web.json_response({"answer": await request.app[DB].fetch_answer()})


def create_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(database)
    app.router.add_get("/answer", answer)
    return app
