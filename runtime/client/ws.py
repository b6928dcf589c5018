"""The client side of a WebSocket: ``ws_connect`` and ``ClientWebSocketResponse``.

The handshake goes through the session's upgrade seam (``ClientSession._upgrade``), which
hands back the transport and the bytes that followed the 101 response; the frames, the
message API, the heartbeat and the close handshake are the ones the server uses (the
protocol layer's ``runtime.http.ws`` and :class:`~runtime.websocket.connection.WebSocketBase`), with
client frames masked (RFC 6455 5.3).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict
from yarl import URL

from ..http.ws import (
    DEFAULT_MAX_MSG_SIZE,
    FrameReader,
    FrameWriter,
    HandshakeError,
    check_response,
    client_request,
)
from ..server.flow import FlowControl
from ..websocket.connection import WebSocketBase
from .errors import ClientResponseError
from .response import ClientResponse

if TYPE_CHECKING:
    from ..http.ws import DeflateParams
    from .session import ClientSession
    from .timeouts import ClientTimeout

__all__ = [
    "ClientWebSocketResponse",
    "WSServerHandshakeError",
    "WebSocketContextManager",
    "ws_connect",
]


class WSServerHandshakeError(ClientResponseError):
    """The server did not accept the WebSocket handshake (aiohttp's name)."""


class _WebSocketProtocol(asyncio.Protocol):
    """Routes the upgraded transport's events to the WebSocket."""

    def __init__(self, ws: ClientWebSocketResponse, flow: FlowControl) -> None:
        self._ws = ws
        self.flow = flow

    def data_received(self, data: bytes) -> None:
        self._ws._on_data(data)

    def eof_received(self) -> bool:
        self._ws._on_eof(None)
        return True  # _on_eof closes the transport itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self.flow.connection_lost(exc)
        self._ws._on_eof(exc)

    def pause_writing(self) -> None:
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        self.flow.resume_writing()


class ClientWebSocketResponse(WebSocketBase):
    """A client WebSocket: the server-side message API (``receive``, ``send_str``,
    ``async for``, ``close``...) on a connection made by :func:`ws_connect`."""

    def __init__(
        self,
        response: ClientResponse,
        transport: asyncio.Transport,
        tail: bytes,
        *,
        protocol: str | None,
        deflate: DeflateParams | None,
        timeout: float = 10.0,
        receive_timeout: float | None = None,
        autoclose: bool = True,
        autoping: bool = True,
        heartbeat: float | None = None,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
    ) -> None:
        self._init_ws(
            timeout=timeout,
            receive_timeout=receive_timeout,
            autoclose=autoclose,
            autoping=autoping,
            heartbeat=heartbeat,
            max_msg_size=max_msg_size,
        )
        self._response = response
        self._protocol = protocol
        self._deflate = deflate
        flow = FlowControl(transport)
        transport.set_protocol(_WebSocketProtocol(self, flow))
        self._attach(
            asyncio.get_running_loop(),
            transport,
            FrameReader(is_client=True, max_msg_size=max_msg_size, deflate=deflate),
            FrameWriter(is_client=True, deflate=deflate),
            drain=flow.drain,
            pause_reading=lambda: flow.pause_reading(FlowControl.UPGRADE),
            resume_reading=lambda: flow.resume_reading(FlowControl.UPGRADE),
        )
        with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
            transport.resume_reading()  # whatever the HTTP side paused is ours now
        if tail:
            self._on_data(tail)

    @property
    def response(self) -> ClientResponse:
        """The 101 response of the handshake."""
        return self._response

    @property
    def protocol(self) -> str | None:
        """The subprotocol the server selected."""
        return self._protocol

    @property
    def compress(self) -> int:
        """The server's window bits when permessage-deflate was agreed, else 0."""
        return self._deflate.server_max_window_bits if self._deflate is not None else 0

    @property
    def client_notakeover(self) -> bool:
        """Whether we compress without context takeover."""
        return self._deflate is not None and self._deflate.client_no_context_takeover

    async def __aenter__(self) -> ClientWebSocketResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<ClientWebSocketResponse {self._response.url} {state}>"


async def _connect(
    session: ClientSession,
    url: str | URL,
    *,
    protocols: Iterable[str] = (),
    timeout: float = 10.0,
    receive_timeout: float | None = None,
    autoclose: bool = True,
    autoping: bool = True,
    heartbeat: float | None = None,
    origin: str | None = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    compress: int = 0,
    max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
    handshake_timeout: ClientTimeout | None = None,
) -> ClientWebSocketResponse:
    target = URL(url)
    if target.scheme in ("ws", "wss"):
        target = target.with_scheme("http" if target.scheme == "ws" else "https")
    if params:
        target = target.update_query(params)
    handshake = client_request(protocols=tuple(protocols), compress=compress)
    request_headers: CIMultiDict[str] = CIMultiDict(headers or {})
    for name, value in handshake.headers:
        request_headers[name] = value
    if origin is not None:
        request_headers["Origin"] = origin
    resp, transport, tail = await session._upgrade(
        target, request_headers.items(), timeout=handshake_timeout
    )
    try:
        protocol, deflate = check_response(handshake, resp.status, resp.headers)
        if transport is None:
            raise HandshakeError(resp.status, "The connection was not upgraded")
    except HandshakeError as exc:
        resp.close()
        if transport is not None:
            transport.abort()
        raise WSServerHandshakeError(
            resp.request_info,
            resp.history,
            status=resp.status,
            message=exc.message,
            headers=resp.headers,
        ) from None
    return ClientWebSocketResponse(
        resp,
        transport,
        tail,
        protocol=protocol,
        deflate=deflate,
        timeout=timeout,
        receive_timeout=receive_timeout,
        autoclose=autoclose,
        autoping=autoping,
        heartbeat=heartbeat,
        max_msg_size=max_msg_size,
    )


class WebSocketContextManager:
    """What :func:`ws_connect` returns: await it, or use it with ``async with`` to close
    the WebSocket on the way out."""

    __slots__ = ("_coro", "_ws")

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._ws: ClientWebSocketResponse | None = None

    def __await__(self) -> Generator[Any, None, ClientWebSocketResponse]:
        ws: ClientWebSocketResponse = yield from self._coro.__await__()
        return ws

    async def __aenter__(self) -> ClientWebSocketResponse:
        self._ws = await self._coro
        return self._ws

    async def __aexit__(self, *exc_info: object) -> None:
        if self._ws is not None:
            await self._ws.close()


def ws_connect(
    session: ClientSession,
    url: str | URL,
    *,
    protocols: Iterable[str] = (),
    timeout: float = 10.0,
    receive_timeout: float | None = None,
    autoclose: bool = True,
    autoping: bool = True,
    heartbeat: float | None = None,
    origin: str | None = None,
    params: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    compress: int = 0,
    max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
    handshake_timeout: ClientTimeout | None = None,
) -> WebSocketContextManager:
    """Open a WebSocket with ``session`` (``session.ws_connect(url, ...)`` in aiohttp).

    Args:
        url: ``ws://``, ``wss://``, ``http://`` or ``https://`` URL.
        protocols: subprotocols to offer, preferred first.
        timeout: seconds ``close()`` waits for the server's Close.
        receive_timeout, autoclose, autoping, heartbeat, max_msg_size: as for the
            server's ``WebSocketResponse``.
        origin: an ``Origin`` header.
        params: query parameters added to the URL.
        headers: extra request headers.
        compress: 0 (aiohttp's default) offers no compression; 15 offers
            permessage-deflate; 9-14 also asks the server for a smaller window.
        handshake_timeout: the :class:`ClientTimeout` for the handshake request (the
            session's by default).

    Raises:
        WSServerHandshakeError: the server answered something other than a valid 101.
    """
    return WebSocketContextManager(
        _connect(
            session,
            url,
            protocols=protocols,
            timeout=timeout,
            receive_timeout=receive_timeout,
            autoclose=autoclose,
            autoping=autoping,
            heartbeat=heartbeat,
            origin=origin,
            params=params,
            headers=headers,
            compress=compress,
            max_msg_size=max_msg_size,
            handshake_timeout=handshake_timeout,
        )
    )
