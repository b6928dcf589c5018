"""Response content codings: ``Accept-Encoding`` negotiation and a zlib body encoder.

``FileResponse`` uses the negotiation to pick a precompressed sibling, and
``StreamResponse.enable_compression()`` to pick gzip or deflate and encode the body.
"""

from __future__ import annotations

import enum
import re
import zlib
from collections.abc import MutableMapping, Sequence
from typing import Final

__all__ = [
    "ContentCoding",
    "ZlibEncoder",
    "add_vary",
    "choose_coding",
    "parse_accept_encoding",
    "response_coding",
]


class ContentCoding(enum.Enum):
    """The codings ``StreamResponse.enable_compression(force=...)`` can force."""

    deflate = "deflate"
    gzip = "gzip"
    identity = "identity"


# What enable_compression() negotiates, preferred in this order on equal weights: the
# name "deflate" has meant two formats in practice (RFC 9110 8.4.1.2), "gzip" one.
_NEGOTIATED: Final = ("gzip", "deflate")

# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
_QVALUE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?")
# The weight of an identity body nobody asked for: below any coding the client listed.
_IMPLICIT_IDENTITY_Q: Final = 0.0005
# zlib's window bits: 16 + 15 writes a gzip wrapper (RFC 1952), 15 a zlib one (RFC 1950),
# which is what "deflate" means in HTTP (RFC 9110 8.4.1.2).
_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def parse_accept_encoding(value: str) -> dict[str, float]:
    """``Accept-Encoding`` (RFC 9110 12.5.3) as ``{coding: q}``, codings lower-cased.

    An element with a malformed weight counts as refused rather than as preferred;
    ``x-gzip`` is ``gzip`` (RFC 9110 8.4.1.3).
    """
    accepted: dict[str, float] = {}
    for element in value.split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, sep, raw = param.partition("=")
            if sep and name.strip().lower() == "q":
                raw = raw.strip()
                weight = float(raw) if _QVALUE.fullmatch(raw) else 0.0
        if coding == "x-gzip":
            coding = "gzip"
        accepted[coding] = weight
    return accepted


def choose_coding(accepted: dict[str, float], available: Sequence[str]) -> str | None:
    """The coding of ``available`` the client weighs highest, if it beats the identity body.

    ``q=0`` refuses a coding, and ``*`` stands for every coding not named (RFC 9110
    12.5.3). Ties go to the order of ``available``. No ``Accept-Encoding`` at all
    (``accepted`` empty) means identity, as browsers and aiohttp expect.
    """
    if not available or not accepted:
        return None
    wildcard = accepted.get("*")
    identity = accepted.get("identity", wildcard)
    best: str | None = None
    best_q = _IMPLICIT_IDENTITY_Q if identity is None else identity
    for coding in available:
        weight = accepted.get(coding, wildcard)
        if weight is None or weight <= 0:
            continue  # not named and no "*", or refused with q=0
        if weight > best_q or (best is None and weight == best_q):
            best, best_q = coding, weight
    return best


def add_vary(headers: MutableMapping[str, str], name: str) -> None:
    """List ``name`` in ``Vary`` (RFC 9110 12.5.5) unless it, or ``*``, is there already."""
    current = headers.get("Vary")
    if not current:
        headers["Vary"] = name
        return
    listed = {part.strip().lower() for part in current.split(",")}
    if name.lower() not in listed and "*" not in listed:
        headers["Vary"] = f"{current}, {name}"


def response_coding(
    status: int,
    headers: MutableMapping[str, str],
    force: ContentCoding | None,
    accept_encoding: str,
) -> str | None:
    """The coding a compressed response's body gets (``None``: sent as it is).

    Nothing is encoded for statuses without content (1xx, 204, 304), a body that has a
    ``Content-Encoding`` already, or a byte range (RFC 9110 14.4: ``Content-Range`` counts
    the unencoded bytes). A negotiated (not forced) choice adds ``Vary: Accept-Encoding``
    to ``headers``, 304s included (RFC 9110 15.4.5).
    """
    if status < 200 or status == 204 or "Content-Encoding" in headers:
        return None
    if "Content-Range" in headers:
        return None
    if force is not None:
        return None if force is ContentCoding.identity else force.value
    add_vary(headers, "Accept-Encoding")
    if status == 304:
        return None
    return choose_coding(parse_accept_encoding(accept_encoding), _NEGOTIATED)


class ZlibEncoder:
    """Encodes a body as ``gzip`` or ``deflate``, piece by piece.

    Each :meth:`compress` flushes (``Z_SYNC_FLUSH``), so what a streaming handler writes
    reaches the client when it is written, not when zlib's buffer fills.

    Args:
        coding: ``"gzip"`` or ``"deflate"``.
        strategy: a ``zlib.Z_*`` strategy (``None``: ``Z_DEFAULT_STRATEGY``).
        level: the compression level (``-1``: zlib's default, 6).
    """

    __slots__ = ("_zlib",)

    def __init__(self, coding: str, strategy: int | None = None, level: int = -1) -> None:
        if strategy is None:
            strategy = zlib.Z_DEFAULT_STRATEGY
        self._zlib = zlib.compressobj(level, zlib.DEFLATED, _WBITS[coding], 8, strategy)

    def compress(self, data: bytes) -> bytes:
        """Encode ``data`` and flush what it produced."""
        if not data:
            return b""  # a flush of nothing would still cost an empty block
        return self._zlib.compress(data) + self._zlib.flush(zlib.Z_SYNC_FLUSH)

    def finish(self, data: bytes = b"") -> bytes:
        """Encode the last piece and the stream's trailer."""
        return self._zlib.compress(data) + self._zlib.flush(zlib.Z_FINISH)
