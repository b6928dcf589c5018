"""The frame reader: bytes in, whole messages out (RFC 6455 5, RFC 7692 6).

``FrameReader.feed`` takes whatever the transport delivered (a part of a frame, many
frames) and returns the messages completed by it. A protocol violation ends the list with
an ``ERROR`` message carrying a :class:`WebSocketError` whose code is the close code to
fail the connection with; the reader then ignores further input.

Payload bytes go straight from the wire into the message being assembled (unmasked,
inflated and UTF-8 checked piece by piece), so memory holds at most one message, and the
size limit is checked against each frame's header before its payload is read.
"""

from __future__ import annotations

from typing import Final

from .close import parse_close_payload
from .deflate import DeflateParams, Inflater
from .models import WebSocketError, WSCloseCode, WSMessage, WSMsgType
from .utf8 import Utf8Decoder

__all__ = ["DEFAULT_MAX_FRAGMENTS", "DEFAULT_MAX_MSG_SIZE", "FrameReader", "unmask"]

DEFAULT_MAX_MSG_SIZE = 4 * 1024 * 1024
DEFAULT_MAX_FRAGMENTS = 2**17  # Autobahn 9.3.1 sends 4 MiB in 64-byte fragments: 65536

_CONTROL = frozenset({WSMsgType.CLOSE, WSMsgType.PING, WSMsgType.PONG})
_DATA = frozenset({WSMsgType.CONTINUATION, WSMsgType.TEXT, WSMsgType.BINARY})
_OPCODES = {int(op): op for op in _CONTROL | _DATA}
# Members as module constants: on Python 3.11 each ``WSMsgType.X`` goes through
# ``EnumType.__getattr__`` (about 50 ns, or 500 instructions, a read), here several a frame.
_CONTINUATION: Final = WSMsgType.CONTINUATION
_TEXT: Final = WSMsgType.TEXT
_BINARY: Final = WSMsgType.BINARY
_CLOSE: Final = WSMsgType.CLOSE
_ERROR: Final = WSMsgType.ERROR


def unmask(data: bytes, mask: bytes, offset: int = 0) -> bytes:
    """XOR ``data`` with the masking key (RFC 6455 5.3), starting ``offset`` bytes into it.

    The key repeated to the payload's length is XORed as one big integer: CPython does
    that in C, many times faster than a loop over bytes.
    """
    size = len(data)
    if not size:
        return b""
    shift = offset & 3
    if shift:
        mask = mask[shift:] + mask[:shift]
    key = (mask * ((size >> 2) + 1))[:size]
    value = int.from_bytes(data, "little") ^ int.from_bytes(key, "little")
    return value.to_bytes(size, "little")


def _message(kind: WSMsgType, data: object) -> WSMessage:
    """``WSMessage(kind, data, "")`` without the named tuple's ``__new__``, a Python
    function: the tuple is made directly, as that ``__new__`` makes it."""
    return tuple.__new__(WSMessage, (kind, data, ""))


class FrameReader:
    """Parses the frames one side of a connection receives.

    Args:
        is_client: parse as the client (frames must be unmasked) rather than the server
            (frames must be masked, RFC 6455 5.1).
        max_msg_size: the largest message, after decompression; 0 for no limit.
        max_fragments: the most frames one message may be split into.
        deflate: the agreed permessage-deflate parameters, ``None`` without compression.
        decode_text: hand TEXT messages on as ``str``; ``False`` keeps their bytes (still
            checked to be UTF-8, RFC 6455 8.1), for a ``loads`` that takes bytes.
    """

    __slots__ = (
        "_compressed",
        "_control",
        "_decode_text",
        "_decoder",
        "_fin",
        "_fragments",
        "_head",
        "_inflater",
        "_mask",
        "_max_fragments",
        "_max_size",
        "_msg_opcode",
        "_msg_size",
        "_offset",
        "_opcode",
        "_parts",
        "_remaining",
        "_text",
        "_wire_size",
        "failed",
        "is_client",
    )

    def __init__(
        self,
        *,
        is_client: bool = False,
        max_msg_size: int = DEFAULT_MAX_MSG_SIZE,
        max_fragments: int = DEFAULT_MAX_FRAGMENTS,
        deflate: DeflateParams | None = None,
        decode_text: bool = True,
    ) -> None:
        self.is_client = is_client
        self._decode_text = decode_text
        self.failed = False
        self._max_size = max_msg_size
        self._max_fragments = max_fragments
        self._inflater: Inflater | None = (
            deflate.inflater(is_client=is_client) if deflate is not None else None
        )
        # The frame being read.
        self._head = bytearray()
        self._remaining = -1  # payload bytes still to come; -1 while reading a header
        self._opcode = _CONTINUATION
        self._fin = True
        self._mask: bytes | None = None
        self._offset = 0
        self._control = b""
        # The data message being assembled (None between messages).
        self._msg_opcode: WSMsgType | None = None
        self._compressed = False
        self._fragments = 0
        self._msg_size = 0
        self._wire_size = 0
        self._parts: list[bytes] = []
        self._decoder: Utf8Decoder | None = None
        self._text = False  # the message is TEXT (its UTF-8 is checked)

    def feed(self, data: bytes) -> list[WSMessage]:
        """Parse ``data``; return the messages (data and control) it completed, in order."""
        out: list[WSMessage] = []
        if self.failed:
            return out
        try:
            pos = 0
            size = len(data)
            while pos < size:
                if self._remaining < 0:
                    pos = self._read_header(data, pos, out)
                    continue
                end = min(size, pos + self._remaining)
                self._read_payload(data[pos:end], out)
                pos = end
        except WebSocketError as exc:
            self.failed = True
            out.append(WSMessage(_ERROR, exc, None))
        return out

    # -- headers --------------------------------------------------------------------------

    def _read_header(self, data: bytes, pos: int, out: list[WSMessage]) -> int:
        head = self._head
        if len(head) < 2:
            take = 2 - len(head)
            head += data[pos : pos + take]
            pos += take
            if len(head) < 2:
                return pos
            self._check_first_bytes(head[0], head[1])
        length7 = head[1] & 0x7F
        need = 2 + (0 if length7 < 126 else 2 if length7 == 126 else 8) + (head[1] >> 7) * 4
        if len(head) < need:
            take = need - len(head)
            head += data[pos : pos + take]
            pos += take
            if len(head) < need:
                return pos
        self._begin_frame(bytes(head), length7, out)
        head.clear()
        return pos

    def _check_first_bytes(self, b0: int, b1: int) -> None:
        """Refuse a bad frame from its first two bytes, before reading any further."""
        opcode = _OPCODES.get(b0 & 0x0F)
        if opcode is None:
            # RFC 6455 5.2: an unknown opcode fails the connection.
            raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, f"Unknown opcode {b0 & 0x0F:#x}")
        fin = bool(b0 & 0x80)
        rsv1 = bool(b0 & 0x40)
        if b0 & 0x30:
            # RFC 6455 5.2: RSV2 and RSV3 mean nothing without an extension defining them.
            raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "Reserved bits RSV2/RSV3 set")
        if opcode in _CONTROL:
            # RFC 6455 5.5: control frames are never fragmented and carry <= 125 bytes;
            # RFC 7692 6.1: they are never compressed.
            if not fin:
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "Fragmented control frame")
            if (b1 & 0x7F) > 125:
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "Control frame over 125 bytes")
            if rsv1:
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "RSV1 set on a control frame")
        elif opcode is _CONTINUATION:
            # RFC 6455 5.4: a continuation belongs to a message in progress.
            if self._msg_opcode is None:
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "Continuation without a message")
            if rsv1:
                # RFC 7692 6.1: only a message's first frame carries the compressed bit.
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "RSV1 set on a continuation")
        else:
            if self._msg_opcode is not None:
                raise WebSocketError(
                    WSCloseCode.PROTOCOL_ERROR, "New data frame inside a fragmented message"
                )
            if rsv1 and self._inflater is None:
                # RFC 6455 5.2: RSV1 needs a negotiated extension (permessage-deflate).
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "RSV1 set without an extension")
        masked = bool(b1 & 0x80)
        if masked == self.is_client:
            # RFC 6455 5.1: clients mask every frame, servers never do.
            side = "server" if self.is_client else "client"
            raise WebSocketError(
                WSCloseCode.PROTOCOL_ERROR,
                f"{'Masked' if masked else 'Unmasked'} frame from the {side}",
            )
        self._opcode = opcode
        self._fin = fin
        self._compressed = rsv1 if opcode in (_TEXT, _BINARY) else self._compressed

    def _begin_frame(self, head: bytes, length7: int, out: list[WSMessage]) -> None:
        if length7 == 126:
            length = int.from_bytes(head[2:4], "big")
            mask_at = 4
        elif length7 == 127:
            length = int.from_bytes(head[2:10], "big")
            mask_at = 10
            if length >> 63:
                # RFC 6455 5.2: the most significant bit of a 64-bit length must be 0.
                raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "64-bit length with MSB set")
        else:
            length = length7
            mask_at = 2
        # Non-minimal length encodings are accepted: RFC 6455 5.2 asks senders for the
        # minimal one but gives receivers no rule to refuse others.
        self._mask = head[mask_at : mask_at + 4] if len(head) > mask_at else None
        self._offset = 0
        opcode = self._opcode
        if opcode in _CONTROL:
            self._control = b""
        else:
            self._begin_data(opcode, length)
        self._remaining = length
        if length == 0:
            self._end_frame(out)

    def _begin_data(self, opcode: WSMsgType, length: int) -> None:
        if opcode is not _CONTINUATION:
            self._msg_opcode = opcode
            self._fragments = 0
            self._msg_size = 0
            self._wire_size = 0
            self._parts = []
            self._text = opcode is _TEXT
            self._decoder = None  # made once a text message comes in pieces (_take)
        self._fragments += 1
        if self._fragments > self._max_fragments:
            raise WebSocketError(
                WSCloseCode.MESSAGE_TOO_BIG, f"Message split into over {self._max_fragments} frames"
            )
        limit = self._max_size
        if not limit:
            return
        # Checked against the header, before any payload is read: a frame announcing
        # more than the limit is refused at once, however slowly its bytes would come.
        if self._compressed:
            # The inflated size is checked while inflating; the compressed bytes are capped
            # by deflate's worst-case expansion of a message at the limit.
            self._wire_size += length
            if self._wire_size > limit + (limit >> 10) + 1024:
                raise WebSocketError(WSCloseCode.MESSAGE_TOO_BIG, "Compressed message too big")
        elif self._msg_size + length > limit:
            raise WebSocketError(
                WSCloseCode.MESSAGE_TOO_BIG,
                f"Message of {self._msg_size + length} bytes exceeds the limit of {limit}",
            )
        else:
            self._msg_size += length

    # -- payloads -------------------------------------------------------------------------

    def _read_payload(self, chunk: bytes, out: list[WSMessage]) -> None:
        size = len(chunk)
        if self._mask is not None:
            chunk = unmask(chunk, self._mask, self._offset)
            self._offset += size
        self._remaining -= size
        if self._opcode in _CONTROL:
            self._control += chunk
        elif self._compressed:
            assert self._inflater is not None
            self._take(self._inflater.feed(chunk, self._budget()))
        else:
            self._take(chunk)
        if self._remaining == 0:
            self._end_frame(out)

    def _budget(self) -> int | None:
        return self._max_size - self._msg_size if self._max_size else None

    def _take(self, data: bytes) -> None:
        if not data:
            return
        if self._compressed:
            self._msg_size += len(data)
        decoder = self._decoder
        if decoder is None and self._text:
            if self._fin and not self._remaining and not self._parts and not self._compressed:
                # The whole message in one piece, the usual case: its UTF-8 is checked
                # and decoded at once when the frame ends (_end_frame).
                self._parts.append(data)
                return
            decoder = self._decoder = Utf8Decoder(keep=self._decode_text)
        if decoder is not None:
            decoder.feed(data)  # fails fast on invalid UTF-8 (RFC 6455 8.1)
            if self._decode_text:
                return
        self._parts.append(data)

    def _end_frame(self, out: list[WSMessage]) -> None:
        self._remaining = -1
        opcode = self._opcode
        if opcode in _CONTROL:
            payload, self._control = self._control, b""
            if opcode is _CLOSE:
                code, reason = parse_close_payload(payload)
                out.append(WSMessage(_CLOSE, code, reason))
            else:
                out.append(WSMessage(opcode, payload, ""))
            return
        if not self._fin:
            return
        if self._compressed:
            assert self._inflater is not None
            self._take(self._inflater.finish(self._budget()))
        msg_opcode = self._msg_opcode
        assert msg_opcode is not None
        decoder, self._decoder = self._decoder, None
        parts, self._parts = self._parts, []
        self._msg_opcode = None
        self._compressed = False
        if decoder is not None:
            text = decoder.finish()  # raises on a message ending mid-sequence (RFC 6455 8.1)
            out.append(_message(msg_opcode, text if self._decode_text else b"".join(parts)))
        elif self._text:
            whole = parts[0] if parts else b""  # one piece at most: see _take
            try:
                text = whole.decode("utf-8")
            except UnicodeDecodeError:
                raise WebSocketError(
                    WSCloseCode.INVALID_TEXT, "Invalid UTF-8 in text message"
                ) from None
            out.append(_message(msg_opcode, text if self._decode_text else whole))
        else:
            out.append(_message(msg_opcode, b"".join(parts)))
