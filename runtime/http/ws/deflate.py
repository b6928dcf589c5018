"""permessage-deflate (RFC 7692): negotiation, and the compressor and decompressor.

Negotiation works on the ``Sec-WebSocket-Extensions`` values (RFC 6455 9.1). The server
walks the client's offers in order and accepts the first one it can honour (RFC 7692 5);
the client checks that the server's answer agrees with what it offered (RFC 7692 7.1).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from ..grammar import TOKEN_RE
from .models import WebSocketError, WSCloseCode

__all__ = [
    "DeflateParams",
    "Deflater",
    "Inflater",
    "NegotiationError",
    "client_offer",
    "negotiate",
    "parse_extensions",
    "parse_response",
]

EXTENSION = "permessage-deflate"
# RFC 7692 7.2.1: a sender removes these four octets from the end of each compressed
# message; the receiver appends them back before inflating (7.2.2).
_TAIL = b"\x00\x00\xff\xff"
# RFC 7692 7.1.2: window bits are a decimal integer from 8 to 15, without leading zeros.
_BITS = re.compile(r"(?:8|9|1[0-5])\Z")

Params = list[tuple[str, str | None]]


class NegotiationError(ValueError):
    """An extension offer or answer that cannot be accepted."""


@dataclass(frozen=True, slots=True)
class DeflateParams:
    """The agreed permessage-deflate parameters (RFC 7692 7.1)."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int = 15
    client_max_window_bits: int = 15

    def header_value(self, *, client_bits: bool = False) -> str:
        """The extension as it appears in a handshake response.

        Args:
            client_bits: mention ``client_max_window_bits`` even at 15 (the server does so
                only when the client offered the parameter).
        """
        parts = [EXTENSION]
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_max_window_bits < 15:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        if self.client_max_window_bits < 15 or client_bits:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        return "; ".join(parts)

    def deflater(self, *, is_client: bool) -> Deflater:
        """The compressor for the messages this side sends."""
        if is_client:
            return Deflater(self.client_max_window_bits, self.client_no_context_takeover)
        return Deflater(self.server_max_window_bits, self.server_no_context_takeover)

    def inflater(self, *, is_client: bool) -> Inflater:
        """The decompressor for the messages the peer sends."""
        if is_client:
            return Inflater(reset_each_message=self.server_no_context_takeover)
        return Inflater(reset_each_message=self.client_no_context_takeover)


def parse_extensions(values: Iterable[str]) -> list[tuple[str, Params]]:
    """Parse ``Sec-WebSocket-Extensions`` values (RFC 6455 9.1) into (name, params) pairs.

    A quoted parameter value is unquoted; RFC 6455 9.1 requires it to be a token then.

    Raises:
        NegotiationError: a name or parameter that is not a token.
    """
    result: list[tuple[str, Params]] = []
    for value in values:
        for item in value.split(","):
            if not item.strip():
                continue  # RFC 9110 5.6.1: empty list elements are ignored
            name, *raw_params = (part.strip() for part in item.split(";"))
            if not TOKEN_RE.fullmatch(name):
                raise NegotiationError(f"Invalid extension name {name!r}")
            result.append((name.lower(), [_parse_param(p) for p in raw_params]))
    return result


def _parse_param(text: str) -> tuple[str, str | None]:
    key, sep, value = (s.strip() for s in text.partition("="))
    if not TOKEN_RE.fullmatch(key):
        raise NegotiationError(f"Invalid extension parameter {text!r}")
    if not sep:
        return key.lower(), None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not TOKEN_RE.fullmatch(value):
        raise NegotiationError(f"Invalid extension parameter value {text!r}")
    return key.lower(), value


@dataclass(slots=True)
class _Offer:
    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    # None: not offered; 0: offered without a value; 8-15: offered with a value.
    client_max_window_bits: int | None = None


def _read_params(params: Params, *, is_response: bool) -> _Offer:
    """Check a permessage-deflate parameter list (RFC 7692 7.1): known names, each once."""
    offer = _Offer()
    seen: set[str] = set()
    for key, value in params:
        if key in seen:
            raise NegotiationError(f"Duplicate parameter {key}")
        seen.add(key)
        if key in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise NegotiationError(f"{key} takes no value")
            setattr(offer, key, True)
        elif key == "server_max_window_bits":
            offer.server_max_window_bits = _bits(key, value)
        elif key == "client_max_window_bits":
            # Only an offer may leave the value out (RFC 7692 7.1.2.2).
            offer.client_max_window_bits = (
                0 if value is None and not is_response else _bits(key, value)
            )
        else:
            raise NegotiationError(f"Unknown parameter {key}")
    return offer


def _bits(key: str, value: str | None) -> int:
    if value is None or not _BITS.match(value):
        raise NegotiationError(f"Invalid {key} value {value!r}")
    return int(value)


def negotiate(
    values: Iterable[str],
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int = 15,
    client_max_window_bits: int = 15,
) -> tuple[DeflateParams, str] | None:
    """Server side: accept the first permessage-deflate offer we can honour.

    The keyword arguments are the server's own wishes; the agreed parameters satisfy both.

    Args:
        values: the request's ``Sec-WebSocket-Extensions`` values.

    Returns:
        The agreed parameters and the response header value, or ``None`` to go without
        compression (a malformed header or no acceptable offer).
    """
    if not 9 <= server_max_window_bits <= 15 or not 8 <= client_max_window_bits <= 15:
        raise ValueError("window bits must be 9-15 for the server and 8-15 for the client")
    try:
        extensions = parse_extensions(values)
    except NegotiationError:
        return None
    for name, params in extensions:
        if name != EXTENSION:
            continue
        try:
            offer = _read_params(params, is_response=False)
        except NegotiationError:
            continue  # RFC 7692 5: decline this offer, look at the next one
        server_bits = min(offer.server_max_window_bits or 15, server_max_window_bits)
        if server_bits == 8:
            # zlib cannot compress with a 256-byte window (it silently uses 512), and we
            # must not exceed what the client allows (RFC 7692 7.1.2.1): decline.
            continue
        client_bits = 15
        if offer.client_max_window_bits is not None:
            client_bits = min(offer.client_max_window_bits or 15, client_max_window_bits)
        agreed = DeflateParams(
            server_no_context_takeover=offer.server_no_context_takeover
            or server_no_context_takeover,
            client_no_context_takeover=offer.client_no_context_takeover
            or client_no_context_takeover,
            server_max_window_bits=server_bits,
            client_max_window_bits=client_bits,
        )
        return agreed, agreed.header_value()
    return None


def client_offer(
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    client_max_window_bits: int | None = None,
) -> str:
    """Client side: the ``Sec-WebSocket-Extensions`` value offering permessage-deflate.

    ``client_max_window_bits`` is always offered (without a value unless one is given), so
    the server may pick a smaller window for us (RFC 7692 7.1.2.2).
    """
    parts = [EXTENSION]
    if server_no_context_takeover:
        parts.append("server_no_context_takeover")
    if client_no_context_takeover:
        parts.append("client_no_context_takeover")
    if server_max_window_bits is not None:
        parts.append(f"server_max_window_bits={server_max_window_bits}")
    if client_max_window_bits is None:
        parts.append("client_max_window_bits")
    else:
        parts.append(f"client_max_window_bits={client_max_window_bits}")
    return "; ".join(parts)


def parse_response(
    values: Iterable[str],
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    client_max_window_bits: int | None = None,
) -> DeflateParams | None:
    """Client side: check the server's answer against the offer :func:`client_offer` made.

    The keyword arguments must be those given to :func:`client_offer`.

    Returns:
        The agreed parameters, or ``None`` when the server declined compression.

    Raises:
        NegotiationError: an extension we did not offer or parameters that break the
            offer; RFC 6455 4.1 says the client then fails the connection.
    """
    extensions = parse_extensions(values)
    if not extensions:
        return None
    if len(extensions) > 1 or extensions[0][0] != EXTENSION:
        raise NegotiationError("The server accepted an extension we did not offer")
    answer = _read_params(extensions[0][1], is_response=True)
    if server_no_context_takeover and not answer.server_no_context_takeover:
        raise NegotiationError("The server dropped server_no_context_takeover")
    server_bits = answer.server_max_window_bits
    if server_max_window_bits is not None and (
        server_bits is None or server_bits > server_max_window_bits
    ):
        raise NegotiationError("The server's window is larger than we allow")
    client_bits = answer.client_max_window_bits
    if (
        client_bits is not None
        and client_max_window_bits is not None
        and client_bits > client_max_window_bits
    ):
        raise NegotiationError("The server raised client_max_window_bits")
    if client_bits == 8:
        raise NegotiationError("client_max_window_bits=8 is not supported by zlib")
    return DeflateParams(
        server_no_context_takeover=answer.server_no_context_takeover,
        client_no_context_takeover=answer.client_no_context_takeover or client_no_context_takeover,
        server_max_window_bits=server_bits or 15,
        client_max_window_bits=client_bits or client_max_window_bits or 15,
    )


class Deflater:
    """Compresses whole messages (RFC 7692 7.2.1)."""

    __slots__ = ("_level", "_no_context_takeover", "_obj", "_wbits")

    def __init__(
        self,
        wbits: int = 15,
        no_context_takeover: bool = False,
        level: int = zlib.Z_DEFAULT_COMPRESSION,
    ) -> None:
        self._wbits = wbits
        self._level = level
        self._no_context_takeover = no_context_takeover
        self._obj = zlib.compressobj(level, zlib.DEFLATED, -wbits)

    def compress(self, data: bytes) -> bytes:
        """The compressed payload of one message, without the 00 00 ff ff tail."""
        # A full flush also forgets the window, which is what "no context takeover" asks
        # of us (RFC 7692 7.1.1); a sync flush keeps it for the next message.
        flush = zlib.Z_FULL_FLUSH if self._no_context_takeover else zlib.Z_SYNC_FLUSH
        out = self._obj.compress(data) + self._obj.flush(flush)
        if out.endswith(_TAIL):
            out = out[:-4]
        # RFC 7692 7.2.3.6: an empty message still needs one (empty) deflate block.
        return out or b"\x00"


class Inflater:
    """Decompresses messages, never producing more than the caller's limit."""

    __slots__ = ("_obj", "_reset")

    def __init__(self, *, reset_each_message: bool = False) -> None:
        self._reset = reset_each_message
        self._obj = zlib.decompressobj(-15)  # a 32 KiB window reads any smaller one too

    def feed(self, data: bytes, limit: int | None) -> bytes:
        """Inflate a piece of a compressed message.

        Args:
            limit: the most bytes this call may return; ``None`` for no limit.

        Raises:
            WebSocketError: 1009 when the output would pass ``limit`` (checked as zlib
                inflates, so a deflate bomb never expands past it); 1007 for data that
                is not a deflate stream.
        """
        out: list[bytes] = []
        produced = 0
        while data:
            obj = self._obj
            try:
                # max_length caps what zlib produces; 0 would mean "no cap" to zlib.
                chunk = (
                    obj.decompress(data, limit - produced + 1)
                    if limit is not None
                    else (obj.decompress(data))
                )
            except zlib.error as exc:
                raise WebSocketError(
                    WSCloseCode.INVALID_TEXT, f"Invalid compressed data: {exc}"
                ) from None
            produced += len(chunk)
            if limit is not None and produced > limit:
                raise WebSocketError(
                    WSCloseCode.MESSAGE_TOO_BIG, "Decompressed message exceeds the size limit"
                )
            out.append(chunk)
            data = b""
            if obj.eof:
                # A block with BFINAL set ends the stream (RFC 7692 7.2.3.5); anything after
                # it starts a new one.
                data = obj.unused_data
                self._obj = zlib.decompressobj(-15)
        return b"".join(out)

    def finish(self, limit: int | None) -> bytes:
        """End a message: inflate the removed tail (RFC 7692 7.2.2)."""
        out = self.feed(_TAIL, limit)
        if self._reset:
            self._obj = zlib.decompressobj(-15)
        return out
