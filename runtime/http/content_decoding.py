"""Undoing a body's transfer and content encodings as the bytes arrive.

MIME parts may carry a Content-Transfer-Encoding (RFC 2045 6: base64, quoted-printable) and a
Content-Encoding (RFC 9110 8.4: gzip, deflate). ``ContentDecoder`` undoes both incrementally,
so a large body never has to be held whole to be decoded.
"""

from __future__ import annotations

import binascii
import zlib
from typing import Any

__all__ = ["ContentDecoder"]


class ContentDecoder:
    """Undo a Content-Transfer-Encoding (RFC 2045 6), then a Content-Encoding, chunk by chunk.

    base64 keeps back an incomplete 4-character group and quoted-printable an incomplete
    ``=XX`` escape until the next chunk completes them; gzip and deflate inflate as data
    comes. Empty names mean no encoding.

    Args:
        transfer: the Content-Transfer-Encoding: 7bit, 8bit, binary, base64 or
            quoted-printable.
        coding: the Content-Encoding: identity, gzip or deflate.

    Raises:
        RuntimeError: an encoding this decoder does not know (what aiohttp's multipart
            reader raises).
    """

    __slots__ = ("_carry", "_coding", "_transfer", "_zlib")

    def __init__(self, transfer: str, coding: str) -> None:
        self._transfer = transfer.strip().lower()
        self._coding = coding.strip().lower()
        if self._transfer not in ("", "7bit", "8bit", "binary", "base64", "quoted-printable"):
            raise RuntimeError(f"unknown content transfer encoding: {self._transfer}")
        if self._coding not in ("", "identity", "gzip", "deflate"):
            raise RuntimeError(f"unknown content encoding: {self._coding}")
        self._carry = b""
        self._zlib: Any = None

    def feed(self, data: bytes) -> bytes:
        """Decode the next chunk; some bytes may be held back until the next call."""
        return self._inflate(self._untransfer(data, final=False))

    def flush(self) -> bytes:
        """Decode what was held back.

        Raises:
            ValueError: the data ended in the middle of an encoded unit.
        """
        data = self._inflate(self._untransfer(b"", final=True))
        if self._zlib is not None:
            data += self._zlib.flush()
            if not self._zlib.eof:
                raise ValueError(f"the {self._coding} data ended early")
        return data

    def _untransfer(self, data: bytes, *, final: bool) -> bytes:
        if self._transfer == "base64":
            data = self._carry + b"".join(data.split())
            cut = len(data) if final else len(data) - len(data) % 4
            self._carry = data[cut:]
            return binascii.a2b_base64(data[:cut]) if cut else b""
        if self._transfer == "quoted-printable":
            data = self._carry + data
            # An escape is "=" and two more bytes; one cut short waits for the rest.
            cut = len(data) if final else data.rfind(b"=", max(0, len(data) - 2))
            cut = len(data) if cut < 0 else cut
            self._carry = data[cut:]
            return binascii.a2b_qp(data[:cut])
        return data

    def _inflate(self, data: bytes) -> bytes:
        if self._coding not in ("gzip", "deflate") or not data:
            return data
        if self._zlib is None:
            if self._coding == "gzip":
                wbits = 16 + zlib.MAX_WBITS
            else:
                # "deflate" is meant to be zlib-wrapped (RFC 9110 8.4.1.2), yet many senders
                # send raw deflate; a zlib header has compression method 8 in its low nibble.
                wbits = zlib.MAX_WBITS if data[0] & 0x0F == 8 else -zlib.MAX_WBITS
            self._zlib = zlib.decompressobj(wbits)
        try:
            return bytes(self._zlib.decompress(data))
        except zlib.error as exc:
            raise ValueError(f"invalid {self._coding} data: {exc}") from None
