"""The opening handshake (RFC 6455 4): checking a request, building the answer, and the
client's side of both.

Everything here works on header values; the web layer turns a :class:`HandshakeError` into
its HTTP response.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from multidict import MultiMapping

from .deflate import DeflateParams, NegotiationError, client_offer, negotiate, parse_response

__all__ = [
    "WS_GUID",
    "ClientHandshake",
    "HandshakeError",
    "ServerHandshake",
    "accept_key",
    "check_response",
    "client_request",
    "header_tokens",
    "server_handshake",
]

# RFC 6455 1.3: the GUID appended to the client's key to compute Sec-WebSocket-Accept.
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
VERSION = "13"

Headers = MultiMapping[str]


class HandshakeError(Exception):
    """A handshake that cannot succeed.

    Attributes:
        status: the HTTP status to answer with (server side), or the one received.
        headers: header fields the answer must carry (``Sec-WebSocket-Version`` on 426).
    """

    def __init__(self, status: int, message: str, headers: Sequence[tuple[str, str]] = ()) -> None:
        self.status = status
        self.message = message
        self.headers = list(headers)
        super().__init__(message)


def header_tokens(values: Iterable[str]) -> list[str]:
    """The comma-separated elements of header values (RFC 9110 5.6.1), stripped, empty
    ones dropped. Case is kept; compare lower-cased where the field is case-insensitive."""
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def _has_token(headers: Headers, name: str, token: str) -> bool:
    # A token match, not a substring one: "Connection: keep-alive, Upgrade" has it,
    # "Connection: notupgrade" does not (RFC 9110 7.6.1, RFC 6455 4.2.1).
    return token in (t.lower() for t in header_tokens(headers.getall(name, [])))


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 4.2.2 item 5.4)."""
    digest = hashlib.sha1(key.encode("ascii") + WS_GUID).digest()
    return base64.b64encode(digest).decode("ascii")


def _check_key(headers: Headers) -> str:
    keys = headers.getall("Sec-WebSocket-Key", [])
    if len(keys) != 1:
        raise HandshakeError(400, "Expected one Sec-WebSocket-Key header")
    key = keys[0].strip()
    try:
        # RFC 6455 4.2.1 item 5: the base64 encoding of 16 bytes.
        raw = base64.b64decode(key.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raw = b""
    if len(raw) != 16:
        raise HandshakeError(400, f"Invalid Sec-WebSocket-Key {key!r}")
    return key


@dataclass(slots=True)
class ServerHandshake:
    """An accepted handshake: what the 101 response says and what was agreed."""

    accept: str
    protocol: str | None
    deflate: DeflateParams | None
    headers: list[tuple[str, str]] = field(default_factory=list)


def server_handshake(
    method: str,
    version: tuple[int, int],
    headers: Headers,
    *,
    protocols: Sequence[str] = (),
    compress: bool = True,
) -> ServerHandshake:
    """Check an upgrade request (RFC 6455 4.2.1) and build the 101 answer (4.2.2).

    The subprotocol is the first one the client lists that the server supports (the
    client's order, as aiohttp picks it); without a match, none is selected.

    Raises:
        HandshakeError: 405 for a method other than GET, 426 (with
            ``Sec-WebSocket-Version: 13``) for another version, 400 otherwise.
    """
    if method != "GET":
        raise HandshakeError(
            405, f"WebSocket handshake needs GET, not {method}", [("Allow", "GET")]
        )
    if version < (1, 1):
        raise HandshakeError(400, "WebSocket handshake needs HTTP/1.1")
    if not _has_token(headers, "Upgrade", "websocket"):
        raise HandshakeError(400, "Missing 'Upgrade: websocket' header")
    if not _has_token(headers, "Connection", "upgrade"):
        raise HandshakeError(400, "Missing 'Connection: upgrade' header")
    versions = header_tokens(headers.getall("Sec-WebSocket-Version", []))
    if versions != [VERSION]:
        # RFC 6455 4.2.2 item 4 / 4.4: tell the client which version we speak.
        raise HandshakeError(
            426, f"Unsupported WebSocket version {versions}", [("Sec-WebSocket-Version", VERSION)]
        )
    key = _check_key(headers)
    protocol = select_protocol(headers.getall("Sec-WebSocket-Protocol", []), protocols)
    accept = accept_key(key)
    answer = [("Upgrade", "websocket"), ("Connection", "upgrade"), ("Sec-WebSocket-Accept", accept)]
    if protocol is not None:
        answer.append(("Sec-WebSocket-Protocol", protocol))
    deflate = None
    if compress:
        agreed = negotiate(headers.getall("Sec-WebSocket-Extensions", []))
        if agreed is not None:
            deflate, value = agreed
            answer.append(("Sec-WebSocket-Extensions", value))
    return ServerHandshake(accept, protocol, deflate, answer)


def select_protocol(offered: Iterable[str], supported: Sequence[str]) -> str | None:
    """The first subprotocol the client offered that the server supports (case-sensitive,
    RFC 6455 4.2.2 item 5.4 / 11.5)."""
    if not supported:
        return None
    for name in header_tokens(offered):
        if name in supported:
            return name
    return None


@dataclass(slots=True)
class ClientHandshake:
    """What a client sends and needs to check the server's answer."""

    key: str
    headers: list[tuple[str, str]]
    protocols: tuple[str, ...]
    offer: str | None
    server_max_window_bits: int | None = None


def client_request(
    *,
    protocols: Sequence[str] = (),
    compress: int = 15,
    key: str | None = None,
) -> ClientHandshake:
    """The handshake header fields a client adds to its GET (RFC 6455 4.1).

    Args:
        protocols: the subprotocols offered, preferred first.
        compress: 0 to offer no compression; 9-15 to offer permessage-deflate, asking the
            server for a window of at most that many bits when below 15 (aiohttp's
            ``compress``).
        key: the ``Sec-WebSocket-Key`` (random by default, RFC 6455 4.1 item 7).
    """
    if compress and not 9 <= compress <= 15:
        raise ValueError("compress must be 0 or window bits from 9 to 15")
    key = key or base64.b64encode(os.urandom(16)).decode("ascii")
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", VERSION),
    ]
    if protocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(protocols)))
    offer = None
    server_bits = compress if compress and compress < 15 else None
    if compress:
        offer = client_offer(server_max_window_bits=server_bits)
        headers.append(("Sec-WebSocket-Extensions", offer))
    return ClientHandshake(key, headers, tuple(protocols), offer, server_bits)


def check_response(
    request: ClientHandshake, status: int, headers: Headers
) -> tuple[str | None, DeflateParams | None]:
    """Check the server's answer (RFC 6455 4.1, the client's checks 1-6).

    Returns:
        The selected subprotocol and the agreed compression.

    Raises:
        HandshakeError: with the received status, when the client must fail the connection.
    """
    if status != 101:
        raise HandshakeError(status, f"Expected status 101, got {status}")
    if not _has_token(headers, "Upgrade", "websocket"):
        raise HandshakeError(status, "Response lacks 'Upgrade: websocket'")
    if not _has_token(headers, "Connection", "upgrade"):
        raise HandshakeError(status, "Response lacks 'Connection: upgrade'")
    if headers.getall("Sec-WebSocket-Accept", []) != [accept_key(request.key)]:
        raise HandshakeError(status, "Wrong Sec-WebSocket-Accept")
    chosen = header_tokens(headers.getall("Sec-WebSocket-Protocol", []))
    if len(chosen) > 1 or (chosen and chosen[0] not in request.protocols):
        raise HandshakeError(status, f"The server chose a subprotocol we did not offer: {chosen}")
    extensions = headers.getall("Sec-WebSocket-Extensions", [])
    deflate = None
    if extensions:
        if request.offer is None:
            raise HandshakeError(status, "The server enabled an extension we did not offer")
        try:
            deflate = parse_response(
                extensions, server_max_window_bits=request.server_max_window_bits
            )
        except NegotiationError as exc:
            raise HandshakeError(status, f"Bad Sec-WebSocket-Extensions: {exc}") from None
    return (chosen[0] if chosen else None), deflate
