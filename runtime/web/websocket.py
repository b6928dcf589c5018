"""``WebSocketResponse``: the server side of a WebSocket (aiohttp.web's API).

``prepare(request)`` checks the handshake, answers 101 through the normal response path
(so ``on_response_prepare`` runs), then takes the connection over from the HTTP protocol
with ``request.protocol.upgrade()``. The message API lives in :class:`WebSocketBase`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Generic, Literal, overload

from ..http.writer import ResponseWriter
from ..http.ws import (
    DEFAULT_MAX_FRAGMENTS,
    DEFAULT_MAX_MSG_SIZE,
    FrameReader,
    FrameWriter,
    HandshakeError,
    ServerHandshake,
    WSCloseCode,
    server_handshake,
)
from ..server.flow import FlowControl
from ..websocket.closing import close_transport
from ..websocket.connection import WebSocketBase, ws_logger
from .exceptions import HTTPBadRequest, HTTPException, HTTPMethodNotAllowed, HTTPUpgradeRequired
from .request import Request
from .response import StreamResponse
from .websocket_registry import websockets

if TYPE_CHECKING:
    # PEP 696's default (Python 3.13's typing): a bare ``WebSocketResponse`` decodes text.
    from typing_extensions import TypeVar

    _DecodeText_co = TypeVar("_DecodeText_co", bound=bool, covariant=True, default=Literal[True])

    from .request import BaseRequest
else:
    from typing import TypeVar

    _DecodeText_co = TypeVar("_DecodeText_co", bound=bool, covariant=True)

__all__ = ["WebSocketReady", "WebSocketResponse"]


def _nothing() -> None:
    pass


@dataclass(frozen=True, slots=True)
class WebSocketReady:
    """What :meth:`WebSocketResponse.can_prepare` found: whether the handshake would
    succeed, and the subprotocol it would select."""

    ok: bool
    protocol: str | None

    def __bool__(self) -> bool:
        return self.ok


class WebSocketResponse(WebSocketBase, StreamResponse, Generic[_DecodeText_co]):
    """A WebSocket, answered from a request handler.

    Generic in whether TEXT messages arrive decoded, as aiohttp 3.14's is:
    ``WebSocketResponse[Literal[False]]`` (``decode_text=False``) hands TEXT data on as
    ``bytes``, so ``receive_str()`` returns bytes and ``receive_json(loads=orjson.loads)``
    skips a decode and re-encode.

    Args:
        timeout: seconds ``close()`` waits for the peer's Close before dropping the
            connection.
        receive_timeout: default timeout of ``receive()`` (``None``: wait forever).
        autoclose: answer the peer's Close at once (otherwise call ``close()`` yourself
            after ``receive()`` returned the CLOSE message).
        autoping: answer pings and swallow pongs (otherwise ``receive()`` returns them).
        heartbeat: send a ping after this many idle seconds; no answer within half of it
            closes the connection (code 1006) and ``receive()`` returns an ERROR message.
        protocols: subprotocols the server speaks; the first one the client lists that is
            among them is selected.
        compress: accept permessage-deflate (RFC 7692) when the client offers it.
        max_msg_size: the largest message accepted, after decompression (0: no limit);
            a larger one closes the connection with 1009.
        max_fragments: the most frames one message may be split into (1009 above it).
        writer_limit: the most bytes that may wait unsent before ``send_*()`` waits for
            the peer to read (``None``: the transport's default, 64 KiB).
        decode_text: TEXT messages as ``str`` (the default) or as their UTF-8 ``bytes``;
            either way invalid UTF-8 closes the connection with 1007 (RFC 6455 8.1).
    """

    @overload
    def __init__(
        self: WebSocketResponse[Literal[True]],
        *,
        timeout: float = ...,
        receive_timeout: float | None = ...,
        autoclose: bool = ...,
        autoping: bool = ...,
        heartbeat: float | None = ...,
        protocols: Iterable[str] = ...,
        compress: bool = ...,
        max_msg_size: int = ...,
        max_fragments: int = ...,
        writer_limit: int | None = ...,
        decode_text: Literal[True] = ...,
    ) -> None: ...

    @overload
    def __init__(
        self: WebSocketResponse[Literal[False]],
        *,
        timeout: float = ...,
        receive_timeout: float | None = ...,
        autoclose: bool = ...,
        autoping: bool = ...,
        heartbeat: float | None = ...,
        protocols: Iterable[str] = ...,
        compress: bool = ...,
        max_msg_size: int = ...,
        max_fragments: int = ...,
        writer_limit: int | None = ...,
        decode_text: Literal[False],
    ) -> None: ...

    @overload
    def __init__(
        self: WebSocketResponse[bool],
        *,
        timeout: float = ...,
        receive_timeout: float | None = ...,
        autoclose: bool = ...,
        autoping: bool = ...,
        heartbeat: float | None = ...,
        protocols: Iterable[str] = ...,
        compress: bool = ...,
        max_msg_size: int = ...,
        max_fragments: int = ...,
        writer_limit: int | None = ...,
        decode_text: bool,
    ) -> None: ...

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        receive_timeout: float | None = None,
        autoclose: bool = True,
        autoping: bool = True,
        heartbeat: float | None = None,
        protocols: Iterable[str] = (),
        compress: bool = True,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        writer_limit: int | None = None,
        decode_text: bool = True,
    ) -> None:
        if writer_limit is not None and writer_limit < 0:
            raise ValueError(f"writer_limit must be >= 0, got {writer_limit!r}")
        StreamResponse.__init__(self, status=101)
        self._init_ws(
            timeout=timeout,
            receive_timeout=receive_timeout,
            autoclose=autoclose,
            autoping=autoping,
            heartbeat=heartbeat,
            max_msg_size=max_msg_size,
        )
        self._protocols = tuple(protocols)
        self._compress = compress
        self._max_fragments = max_fragments
        self._writer_limit = writer_limit
        self._decode_text = decode_text
        self._ws_protocol: str | None = None

    # -- handshake --------------------------------------------------------------------------

    def _handshake(self, request: BaseRequest) -> ServerHandshake:
        try:
            handshake = server_handshake(
                request.method,
                request.version,
                request.headers,
                protocols=self._protocols,
                compress=self._compress,
            )
        except HandshakeError as exc:
            raise _http_error(request, exc) from None
        if not request._message.upgrade:
            # The parser carries on with HTTP after an upgrade request with a body (RFC
            # 9110 7.8): the bytes after it are not ours to take.
            raise HTTPBadRequest(text="WebSocket handshake request must not have a body")
        if (
            self._protocols
            and handshake.protocol is None
            and "Sec-WebSocket-Protocol" in (request.headers)
        ):
            ws_logger.info(
                "Client protocols %r do not overlap the server's %r",
                request.headers.getall("Sec-WebSocket-Protocol"),
                self._protocols,
            )
        return handshake

    def can_prepare(self, request: BaseRequest) -> WebSocketReady:
        """Whether ``prepare(request)`` would succeed, without answering anything.

        Raises:
            RuntimeError: the response is already prepared.
        """
        if self._ws_writer is not None or self.prepared:
            raise RuntimeError("Already started")
        try:
            handshake = self._handshake(request)
        except HTTPException:
            return WebSocketReady(False, None)
        return WebSocketReady(True, handshake.protocol)

    async def prepare(self, request: BaseRequest) -> ResponseWriter | None:
        """Check the handshake, answer 101 and take the connection over.

        Raises:
            HTTPBadRequest: an invalid handshake (400).
            HTTPMethodNotAllowed: not a GET (405).
            HTTPUpgradeRequired: a WebSocket version other than 13 (426, with
                ``Sec-WebSocket-Version: 13``, RFC 6455 4.4).
        """
        if self.prepared:
            return self._writer
        handshake = self._handshake(request)
        for name, value in handshake.headers:
            self.headers[name] = value
        # A status set before the handshake (aiohttp lets handlers do so) gives way to
        # 101 once the upgrade is accepted (RFC 9110 15.2.2).
        self.set_status(101)
        writer = await super().prepare(request)
        self._take_over(request, handshake)
        return writer

    def _take_over(self, request: BaseRequest, handshake: ServerHandshake) -> None:
        protocol = request.protocol
        flow = protocol.flow
        self._ws_protocol = handshake.protocol
        self._attach(
            request._loop,
            protocol.transport,
            FrameReader(
                max_msg_size=self._max_msg_size,
                max_fragments=self._max_fragments,
                deflate=handshake.deflate,
                decode_text=self._decode_text,
            ),
            FrameWriter(deflate=handshake.deflate),
            drain=protocol.drain,
            pause_reading=partial(flow.pause_reading, FlowControl.UPGRADE) if flow else _nothing,
            resume_reading=partial(flow.resume_reading, FlowControl.UPGRADE) if flow else _nothing,
        )
        if self._conn_lost:
            return
        if self._writer_limit is not None and protocol.transport is not None:
            protocol.transport.set_write_buffer_limits(high=self._writer_limit)
        tail = protocol.upgrade(self._on_data, self._on_eof, owner=self)
        if isinstance(request, Request) and request._match_info is not None:
            for app in request.match_info.apps:
                websockets(app).add(self)
        if request.task is not None:
            request.task.add_done_callback(self._on_handler_done)
        if tail:
            self._on_data(tail)

    def _on_handler_done(self, task: asyncio.Task[Any]) -> None:
        # The handler ended (raised, was cancelled, or returned another response) without
        # closing: nobody will read any more, so fail the connection with 1011.
        if self._close_sent or self._conn_lost:
            return
        self._close_sent = True
        self._cancel_heartbeat()
        self._write(self._frames().close(WSCloseCode.INTERNAL_ERROR))
        close_transport(self)

    # -- state ------------------------------------------------------------------------------

    @property
    def ws_protocol(self) -> str | None:
        """The selected subprotocol."""
        return self._ws_protocol

    @property
    def compress(self) -> bool:
        """Before ``prepare()``: whether compression is offered; after: whether agreed."""
        if self._ws_writer is None:
            return self._compress
        return self._ws_writer.compress

    # -- messages: typed by decode_text ---------------------------------------------------

    # WebSocketBase (shared with the client) types TEXT as str; these overloads add the
    # bytes of decode_text=False, which mypy reads as an incompatible override.
    @overload  # type: ignore[override]
    async def receive_str(
        self: WebSocketResponse[Literal[True]], *, timeout: float | None = None
    ) -> str: ...

    @overload
    async def receive_str(
        self: WebSocketResponse[Literal[False]], *, timeout: float | None = None
    ) -> bytes: ...

    @overload
    async def receive_str(
        self: WebSocketResponse[_DecodeText_co], *, timeout: float | None = None
    ) -> str | bytes: ...

    async def receive_str(self, *, timeout: float | None = None) -> str | bytes:
        """The next message, which must be TEXT: ``str``, or ``bytes`` with
        ``decode_text=False``.

        Raises:
            WSMessageTypeError: another kind of message arrived.
        """
        return await WebSocketBase.receive_str(self, timeout=timeout)

    @overload
    async def receive_json(
        self: WebSocketResponse[Literal[True]],
        *,
        loads: Callable[[str], Any] = ...,
        timeout: float | None = None,
    ) -> Any: ...

    @overload
    async def receive_json(
        self: WebSocketResponse[Literal[False]],
        *,
        loads: Callable[[bytes], Any] = ...,
        timeout: float | None = None,
    ) -> Any: ...

    @overload
    async def receive_json(
        self: WebSocketResponse[_DecodeText_co],
        *,
        loads: Callable[[str], Any] | Callable[[bytes], Any] = ...,
        timeout: float | None = None,
    ) -> Any: ...

    async def receive_json(
        self,
        *,
        loads: Callable[[str], Any] | Callable[[bytes], Any] = json.loads,
        timeout: float | None = None,
    ) -> Any:
        """The next message, a TEXT one, decoded with ``loads`` (which gets ``bytes`` with
        ``decode_text=False``; ``json.loads`` takes either)."""
        return loads(await self.receive_str(timeout=timeout))  # type: ignore[arg-type]

    # -- StreamResponse ---------------------------------------------------------------------

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Not available: send with ``send_str``/``send_bytes``/``send_json``."""
        raise RuntimeError("Cannot call .write() for websocket")

    async def write_eof(self, data: bytes = b"") -> None:
        """End the response: close the WebSocket (the server calls this when the handler
        returns)."""
        if self._eof_sent:
            return
        if not self.prepared:
            raise RuntimeError("Response has not been started")
        await self.close()
        self._eof_sent = True

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open" if self.prepared else "not prepared"
        return f"<WebSocketResponse {state}>"


def _http_error(request: BaseRequest, exc: HandshakeError) -> HTTPException:
    if exc.status == 405:
        return HTTPMethodNotAllowed(request.method, ["GET"], text=exc.message)
    if exc.status == 426:
        return HTTPUpgradeRequired(headers=exc.headers, text=exc.message)
    return HTTPBadRequest(text=exc.message)
