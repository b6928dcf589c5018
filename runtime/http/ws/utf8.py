"""Incremental UTF-8 decoding of text messages, failing on the first invalid byte.

RFC 6455 8.1: a text message that is not valid UTF-8 fails the connection. Decoding each
piece as it arrives (across fragments and across reads inside one frame) finds an invalid
prefix at once, so a peer cannot make us buffer a long message that is already doomed.
"""

from __future__ import annotations

import codecs

from .models import WebSocketError, WSCloseCode

__all__ = ["Utf8Decoder"]

# The C function behind codecs' incremental UTF-8 decoder, called directly: an incremental
# decoder object per message costs more than the decoding of a small message.
_utf8_decode = codecs.utf_8_decode


class Utf8Decoder:
    """Decodes one text message piece by piece; keeps the decoded parts.

    Args:
        keep: keep the decoded text; ``False`` only validates (the message is handed on
            as bytes, aiohttp's ``decode_text=False``, and :meth:`finish` returns ``""``).
    """

    __slots__ = ("_keep", "_parts", "_pending")

    def __init__(self, *, keep: bool = True) -> None:
        self._pending = b""  # the start of a sequence split across pieces
        self._parts: list[str] = []
        self._keep = keep

    def feed(self, data: bytes) -> None:
        """Decode the next piece.

        Raises:
            WebSocketError: 1007 as soon as the bytes so far cannot start valid UTF-8.
        """
        if self._pending:
            data = self._pending + data
        try:
            text, used = _utf8_decode(data, "strict", False)
        except UnicodeDecodeError:
            raise WebSocketError(
                WSCloseCode.INVALID_TEXT, "Invalid UTF-8 in text message"
            ) from None
        self._pending = data[used:]
        if text and self._keep:
            self._parts.append(text)

    def finish(self) -> str:
        """The whole message's text.

        Raises:
            WebSocketError: 1007 when the message ends inside a multi-byte sequence.
        """
        if self._pending:
            raise WebSocketError(
                WSCloseCode.INVALID_TEXT, "Text message ends inside a UTF-8 sequence"
            )
        parts = self._parts
        return parts[0] if len(parts) == 1 else "".join(parts)
