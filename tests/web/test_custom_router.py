"""``Application(router=...)`` with a router of one's own, as aiohttp allows it."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import web
from tests.support import Connection, serve


class _Refusing:
    """A router that only resolves (aiohttp's ``AbstractRouter`` asks for no more)."""

    def __init__(self) -> None:
        self.frozen = False

    def freeze(self) -> None:
        self.frozen = True

    async def resolve(self, request: web.Request) -> Any:
        raise web.HTTPPreconditionFailed()


async def test_a_router_without_resources_serves_what_its_resolve_raises() -> None:
    router = _Refusing()
    with pytest.warns(DeprecationWarning):
        app = web.Application(router=router)  # type: ignore[arg-type]
    async with serve(app) as port, await Connection.open(port) as conn:
        reply = await conn.request()
    assert reply.status == 412
    assert router.frozen
