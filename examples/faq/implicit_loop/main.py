"""docs/faq.md, "How to use Berth's test features with code which works with an implicit
loop?": the application, whose service is built deep inside, with no loop passed."""

from __future__ import annotations

from runtime import web


class SearchService:
    """Stands for a client of an external service; it needs no loop argument."""

    async def info(self) -> dict[str, str]:
        return {"cluster_name": "production"}


class Reports:
    def __init__(self) -> None:
        self.search = SearchService()  # built implicitly, nothing passed in

    async def cluster(self) -> str:
        return (await self.search.info())["cluster_name"]


async def cluster(request: web.Request) -> web.Response:
    return web.Response(text=await Reports().cluster())


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", cluster)
    return app
