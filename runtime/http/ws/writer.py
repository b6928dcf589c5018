"""The frame writer: messages in, bytes out (RFC 6455 5.2, RFC 7692 7.2.1).

Each method returns one frame as one ``bytes`` object, so a caller writes it with a single
``transport.write`` and frames from different tasks can never interleave on the wire.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .close import build_close_payload
from .deflate import DeflateParams, Deflater
from .models import WSMsgType
from .reader import unmask

__all__ = ["FrameWriter"]


class FrameWriter:
    """Builds the frames one side of a connection sends.

    Args:
        is_client: mask every frame with a fresh key (RFC 6455 5.3); a server never masks.
        deflate: the agreed permessage-deflate parameters, ``None`` without compression.
        mask_key: returns a 4-byte masking key (tests pass a fixed one; the default is
            ``os.urandom``, the unpredictable source RFC 6455 5.3 asks for).
    """

    __slots__ = ("_deflater", "_mask_key", "is_client")

    def __init__(
        self,
        *,
        is_client: bool = False,
        deflate: DeflateParams | None = None,
        mask_key: Callable[[], bytes] | None = None,
    ) -> None:
        self.is_client = is_client
        self._deflater: Deflater | None = (
            deflate.deflater(is_client=is_client) if deflate is not None else None
        )
        self._mask_key = mask_key or _random_key

    @property
    def compress(self) -> bool:
        """Whether permessage-deflate was agreed."""
        return self._deflater is not None

    def frame(self, opcode: int, payload: bytes, *, fin: bool = True, rsv1: bool = False) -> bytes:
        """One frame with ``payload`` as is (masked when we are the client)."""
        size = len(payload)
        first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
        mask_bit = 0x80 if self.is_client else 0
        # RFC 6455 5.2: the minimal length encoding.
        if size < 126:
            head = bytes((first, mask_bit | size))
        elif size < 1 << 16:
            head = bytes((first, mask_bit | 126)) + size.to_bytes(2, "big")
        else:
            head = bytes((first, mask_bit | 127)) + size.to_bytes(8, "big")
        if self.is_client:
            key = self._mask_key()
            return head + key + unmask(payload, key)
        return head + payload

    def message(self, opcode: int, payload: bytes, *, compress: bool | None = None) -> bytes:
        """A whole TEXT or BINARY message in one frame.

        Args:
            compress: ``False`` sends this message uncompressed even when permessage-deflate
                was agreed (RFC 7692 6: compression is per message); ``None`` or ``True``
                compress whenever it was agreed.
        """
        deflater = self._deflater
        if deflater is not None and compress is not False:
            return self.frame(opcode, deflater.compress(payload), rsv1=True)
        return self.frame(opcode, payload)

    def ping(self, payload: bytes = b"") -> bytes:
        """A Ping frame.

        Raises:
            ValueError: a payload over 125 bytes (RFC 6455 5.5).
        """
        return self.frame(WSMsgType.PING, _control_payload(payload))

    def pong(self, payload: bytes = b"") -> bytes:
        """A Pong frame (RFC 6455 5.5.3: it echoes the Ping's payload)."""
        return self.frame(WSMsgType.PONG, _control_payload(payload))

    def close(self, code: int | None = 1000, reason: bytes | str = b"") -> bytes:
        """A Close frame; ``code=None`` sends one without a status code."""
        return self.frame(WSMsgType.CLOSE, build_close_payload(code, reason))


def _control_payload(payload: bytes) -> bytes:
    if len(payload) > 125:
        raise ValueError("Control frame payloads are limited to 125 bytes")
    return bytes(payload)


def _random_key() -> bytes:
    return os.urandom(4)
