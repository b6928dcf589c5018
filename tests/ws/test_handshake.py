"""The opening handshake (RFC 6455 4): pure checks, then over a real connection."""

from __future__ import annotations

import asyncio

import pytest
from multidict import CIMultiDict

from runtime.http.ws import HandshakeError, accept_key, check_response, client_request
from runtime.http.ws.handshake import header_tokens, select_protocol, server_handshake
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse
from runtime.web.websocket import WebSocketReady, WebSocketResponse
from tests.support import serve
from tests.ws.helpers import connect

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 1.3's example


def headers(**extra: str) -> CIMultiDict[str]:
    h: CIMultiDict[str] = CIMultiDict(
        {
            "Host": "example.com",
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": KEY,
            "Sec-WebSocket-Version": "13",
        }
    )
    for key, value in extra.items():
        name = key.replace("_", "-")
        if value:
            h[name] = value
        else:
            h.popall(name, None)
    return h


def test_accept_key_rfc_example() -> None:
    assert accept_key(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_valid_handshake() -> None:
    hs = server_handshake("GET", (1, 1), headers())
    assert hs.accept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert hs.protocol is None and hs.deflate is None
    assert hs.headers == [
        ("Upgrade", "websocket"),
        ("Connection", "upgrade"),
        ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ]


@pytest.mark.parametrize(
    "connection",
    ["keep-alive, Upgrade", "UPGRADE", "upgrade ,keep-alive", "Upgrade, HTTP2-Settings"],
)
def test_connection_upgrade_as_a_token(connection: str) -> None:
    server_handshake("GET", (1, 1), headers(Connection=connection))


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"Connection": "notupgrade"}, 400),
        ({"Connection": "upgraded"}, 400),
        ({"Connection": "keep-alive"}, 400),
        ({"Connection": ""}, 400),
        ({"Upgrade": "h2c"}, 400),
        ({"Upgrade": "websockets"}, 400),
        ({"Upgrade": ""}, 400),
        ({"Sec-WebSocket-Version": "8"}, 426),
        ({"Sec-WebSocket-Version": ""}, 426),
        ({"Sec-WebSocket-Version": "13, 8"}, 426),
        ({"Sec-WebSocket-Key": ""}, 400),
        ({"Sec-WebSocket-Key": "abc"}, 400),
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}, 400),  # no padding
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZSE="}, 400),  # 17 bytes
        ({"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25j*Q=="}, 400),
    ],
)
def test_refused_handshakes(changes: dict[str, str], status: int) -> None:
    with pytest.raises(HandshakeError) as info:
        server_handshake("GET", (1, 1), headers(**changes))
    assert info.value.status == status
    if status == 426:
        assert info.value.headers == [("Sec-WebSocket-Version", "13")]


def test_method_and_version() -> None:
    with pytest.raises(HandshakeError) as info:
        server_handshake("POST", (1, 1), headers())
    assert info.value.status == 405
    with pytest.raises(HandshakeError) as info:
        server_handshake("GET", (1, 0), headers())
    assert info.value.status == 400


def test_upgrade_token_in_a_list() -> None:
    server_handshake("GET", (1, 1), headers(Upgrade="foo/2, WebSocket"))


def test_subprotocol_selection() -> None:
    # The client's order decides among the protocols the server supports (aiohttp's rule).
    assert select_protocol(["chat, superchat"], ["superchat", "chat"]) == "chat"
    assert select_protocol(["a", "b, chat"], ["chat"]) == "chat"
    assert select_protocol(["Chat"], ["chat"]) is None  # case-sensitive
    assert select_protocol(["chat"], []) is None
    hs = server_handshake(
        "GET", (1, 1), headers(Sec_WebSocket_Protocol="v2.proto, v1.proto"), protocols=["v1.proto"]
    )
    assert hs.protocol == "v1.proto"
    assert ("Sec-WebSocket-Protocol", "v1.proto") in hs.headers


def test_compression_negotiated_or_not() -> None:
    h = headers(Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits")
    assert server_handshake("GET", (1, 1), h).deflate is not None
    assert server_handshake("GET", (1, 1), h, compress=False).deflate is None


def test_header_tokens() -> None:
    assert header_tokens([" a ,b", ",, c"]) == ["a", "b", "c"]


def test_client_side() -> None:
    req = client_request(protocols=["chat"], key=KEY)
    assert ("Sec-WebSocket-Key", KEY) in req.headers
    answer: CIMultiDict[str] = CIMultiDict(
        {
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Accept": accept_key(KEY),
            "Sec-WebSocket-Protocol": "chat",
            "Sec-WebSocket-Extensions": "permessage-deflate",
        }
    )
    protocol, deflate = check_response(req, 101, answer)
    assert protocol == "chat" and deflate is not None
    for name, value in [
        ("Sec-WebSocket-Accept", "wrong"),
        ("Sec-WebSocket-Protocol", "other"),
        ("Sec-WebSocket-Extensions", "x-foo"),
        ("Connection", "close"),
    ]:
        bad = answer.copy()
        bad[name] = value
        with pytest.raises(HandshakeError):
            check_response(req, 101, bad)
    with pytest.raises(HandshakeError) as info:
        check_response(req, 403, answer)
    assert info.value.status == 403


# -- over a connection --------------------------------------------------------------------


async def ws_handler(request: BaseRequest) -> StreamResponse:
    ws = WebSocketResponse(protocols=["chat"])
    await ws.prepare(request)
    await ws.send_str(f"protocol={ws.ws_protocol}")
    await ws.close()
    return ws


def raw(method: str = "GET", version: str = "1.1", **extra: str) -> bytes:
    h = headers(**extra)
    lines = [f"{method} / HTTP/{version}"] + [f"{k}: {v}" for k, v in h.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def test_101_response_on_the_wire() -> None:
    async with serve(ws_handler) as port:
        client = await connect(port, raw(Sec_WebSocket_Protocol="x, chat"))
        head = client.head.decode()
        assert head.startswith("HTTP/1.1 101 Switching Protocols\r\n")
        assert "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in head
        assert "Sec-WebSocket-Protocol: chat" in head
        assert "Content-Length" not in head and "Transfer-Encoding" not in head
        assert (await client.recv()).data == "protocol=chat"
        await client.close()


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (raw(Connection="notupgrade"), 400),
        (raw(Sec_WebSocket_Version="12"), 426),
        (raw(Sec_WebSocket_Key="short"), 400),
        (raw(method="POST"), 405),
    ],
)
async def test_refusals_on_the_wire(request_bytes: bytes, status: int) -> None:
    async with serve(ws_handler) as port:
        client = await connect(port, request_bytes)
        assert client.status == status
        if status == 426:
            assert b"Sec-WebSocket-Version: 13" in client.head
        if status == 405:
            assert b"Allow: GET" in client.head
        await client.close()


async def test_connection_keep_alive_upgrade_is_accepted() -> None:
    async with serve(ws_handler) as port:
        client = await connect(port, raw(Connection="keep-alive, Upgrade"))
        assert client.status == 101
        await client.close()


async def test_can_prepare() -> None:
    seen: list[WebSocketReady] = []

    async def handler(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse(protocols=["chat"])
        ready = ws.can_prepare(request)
        seen.append(ready)
        if not ready:
            return Response(text="plain http")
        await ws.prepare(request)
        with pytest.raises(RuntimeError):
            ws.can_prepare(request)
        await ws.close()
        return ws

    async with serve(handler) as port:
        client = await connect(port, raw(Sec_WebSocket_Protocol="chat"))
        assert client.status == 101
        await client.close()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await reader.read()).endswith(b"plain http")
        writer.close()
        await writer.wait_closed()
    assert seen == [WebSocketReady(True, "chat"), WebSocketReady(False, None)]
    assert not WebSocketReady(False, None)


async def test_frames_sent_with_the_handshake_are_not_lost() -> None:
    async def echo(request: BaseRequest) -> StreamResponse:
        ws = WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    async with serve(echo) as port:
        from tests.ws.helpers import masked

        client = await connect(port, then=masked(0x81, b"early") + masked(0x81, b"bird"))
        assert (await client.recv()).data == "early"
        assert (await client.recv()).data == "bird"
        await client.close()
