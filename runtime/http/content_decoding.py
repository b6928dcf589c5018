"""Undoing a MIME part's transfer and content encodings as the bytes arrive.

MIME parts may carry a Content-Transfer-Encoding (RFC 2045 6: base64, quoted-printable) and a
Content-Encoding (RFC 9110 8.4: gzip, deflate). ``ContentDecoder`` undoes both incrementally,
so a large body never has to be held whole to be decoded; the content codings are
:mod:`.codings`' decoders.
"""

from __future__ import annotations

import binascii
from typing import Final

from .codings import BodyDecoder, make_decoder

__all__ = ["ContentDecoder"]

# How much inflated output each decoder step hands back (the steps are joined here).
_PIECE: Final = 64 * 1024


class ContentDecoder:
    """Undo a Content-Transfer-Encoding (RFC 2045 6), then a Content-Encoding, chunk by chunk.

    base64 keeps back an incomplete 4-character group and quoted-printable an incomplete
    ``=XX`` escape until the next chunk completes them; gzip and deflate inflate as data
    comes (``deflate`` zlib-wrapped or raw, see :func:`.codings.is_zlib_wrapped`). Empty
    names mean no encoding.

    Args:
        transfer: the Content-Transfer-Encoding: 7bit, 8bit, binary, base64 or
            quoted-printable.
        coding: the Content-Encoding: identity, gzip or deflate.

    Raises:
        RuntimeError: an encoding this decoder does not know (what aiohttp's multipart
            reader raises).
    """

    __slots__ = ("_carry", "_coding", "_decoder", "_fed", "_transfer")

    def __init__(self, transfer: str, coding: str) -> None:
        self._transfer = transfer.strip().lower()
        self._coding = coding.strip().lower()
        if self._transfer not in ("", "7bit", "8bit", "binary", "base64", "quoted-printable"):
            raise RuntimeError(f"unknown content transfer encoding: {self._transfer}")
        if self._coding not in ("", "identity", "gzip", "deflate"):
            raise RuntimeError(f"unknown content encoding: {self._coding}")
        self._carry = b""
        self._decoder: BodyDecoder | None = None
        if self._coding in ("gzip", "deflate"):
            self._decoder = make_decoder(self._coding)
        self._fed = False

    def feed(self, data: bytes) -> bytes:
        """Decode the next chunk; some bytes may be held back until the next call."""
        return self._inflate(self._untransfer(data, final=False))

    def flush(self) -> bytes:
        """Decode what was held back.

        Raises:
            ValueError: the data ended in the middle of an encoded unit.
        """
        data = self._inflate(self._untransfer(b"", final=True))
        if self._decoder is not None and self._fed:
            try:
                self._decoder.finish()
            except ValueError:
                raise ValueError(f"the {self._coding} data ended early") from None
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
        decoder = self._decoder
        if decoder is None or not data:
            return data
        self._fed = True
        try:
            return b"".join(decoder.feed(data, _PIECE))
        except ValueError as exc:
            raise ValueError(f"invalid {self._coding} data: {exc}") from None
