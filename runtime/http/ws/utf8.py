"""Incremental UTF-8 decoding of text messages, failing on the first invalid byte.

RFC 6455 8.1: a text message that is not valid UTF-8 fails the connection. Decoding each
piece as it arrives (across fragments and across reads inside one frame) finds an invalid
prefix at once, so a peer cannot make us buffer a long message that is already doomed.
"""

from __future__ import annotations

import codecs

from .models import WebSocketError, WSCloseCode

__all__ = ["Utf8Decoder"]

_DECODER = codecs.getincrementaldecoder("utf-8")


class Utf8Decoder:
    """Decodes one text message piece by piece; keeps the decoded parts."""

    __slots__ = ("_decoder", "_parts")

    def __init__(self) -> None:
        self._decoder = _DECODER("strict")
        self._parts: list[str] = []

    def feed(self, data: bytes) -> None:
        """Decode the next piece.

        Raises:
            WebSocketError: 1007 as soon as the bytes so far cannot start valid UTF-8.
        """
        try:
            text = self._decoder.decode(data, False)
        except UnicodeDecodeError:
            raise WebSocketError(
                WSCloseCode.INVALID_TEXT, "Invalid UTF-8 in text message"
            ) from None
        if text:
            self._parts.append(text)

    def finish(self) -> str:
        """The whole message's text.

        Raises:
            WebSocketError: 1007 when the message ends inside a multi-byte sequence.
        """
        try:
            tail = self._decoder.decode(b"", True)
        except UnicodeDecodeError:
            raise WebSocketError(
                WSCloseCode.INVALID_TEXT, "Text message ends inside a UTF-8 sequence"
            ) from None
        parts = self._parts
        if tail:
            parts.append(tail)
        return parts[0] if len(parts) == 1 else "".join(parts)
