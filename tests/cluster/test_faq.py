"""docs/faq.md's two WebSocket answers in their several-workers form: each example runs on
two in-process workers sharing one real redis-server, and the FAQ shows its code verbatim."""

from __future__ import annotations

import ast
import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from examples.faq import close_across_workers, events_across_workers
from runtime import cluster, web
from runtime.testing import TestClient, TestServer
from tests.support.redis import RedisServer

ROOT = Path(__file__).resolve().parents[2]


def _code_of(path: Path) -> str:
    """The example as the FAQ shows it: without its docstring and future import."""
    source = path.read_text()
    docstring_end = ast.parse(source).body[0].end_lineno
    code = "\n".join(source.splitlines()[docstring_end:]).strip("\n")
    return code.replace("from __future__ import annotations\n\n", "")


@pytest.mark.parametrize("name", ["events_across_workers", "close_across_workers"])
def test_the_faq_shows_the_examples_code(name: str) -> None:
    faq = (ROOT / "docs" / "faq.md").read_text()
    assert f"```python\n{_code_of(ROOT / 'examples' / 'faq' / f'{name}.py')}\n```" in faq


@asynccontextmanager
async def _two_workers(
    make: Callable[[], web.Application],
) -> AsyncIterator[list[TestClient]]:
    clients = [TestClient(TestServer(make())) for _ in range(2)]
    for client in clients:
        await client.start_server()
    try:
        for _ in range(200):  # until both subscribers are up
            if all(cluster.hub(c.app).connected for c in clients if c.app):
                break
            await asyncio.sleep(0.02)
        yield clients
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
def redis_url(module_redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("REDIS_URL", module_redis_server.url)
    return module_redis_server.url


async def test_events_reach_sockets_on_every_worker(redis_url: str) -> None:
    async with _two_workers(events_across_workers.create_app) as (a, b):
        on_a = await a.ws_connect("/chat")
        on_b = await b.ws_connect("/chat")
        for _ in range(100):  # until both sockets are registered and subscribed
            if all(cluster.hub(c.app).sockets(topic="news") for c in (a, b) if c.app):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        async with a.post("/news", data="from another part of the app") as resp:
            assert resp.status == 204
        assert await on_a.receive_str(timeout=5) == "from another part of the app"
        assert await on_b.receive_str(timeout=5) == "from another part of the app"
        await on_b.send_str("from a user")  # the handler reads, the hub fans out
        assert await on_a.receive_str(timeout=5) == "from a user"
        assert await on_b.receive_str(timeout=5) == "from a user"


async def test_logout_closes_sockets_on_every_worker(redis_url: str) -> None:
    async with _two_workers(close_across_workers.create_app) as (a, b):
        alice = [
            await a.ws_connect("/echo", headers={"X-User": "alice"}),
            await b.ws_connect("/echo", headers={"X-User": "alice"}),
        ]
        bob = await b.ws_connect("/echo", headers={"X-User": "bob"})
        for ws in (*alice, bob):
            await ws.send_str("ping")
            assert await ws.receive_str(timeout=5) == "ping"
        async with a.post("/logout", headers={"X-User": "alice"}) as resp:
            assert await resp.text() == "closed 2 sockets on 2 workers"
        for ws in alice:
            msg = await ws.receive(timeout=5)
            assert msg.type is web.WSMsgType.CLOSE
            assert msg.data == web.WSCloseCode.POLICY_VIOLATION
        await bob.send_str("still here")
        assert await bob.receive_str(timeout=5) == "still here"
