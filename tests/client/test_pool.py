"""The connection pool: keep-alive reuse, limits, local_addr, and what must never be reused."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime import (
    ClientPayloadError,
    ClientSession,
    ConnectionTimeoutError,
    ServerDisconnectedError,
    TCPConnector,
    UnixConnector,
)
from runtime.web.runner import ServerRunner, UnixSite
from runtime.web.server import Server
from tests.client.servers import app_handler

Server_ = Callable[..., Any]


async def peer_port(session: ClientSession, url: Any) -> int:
    async with session.get(url) as resp:
        port: int = (await resp.json())["peer"][1]
        return port


async def test_keep_alive_reuses_one_connection(server: Server_) -> None:
    srv = await server()
    async with ClientSession() as session:
        ports = {await peer_port(session, srv.make_url("/echo")) for _ in range(5)}
        assert len(ports) == 1
        assert len(srv.handler.connections) == 1


async def test_force_close_uses_a_connection_per_request(server: Server_) -> None:
    srv = await server()
    async with ClientSession(connector=TCPConnector(force_close=True)) as session:
        async with session.get(srv.make_url("/echo")) as resp:
            assert (await resp.json())["headers"]["Connection"] == "close"
        ports = {await peer_port(session, srv.make_url("/echo")) for _ in range(3)}
    assert len(ports) == 3


async def test_local_addr_is_the_peer_address_the_server_sees(server: Server_) -> None:
    srv = await server()
    connector = TCPConnector(local_addr=("127.0.0.2", 0))
    async with ClientSession(connector=connector) as session:
        async with session.get(srv.make_url("/echo")) as resp:
            assert (await resp.json())["peer"][0] == "127.0.0.2"


async def test_an_unread_large_body_closes_the_connection(server: Server_) -> None:
    srv = await server()
    async with ClientSession() as session:
        first = await peer_port(session, srv.make_url("/echo"))
        async with session.get(srv.make_url("/big?n=2000000&chunked=1")) as resp:
            assert len(await resp.content.read(1000)) == 1000
        # The rest of the big body never reaches the next response: a new connection.
        assert await peer_port(session, srv.make_url("/echo")) != first
        async with session.get(srv.make_url("/hello")) as resp:
            assert await resp.text() == "hello"


@pytest.mark.parametrize("query", ["n=50000", "n=50000&chunked=1"])
async def test_a_small_unread_remainder_is_drained_and_the_connection_reused(
    server: Server_, query: str
) -> None:
    srv = await server()
    async with ClientSession() as session:
        async with session.get(srv.make_url(f"/big?{query}")) as resp:
            assert len(await resp.content.read(10)) == 10
        await asyncio.sleep(0.05)
        ports = {await peer_port(session, srv.make_url("/echo")) for _ in range(3)}
        assert len(ports) == 1
        assert len(srv.handler.connections) == 1


async def test_a_response_left_unread_while_the_body_streams_is_not_reused(
    server: Server_,
) -> None:
    srv = await server()
    async with ClientSession() as session:
        resp = await session.get(srv.make_url("/slow-body?t=0.3"))
        first = resp.connection
        resp.close()
        async with session.get(srv.make_url("/hello")) as again:
            assert again.connection is not first
            assert await again.text() == "hello"


async def test_limit_queues_requests(server: Server_) -> None:
    srv = await server()
    async with ClientSession(connector=TCPConnector(limit=1)) as session:
        results = await asyncio.gather(
            *(peer_port(session, srv.make_url("/echo")) for _ in range(4))
        )
        assert len(set(results)) == 1


async def test_limit_per_host(server: Server_) -> None:
    srv = await server()
    connector = TCPConnector(limit=10, limit_per_host=2)
    async with ClientSession(connector=connector) as session:

        async def slow() -> None:
            async with session.get(srv.make_url("/slow?t=0.1")) as resp:
                await resp.read()

        await asyncio.gather(*(slow() for _ in range(4)))
        assert len(srv.handler.connections) == 2


async def test_waiting_for_a_pool_slot_is_bounded_by_connect(server: Server_) -> None:
    srv = await server()
    connector = TCPConnector(limit=1)
    async with ClientSession(connector=connector) as session:
        held = await session.get(srv.make_url("/slow-body?t=0.5"))
        with pytest.raises(ConnectionTimeoutError):
            await session.get(srv.make_url("/hello"), timeout=_timeout(connect=0.1))
        held.close()
        async with session.get(srv.make_url("/hello")) as resp:
            assert resp.status == 200


def _timeout(**kwargs: float) -> Any:
    from runtime import ClientTimeout

    return ClientTimeout(**kwargs)


async def test_idle_connections_expire(server: Server_) -> None:
    srv = await server()
    connector = TCPConnector(keepalive_timeout=0.05)
    async with ClientSession(connector=connector) as session:
        first = await peer_port(session, srv.make_url("/echo"))
        await asyncio.sleep(0.15)
        assert await peer_port(session, srv.make_url("/echo")) != first


async def test_server_closing_idle_connections_is_survived(server: Server_) -> None:
    srv = await server(keepalive_timeout=0.05)
    async with ClientSession() as session:
        first = await peer_port(session, srv.make_url("/echo"))
        await asyncio.sleep(0.2)
        assert await peer_port(session, srv.make_url("/echo")) != first


async def serve_raw(respond: Callable[[int, asyncio.StreamWriter], Any]) -> asyncio.Server:
    """A hand-written server: ``respond(n, writer)`` answers the n-th request it reads."""
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                count += 1
                if await respond(count, writer) is False:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


def raw_url(server: asyncio.Server, path: str = "/") -> str:
    port = server.sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


async def test_a_keep_alive_connection_closed_under_us_is_retried_once() -> None:
    async def respond(n: int, writer: asyncio.StreamWriter) -> bool:
        if n == 2:
            return False  # close without answering: the race with an idle timeout
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        return True

    srv = await serve_raw(respond)
    async with srv, ClientSession() as session:
        for _ in range(2):
            async with session.get(raw_url(srv)) as resp:
                assert await resp.text() == "ok"
        srv.close()


async def test_disconnect_before_the_head_is_reported() -> None:
    async def respond(n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-")
        return False

    srv = await serve_raw(respond)
    async with srv, ClientSession() as session:
        with pytest.raises(ServerDisconnectedError):
            await session.get(raw_url(srv))
        srv.close()


async def test_truncated_body_is_a_payload_error() -> None:
    async def respond(n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")
        return False

    srv = await serve_raw(respond)
    async with srv, ClientSession() as session:
        async with session.get(raw_url(srv)) as resp:
            with pytest.raises(ClientPayloadError):
                await resp.read()
        srv.close()


async def test_malformed_response_is_a_response_error() -> None:
    from runtime import ClientResponseError

    async def respond(n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
        return True

    srv = await serve_raw(respond)
    async with srv, ClientSession() as session:
        with pytest.raises(ClientResponseError) as info:
            await session.get(raw_url(srv))
        assert info.value.status == 400
        srv.close()


async def test_unix_connector(tmp_path: Path) -> None:
    path = str(tmp_path / "berth.sock")
    # A runner of its own, not tests.support.serve: the test counts the server's connections.
    runner = ServerRunner(Server(app_handler, access_log=None), shutdown_timeout=1)
    await runner.setup()
    await UnixSite(runner, path).start()
    try:
        async with ClientSession(connector=UnixConnector(path)) as session:
            for _ in range(2):
                async with session.get("http://berth/echo") as resp:
                    got = await resp.json()
                    assert got["headers"]["Host"] == "berth"
            assert len(runner.server.connections) == 1
    finally:
        await runner.cleanup()


async def test_upgrade_hands_over_the_transport_and_the_early_bytes() -> None:
    async def respond(n: int, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nHELLO"
        )
        return False  # serve_raw closes; the client sees the bytes, then the end

    class Collect(asyncio.Protocol):
        def __init__(self) -> None:
            self.data = b""
            self.lost = asyncio.get_running_loop().create_future()

        def data_received(self, data: bytes) -> None:
            self.data += data

        def connection_lost(self, exc: BaseException | None) -> None:
            self.lost.set_result(None)

    srv = await serve_raw(respond)
    async with srv, ClientSession() as session:
        resp, transport, tail = await session._upgrade(
            raw_url(srv), headers={"Connection": "Upgrade", "Upgrade": "echo"}
        )
        assert resp.status == 101
        assert transport is not None
        collector = Collect()
        collector.data = tail
        transport.set_protocol(collector)
        await asyncio.wait_for(collector.lost, 2)
        assert collector.data == b"HELLO"
        assert session.connector._in_use_total == 0  # the pool has let it go
        srv.close()


async def test_upgrade_refused_returns_no_transport(server: Server_) -> None:
    srv = await server()
    async with ClientSession() as session:
        resp, transport, tail = await session._upgrade(srv.make_url("/hello"), headers={})
        assert (resp.status, transport, tail) == (200, None, b"")
        resp.release()


async def test_a_remainder_still_on_its_way_is_drained(server: Server_) -> None:
    srv = await server()
    async with ClientSession() as session:
        first = await peer_port(session, srv.make_url("/echo"))
        async with session.get(srv.make_url("/slow-body?t=0.1")) as resp:
            assert resp.status == 200  # released with 5 of 10 bytes still to come
        await asyncio.sleep(0.3)
        assert await peer_port(session, srv.make_url("/echo")) == first
