"""The connection's explicit state: the transition table, and the states a connection goes
through for each way its life can go."""

from __future__ import annotations

import asyncio

import pytest

from runtime.server.state import ConnState, InvalidTransition, transition
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from tests.http.test_protocol import GET, Conn, hello
from tests.support import parse_replies

OPEN, SWITCHING, UPGRADED = ConnState.OPEN, ConnState.SWITCHING, ConnState.UPGRADED
REFUSING, LINGERING, CLOSED = ConnState.REFUSING, ConnState.LINGERING, ConnState.CLOSED

ALLOWED = {
    (OPEN, SWITCHING),
    (OPEN, REFUSING),
    (OPEN, LINGERING),
    (OPEN, CLOSED),
    (SWITCHING, OPEN),
    (SWITCHING, UPGRADED),
    (SWITCHING, LINGERING),
    (SWITCHING, CLOSED),
    (UPGRADED, CLOSED),
    (REFUSING, LINGERING),
    (REFUSING, CLOSED),
    (LINGERING, CLOSED),
}


@pytest.mark.parametrize("current", list(ConnState), ids=lambda s: s.value)
@pytest.mark.parametrize("new", list(ConnState), ids=lambda s: s.value)
def test_the_table_allows_exactly_these_changes(current: ConnState, new: ConnState) -> None:
    if (current, new) in ALLOWED:
        assert transition(current, new) is new
    else:
        with pytest.raises(InvalidTransition, match=f"{current.value} -> {new.value}"):
            transition(current, new)


async def test_keep_alive_then_close() -> None:
    conn = Conn(hello)
    assert conn.protocol.state is OPEN
    conn.send(GET % b"a")
    await conn.settle()
    assert conn.protocol.state is OPEN
    conn.protocol.close()
    await conn.settle()
    assert conn.protocol.state is CLOSED


async def test_refused_request_lingers_then_closes() -> None:
    conn = Conn(hello)
    conn.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert conn.protocol.state is REFUSING
    conn.send(b"more")  # dropped while refusing
    await conn.settle()
    assert [r.status for r in parse_replies(conn.transport.take())] == [400]
    assert conn.protocol.state is LINGERING
    conn.clock.advance(conn.protocol.config.lingering_time)
    await conn.settle()
    assert conn.protocol.state is CLOSED


async def test_declined_upgrade_switches_back_to_open() -> None:
    seen: list[ConnState] = []

    async def decline(request: BaseRequest) -> StreamResponse:
        seen.append(request.protocol.state)
        return Response(text="no")

    conn = Conn(decline)
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
    conn.send(GET % b"after")  # kept while switching, then parsed as HTTP
    await conn.settle()
    assert seen == [SWITCHING, OPEN]
    assert len(parse_replies(conn.transport.take())) == 2
    assert conn.protocol.state is OPEN


async def test_accepted_upgrade_owns_the_bytes_until_closed() -> None:
    received: list[bytes] = []
    ended = asyncio.Event()

    async def accept(request: BaseRequest) -> StreamResponse:
        response = StreamResponse(status=101, headers={"Upgrade": "x", "Connection": "upgrade"})
        await response.prepare(request)
        tail = request.protocol.upgrade(received.append, lambda exc: ended.set())
        received.append(tail)
        await ended.wait()
        return response

    conn = Conn(accept)
    conn.send(b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\nearly")
    await conn.settle()
    assert conn.protocol.state is UPGRADED
    conn.send(b"late")
    assert received == [b"early", b"late"]
    conn.protocol.connection_lost(None)
    await conn.settle()
    assert conn.protocol.state is CLOSED and ended.is_set()


async def test_draining_is_not_a_state() -> None:
    # A graceful shutdown marks every connection, whatever its state: answers from then on
    # carry Connection: close, and an idle connection closes after the grace window.
    conn = Conn(hello)
    conn.protocol.shutdown(grace=1.0)
    assert conn.protocol.closing and conn.protocol.state is OPEN
    [resp] = await conn.roundtrip(GET % b"late")
    assert resp.headers["connection"] == "close"


async def test_upgrade_pipelined_behind_a_request_gets_its_own_bytes() -> None:
    # Found by the fuzzer: the first request's end took the upgrade's bytes for its own
    # (a declined upgrade) and fed them to the HTTP parser.
    received: list[bytes] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        if request.path != "/ws":
            return Response(text="plain")
        response = StreamResponse(status=101, headers={"Upgrade": "x", "Connection": "upgrade"})
        await response.prepare(request)
        received.append(request.protocol.upgrade(received.append, lambda exc: None))
        return response

    conn = Conn(handler)
    conn.send(
        GET % b"first"
        + b"GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"
        + b"\x81\x05hello"
    )
    await conn.settle()
    assert conn.protocol.state is UPGRADED
    assert received == [b"\x81\x05hello"]
    assert [r.status for r in parse_replies(conn.transport.take())][:1] == [200]
