"""docs/faq.md's AioESService example: no explicit loops, and a tiny in-process
fake instead of an Elasticsearch cluster."""

from __future__ import annotations

import asyncio
from typing import Any

from runtime import web


class FakeElasticsearch:
    """Stands in for ``aioes.Elasticsearch``: ``info()`` describes a cluster."""

    def __init__(self, hosts: list[str]) -> None:
        self.hosts = hosts

    async def info(self) -> dict[str, Any]:
        await asyncio.sleep(0)  # a real client would do network I/O here
        return {"cluster_name": "fake", "hosts": self.hosts}


class AioESService:
    """The low-level service; it finds the running loop itself, as modern asyncio code does."""

    def __init__(self, host: str = "127.0.0.1:9200") -> None:
        self.es = FakeElasticsearch([host])

    async def get_info(self) -> dict[str, Any]:
        return await self.es.info()


class MyService:
    """A service that builds its AioESService implicitly (nothing is passed down)."""

    def __init__(self) -> None:
        self.aioes_service = AioESService()

    async def get_es_info(self) -> dict[str, Any]:
        return await self.aioes_service.get_info()


async def hello_aioes(request: web.Request) -> web.Response:
    cluster_info = await MyService().get_es_info()
    return web.Response(text=str(cluster_info))


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_route("GET", "/", hello_aioes)
    return app
