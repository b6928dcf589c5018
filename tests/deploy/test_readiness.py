"""``runtime.web.readiness``: 200 while serving, 503 from the first moment of a graceful stop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from runtime import web
from runtime.testing.kit import TestClient
from runtime.web.readiness import READINESS, Readiness, ReadinessState, readiness
from tests.support import build_request, read_reply

MakeClient = Callable[..., Awaitable[TestClient]]


def _app(*checks: Callable[[], Awaitable[object]], timeout: float = 2.0) -> web.Application:
    app = web.Application()
    app.router.add_get("/ready", readiness(app, checks, check_timeout=timeout))
    return app


async def test_ready_while_serving(make_client: MakeClient) -> None:
    app = _app()
    assert app[READINESS].state is ReadinessState.STARTING
    client = await make_client(app)
    resp = await client.get("/ready")
    assert resp.status == 200
    assert await resp.text() == "ready\n"
    assert resp.headers["Cache-Control"] == "no-store"
    resp = await client.head("/ready")
    assert resp.status == 200


async def test_manual_drain_and_resume(make_client: MakeClient) -> None:
    app = _app()
    client = await make_client(app)
    state: Readiness = app[READINESS]
    state.drain()
    resp = await client.get("/ready")
    assert (resp.status, await resp.text()) == (503, "draining\n")
    state.resume()
    assert (await client.get("/ready")).status == 200


async def test_drain_file(make_client: MakeClient, tmp_path: Path) -> None:
    flag = tmp_path / "drain"
    app = web.Application()
    app.router.add_get("/ready", readiness(app, drain_file=flag))
    client = await make_client(app)
    assert (await client.get("/ready")).status == 200
    flag.touch()
    resp = await client.get("/ready")
    assert (resp.status, await resp.text()) == (503, "draining\n")
    flag.unlink()
    assert (await client.get("/ready")).status == 200


async def test_checks(make_client: MakeClient) -> None:
    healthy = True

    async def database() -> None:
        if not healthy:
            raise ConnectionRefusedError("db down")

    async def slow() -> None:
        await asyncio.sleep(0 if healthy else 10)

    client = await make_client(_app(database))
    assert (await client.get("/ready")).status == 200
    healthy = False
    resp = await client.get("/ready")
    assert (resp.status, await resp.text()) == (503, "check failed: ConnectionRefusedError\n")

    healthy = True
    client = await make_client(_app(slow, timeout=0.1))
    assert (await client.get("/ready")).status == 200
    healthy = False
    resp = await client.get("/ready")
    assert (resp.status, await resp.text()) == (503, "check timed out\n")


def test_registration_rules() -> None:
    app = web.Application()

    async def earlier(app: web.Application) -> None: ...

    app.on_shutdown.append(earlier)
    readiness(app)
    # First in line, so 503 starts before slower shutdown receivers run.
    assert app.on_shutdown[0] == app[READINESS].on_shutdown
    with pytest.raises(RuntimeError, match="already called"):
        readiness(app)


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[int, str, bytes]:
    writer.write(build_request("GET", path, host="test"))
    reply = await read_reply(reader)
    return reply.status, reply.headers.get("Connection", ""), reply.body


async def test_503_as_soon_as_a_graceful_stop_begins() -> None:
    """The real order (AppRunner.cleanup): stop accepting, mark connections closing, then
    on_shutdown. A kept-alive connection (nginx's upstream pool, a load balancer's health
    check) asking during the stop gets 503 and Connection: close, while a request already in
    flight still completes."""
    app = web.Application()
    app.router.add_get("/ready", readiness(app))
    release = asyncio.Event()
    stopping = asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        await release.wait()
        return web.Response(text="done")

    async def close_websockets(app: web.Application) -> None:
        stopping.set()  # runs after readiness's receiver
        await asyncio.sleep(0.2)

    app.router.add_get("/slow", slow)
    app.on_shutdown.append(close_websockets)
    # A runner of its own, not tests.support.serve: the test stops it mid-request.
    runner = web.AppRunner(app, access_log=None, shutdown_grace=5.0, shutdown_timeout=10)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site.port
    idle = await asyncio.open_connection("127.0.0.1", port)
    busy = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert await _request(*idle, "/ready") == (200, "", b"ready\n")
        busy[1].write(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        await asyncio.sleep(0.05)
        cleanup = asyncio.create_task(runner.cleanup())
        await asyncio.wait_for(stopping.wait(), 5)
        assert app[READINESS].state is ReadinessState.DRAINING
        assert await _request(*idle, "/ready") == (503, "close", b"draining\n")
        release.set()
        head = await asyncio.wait_for(busy[0].readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        await asyncio.wait_for(cleanup, 10)
    finally:
        release.set()
        for _, writer in (idle, busy):
            writer.close()
        await runner.cleanup()
