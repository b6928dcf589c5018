"""Apply the PROXY protocol in front of an ``HttpProtocol``.

The gate sits between the transport and the HTTP protocol only until the PROXY header (or
its absence) is known. Then it records the client address as the connection's peer and hands
the transport straight to the HTTP protocol (``transport.set_protocol``), so it costs nothing
for the rest of the connection.

As in gunicorn (``http/message.py``), the header is optional; a peer outside
``proxy_allow_ips`` that sends one is refused with 403, a malformed header with 400.
"""

from __future__ import annotations

import asyncio
import logging
from typing import cast

from multidict import CIMultiDict

from ..http.errors import HttpProcessingError
from ..http.forwarded import AllowList
from ..http.proxy_protocol import ParseStatus, ProxyProtocolError, parse_proxy_header
from ..http.writer import http_date, reason_phrase, serialize_head
from ..server.protocol import HttpProtocol

__all__ = ["ProxyProtocolGate"]


class _Forbidden(HttpProcessingError):
    status = 403
    reason = "Forbidden"


class ProxyProtocolGate(asyncio.Protocol):
    """Reads an optional PROXY header, then gives the connection to ``inner``.

    Args:
        inner: the HTTP protocol for this connection.
        mode: ``"v1"``, ``"v2"`` or ``"auto"`` (gunicorn's ``proxy_protocol``, not ``"off"``).
        allow: who may send a header (``proxy_allow_ips``).
        logger: where refusals are reported.
    """

    def __init__(
        self, inner: HttpProtocol, mode: str, allow: AllowList, logger: logging.Logger
    ) -> None:
        self._inner = inner
        self._mode = mode
        self._allow = allow
        self._logger = logger
        self._transport: asyncio.Transport | None = None
        self._buffer = b""
        self._done = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        # The HTTP protocol starts now: it counts as a connection for limits and shutdown,
        # and its request-head deadline bounds a client that never finishes the header.
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._done:  # only until set_protocol takes effect
            self._inner.data_received(data)
            return
        self._buffer += data
        try:
            result = parse_proxy_header(self._buffer, self._mode)
        except ProxyProtocolError as exc:
            self._refuse(exc)
            return
        if result is ParseStatus.INCOMPLETE:
            return
        rest = self._buffer
        if result is not ParseStatus.ABSENT:
            peer = self._inner.peername
            if not self._allow.allows_peer(peer):
                self._refuse(_Forbidden(f"PROXY header from {peer[0]} not allowed"))
                return
            if result.client is not None:
                self._inner.peername = result.client
            rest = rest[result.length :]
        self._hand_over(rest)

    def _hand_over(self, rest: bytes) -> None:
        self._done = True
        self._buffer = b""
        transport = self._transport
        assert transport is not None
        transport.set_protocol(self._inner)
        if rest:
            self._inner.data_received(rest)

    def _refuse(self, error: HttpProcessingError) -> None:
        self._done = True
        self._buffer = b""
        self._logger.info("Refused PROXY header from %r: %s", self._inner.peername, error)
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        body = f"{error.status} {error.reason}: {error.message}\n".encode()
        headers: CIMultiDict[str] = CIMultiDict(
            {
                "Content-Type": "text/plain; charset=utf-8",
                "Content-Length": str(len(body)),
                "Connection": "close",
                "Date": http_date(),
            }
        )
        transport.write(serialize_head(error.status, reason_phrase(error.status), headers) + body)
        transport.close()

    def eof_received(self) -> bool | None:
        if self._done:
            return self._inner.eof_received()
        return None  # closed before the header ended: nothing to answer

    def connection_lost(self, exc: BaseException | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()
