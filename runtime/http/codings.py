"""Content codings (RFC 9110 8.4.1): choosing one, encoding bodies, decoding them.

- Negotiation: :func:`negotiate` reads ``Accept-Encoding`` (RFC 9110 12.5.3) against the
  codings a server can produce; :class:`EncodingNegotiator` caches its answers; :func:`add_vary`
  marks a response as negotiated (RFC 9110 12.5.5).
- Encoders: :class:`Codec` (``gzip``, ``deflate``, ``br``, ``zstd``) for whole and streamed
  bodies, :func:`zlib_encoder` for ``enable_compression()``'s gzip and deflate, and
  :class:`FlushingEncoder`, which makes one a response's body encoder.
- Decoders: :func:`make_decoder` for request bodies, with bounded output per step; one rule,
  :func:`is_zlib_wrapped`, tells the two things clients send as ``deflate`` apart.

The runtime uses this module for ``StreamResponse.enable_compression()``, ``FileResponse``'s
precompressed siblings and multipart parts; the compression middleware for everything it
encodes, decodes and negotiates. No asyncio here: bytes and header text in, bytes out.

gzip and deflate come from :mod:`zlib`, ``br`` from the ``brotli`` package (a dependency),
``zstd`` from the optional ``zstandard`` package, imported the first time it is used.
"""

from __future__ import annotations

import enum
import functools
import importlib
import importlib.util
import zlib
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import Any, Final, NamedTuple, Protocol

import brotli
from multidict import CIMultiDict

from .grammar import QVALUE_RE

__all__ = [
    "DECODABLE",
    "IDENTITY",
    "ZSTD_AVAILABLE",
    "BodyDecoder",
    "Codec",
    "ContentCoding",
    "EncodingNegotiator",
    "FlushingEncoder",
    "Negotiated",
    "StreamEncoder",
    "add_vary",
    "coding_name",
    "is_zlib_wrapped",
    "make_codec",
    "make_decoder",
    "negotiate",
    "parse_accept_encoding",
    "zlib_encoder",
]


class ContentCoding(enum.Enum):
    """The codings ``StreamResponse.enable_compression(force=...)`` can force."""

    deflate = "deflate"
    gzip = "gzip"
    identity = "identity"


def coding_name(token: str) -> str:
    """A content coding as compared here: trimmed, lower-cased (codings are case-insensitive,
    RFC 9110 8.4.1), ``x-gzip`` read as ``gzip`` (RFC 9110 8.4.1.3)."""
    name = token.strip().lower()
    return "gzip" if name == "x-gzip" else name


# -- negotiation (RFC 9110 12.5.3) -----------------------------------------------------------


class Negotiated(NamedTuple):
    """The outcome of negotiation for one request.

    Attributes:
        coding: the content coding to apply, or None to send the body as it is.
        identity_ok: False when the client refused an unencoded body (``identity;q=0``, or
            ``*;q=0`` without an ``identity`` entry); a server may then encode bodies it
            would otherwise find too small to bother.
    """

    coding: str | None
    identity_ok: bool


IDENTITY: Final = Negotiated(None, True)
_CACHE_LIMIT: Final = 256


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Parse an ``Accept-Encoding`` field value into ``{coding: weight}``.

    Codings go through :func:`coding_name`. An element whose weight is not a qvalue (RFC
    9110 12.4.2) counts as refused (weight 0) rather than preferred, so a broken header never
    buys a coding the client may not decode. When a coding is listed twice, the last element
    wins. Parsing is lenient elsewhere: whitespace around ``=`` and other parameters are
    tolerated.

    Args:
        value: the field value (several field lines joined with commas).

    Returns:
        The weight of each listed coding, ``*`` and ``identity`` included.
    """
    weights: dict[str, float] = {}
    for element in value.split(","):
        coding, _, params = element.partition(";")
        coding = coding_name(coding)
        if not coding:
            continue  # RFC 9110 5.6.1: empty list elements do not count
        weight = 1.0
        for param in params.split(";"):
            name, sep, raw = param.partition("=")
            if sep and name.strip().lower() == "q":
                raw = raw.strip()
                weight = float(raw) if QVALUE_RE.fullmatch(raw) else 0.0
        weights[coding] = weight
    return weights


def negotiate(value: str | None, preference: Iterable[str]) -> Negotiated:
    """Choose a content coding for a request's ``Accept-Encoding`` value.

    The client's weights come first and ``preference`` breaks ties. ``q=0`` refuses a coding;
    ``*`` stands for every coding the field does not name, ``identity`` included (RFC 9110
    12.5.3), so ``*;q=0`` refuses an unencoded body unless ``identity`` is listed. When
    neither names it, identity is acceptable and least preferred: any coding with a weight
    above 0 beats it. A coding weighed the same as an explicit identity wins.

    Args:
        value: the field value, or None when the request has no such field.
        preference: the codings the server can produce, most preferred first.

    Returns:
        The coding to use (None for none) and whether an unencoded body is acceptable.
    """
    if value is None:
        # RFC 9110 12.5.3 lets a server pick any coding here, but a client that sends no
        # Accept-Encoding (curl without --compressed, health checks, HTTP/1.0 tools) rarely
        # decodes one: like nginx and aiohttp, answer unencoded.
        return IDENTITY
    weights = parse_accept_encoding(value)
    if not weights:
        return IDENTITY  # an empty value: no coding wanted (RFC 9110 12.5.3)
    wildcard = weights.get("*")
    identity = weights.get("identity", wildcard)  # None: only implied
    best: str | None = None
    best_weight = 0.0
    for coding in preference:
        weight = weights.get(coding, wildcard)
        if weight is None or weight <= best_weight:
            continue  # not acceptable, or no better than an earlier (preferred) coding
        best, best_weight = coding, weight
    if best is not None and identity is not None and best_weight < identity:
        best = None  # e.g. "gzip;q=0.5, identity": the client prefers the plain body
    return Negotiated(best, identity is None or identity > 0.0)


class EncodingNegotiator:
    """:func:`negotiate` for a fixed server preference, with a small per-value cache.

    A site's clients send a handful of distinct ``Accept-Encoding`` values; the cache is
    cleared when full, so values chosen by a hostile client cannot grow it.

    Args:
        preference: the codings the server can produce, most preferred first.
    """

    __slots__ = ("_cache", "_preference")

    def __init__(self, preference: Iterable[str]) -> None:
        self._preference = tuple(preference)
        self._cache: dict[str, Negotiated] = {}

    @property
    def preference(self) -> tuple[str, ...]:
        """The codings this negotiator may choose, most preferred first."""
        return self._preference

    def __call__(self, value: str | None) -> Negotiated:
        """Negotiate for one ``Accept-Encoding`` value (None when the field is absent).

        Args:
            value: the joined field value.

        Returns:
            The negotiated coding and whether identity is acceptable.
        """
        if value is None:
            return IDENTITY
        cache = self._cache
        result = cache.get(value)
        if result is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            result = cache[value] = negotiate(value, self._preference)
        return result


def add_vary(headers: CIMultiDict[str], name: str = "Accept-Encoding") -> None:
    """List ``name`` in ``Vary`` (RFC 9110 12.5.5) unless it, or ``*``, is there already.

    Several ``Vary`` lines are merged into one (RFC 9110 5.3: a list field's lines are one
    list).
    """
    values = headers.getall("Vary", ())
    if not values:
        headers["Vary"] = name
        return
    listed = {member.strip().lower() for value in values for member in value.split(",")}
    if name.lower() not in listed and "*" not in listed:
        headers["Vary"] = ", ".join([*values, name])


# -- encoders --------------------------------------------------------------------------------

# zlib's window bits: 16 + 15 writes the gzip container (RFC 1952), 15 the zlib one (RFC
# 1950), which is what "deflate" means in HTTP (RFC 9110 8.4.1.2); negative bits read raw
# deflate (RFC 1951).
_WBITS: Final = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
_RAW_WBITS: Final = -zlib.MAX_WBITS
# RFC 9659 3: a zstd encoder for HTTP must not need a window above 8 MiB; levels up to 19
# stay within it (the "ultra" levels 20-22 do not).
_ZSTD_MAX_LEVEL: Final = 19
#: Whether the ``zstd`` coding can be produced (the ``zstandard`` package is installed).
ZSTD_AVAILABLE: Final = importlib.util.find_spec("zstandard") is not None


@functools.cache
def _zstandard() -> ModuleType:
    # Imported on first use: it costs milliseconds, and most processes never need it.
    return importlib.import_module("zstandard")


class StreamEncoder(Protocol):
    """An incremental compressor for one body."""

    def compress(self, data: bytes) -> bytes:
        """Feed ``data``; returns whatever compressed output is ready (maybe nothing)."""

    def flush(self) -> bytes:
        """Make everything fed so far decodable by the client (a sync flush)."""

    def finish(self) -> bytes:
        """End the compressed stream."""


class _ZlibEncoder:
    __slots__ = ("_obj",)

    def __init__(self, wbits: int, level: int, strategy: int) -> None:
        self._obj = zlib.compressobj(level, zlib.DEFLATED, wbits, 8, strategy)

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        # Z_SYNC_FLUSH ends the pending block on a byte boundary, so the client can decode
        # (and a browser show) every event of a server-sent stream as it comes.
        return self._obj.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._obj.flush(zlib.Z_FINISH)


class _BrotliEncoder:
    __slots__ = ("_obj",)

    def __init__(self, quality: int) -> None:
        self._obj = brotli.Compressor(quality=quality)

    def compress(self, data: bytes) -> bytes:
        return bytes(self._obj.process(data))

    def flush(self) -> bytes:
        return bytes(self._obj.flush())

    def finish(self) -> bytes:
        return bytes(self._obj.finish())


class _ZstdEncoder:
    __slots__ = ("_obj", "_zstd")

    def __init__(self, level: int) -> None:
        self._zstd = _zstandard()
        self._obj: Any = self._zstd.ZstdCompressor(level=level).compressobj()

    def compress(self, data: bytes) -> bytes:
        return bytes(self._obj.compress(data))

    def flush(self) -> bytes:
        return bytes(self._obj.flush(self._zstd.COMPRESSOBJ_FLUSH_BLOCK))

    def finish(self) -> bytes:
        return bytes(self._obj.flush(self._zstd.COMPRESSOBJ_FLUSH_FINISH))


def zlib_encoder(coding: str, level: int = -1, strategy: int | None = None) -> StreamEncoder:
    """A ``gzip`` or ``deflate`` (zlib-wrapped, RFC 9110 8.4.1.2) encoder.

    Args:
        coding: ``"gzip"`` or ``"deflate"``.
        level: the compression level (``-1``: zlib's default, 6).
        strategy: a ``zlib.Z_*`` strategy (``None``: ``Z_DEFAULT_STRATEGY``).

    Returns:
        The encoder.
    """
    if strategy is None:
        strategy = zlib.Z_DEFAULT_STRATEGY
    return _ZlibEncoder(_WBITS[coding], level, strategy)


class FlushingEncoder:
    """A :class:`StreamEncoder` as a response's body encoder (``set_body_encoder``).

    Each :meth:`compress` flushes, so what a streaming handler writes reaches the client
    when it is written, not when the compressor's buffer fills.
    """

    __slots__ = ("_encoder",)

    def __init__(self, encoder: StreamEncoder) -> None:
        self._encoder = encoder

    def compress(self, data: bytes) -> bytes:
        """Encode ``data`` and flush what it produced."""
        if not data:
            return b""  # a flush of nothing would still cost an empty block
        encoder = self._encoder
        return encoder.compress(data) + encoder.flush()

    def finish(self, data: bytes = b"") -> bytes:
        """Encode the last piece and end the stream."""
        encoder = self._encoder
        return (encoder.compress(data) if data else b"") + encoder.finish()


class Codec:
    """One content coding a server produces, with its level fixed.

    Args:
        name: the coding (``gzip``, ``deflate``, ``br`` or ``zstd``).
        level: the compression level (zlib's 1-9, brotli's quality 0-11, zstd's 1-19).
    """

    __slots__ = ("level", "name")

    def __init__(self, name: str, level: int) -> None:
        self.name = name
        self.level = level

    def encoder(self) -> StreamEncoder:
        """A fresh incremental compressor, for a streamed body.

        Returns:
            The encoder.
        """
        if self.name == "br":
            return _BrotliEncoder(self.level)
        if self.name == "zstd":
            return _ZstdEncoder(self.level)
        return zlib_encoder(self.name, self.level)

    def compress(self, data: bytes) -> bytes:
        """Compress a whole body in one call (zlib and brotli release the GIL meanwhile).

        Args:
            data: the body.

        Returns:
            The encoded body.
        """
        wbits = _WBITS.get(self.name)
        if wbits is not None:
            return zlib.compress(data, self.level, wbits)
        encoder = self.encoder()
        return encoder.compress(data) + encoder.finish()

    def __repr__(self) -> str:
        return f"<Codec {self.name} level={self.level}>"


_LEVELS: Final = {"gzip": (1, 9), "deflate": (1, 9), "br": (0, 11), "zstd": (1, _ZSTD_MAX_LEVEL)}


def make_codec(name: str, level: int) -> Codec:
    """Build a :class:`Codec`, checking that the coding exists here and the level fits.

    Args:
        name: ``gzip``, ``deflate``, ``br`` or ``zstd``.
        level: the level for that coding.

    Returns:
        The codec.

    Raises:
        ValueError: an unknown coding, ``zstd`` without the ``zstandard`` package, or a
            level out of range.
    """
    if name not in _LEVELS:
        raise ValueError(f"Unknown content coding {name!r}; expected one of {sorted(_LEVELS)}")
    if name == "zstd" and not ZSTD_AVAILABLE:
        raise ValueError("The zstd coding needs the optional 'zstandard' package")
    low, high = _LEVELS[name]
    if not low <= level <= high:
        raise ValueError(f"{name} level must be within {low}..{high}, not {level}")
    return Codec(name, level)


# -- decoders --------------------------------------------------------------------------------

# Bounded brotli decoding needs brotli >= 1.2 (``process(output_buffer_limit=...)``); with an
# older brotli a bomb could inflate in one call, so br bodies are then not decoded.
_BROTLI_BOUNDED: Final = hasattr(brotli.Decompressor, "can_accept_more_data")
#: The request ``Content-Encoding`` values :func:`make_decoder` decodes.
DECODABLE: Final = ("gzip", "br", "deflate") if _BROTLI_BOUNDED else ("gzip", "deflate")


def is_zlib_wrapped(head: bytes) -> bool:
    """Whether a ``deflate`` body is zlib-wrapped (RFC 1950) rather than raw (RFC 1951).

    RFC 9110 8.4.1.2 defines ``deflate`` as the zlib format, yet clients have long sent raw
    deflate under that name, so both are read. The first two bytes decide: a zlib header
    (RFC 1950 2.2) has CM = 8 in the low nibble of CMF, CINFO <= 7 in its high nibble, and
    ``CMF * 256 + FLG`` a multiple of 31. Raw deflate never starts that way in practice: a
    first byte with low nibble 8 is a non-final stored block with a padding bit set, and
    encoders write those bits as zeros (RFC 1951 3.2.4). Anything else is read as raw
    deflate, which rejects what is neither.

    Args:
        head: the body's first two bytes (or more).

    Returns:
        True for a zlib header.
    """
    cmf, flg = head[0], head[1]
    return cmf & 0x0F == 8 and cmf >> 4 <= 7 and ((cmf << 8) | flg) % 31 == 0


class BodyDecoder(Protocol):
    """An incremental decoder whose output per step is bounded (bomb-safe)."""

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        """Decode ``data``, yielding the output in pieces of about ``piece`` bytes (zlib's
        are at most ``piece``; brotli's may pass it by up to 32 KiB).

        The caller may stop iterating at any time (a size cap was hit): the rest is then
        never inflated.

        Raises:
            ValueError: the data is not valid for the coding.
        """

    def finish(self) -> None:
        """Check that the encoded stream ended properly.

        Raises:
            ValueError: the body was truncated.
        """


class _ZlibDecoder:
    """gzip (members may be concatenated, RFC 1952 2.2) or deflate (zlib-wrapped or raw)."""

    __slots__ = ("_gzip", "_head", "_obj")

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._obj: zlib._Decompress | None = None
        self._head = b""  # a deflate body's first byte, until the second tells its format

    def _start(self, data: bytes) -> zlib._Decompress | None:
        if self._gzip:
            return zlib.decompressobj(_WBITS["gzip"])
        if len(data) < 2:
            self._head = data
            return None
        return zlib.decompressobj(_WBITS["deflate"] if is_zlib_wrapped(data) else _RAW_WBITS)

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        if self._head:
            data, self._head = self._head + data, b""
        obj = self._obj
        try:
            while True:
                if obj is None or obj.eof:
                    if not data:
                        return
                    if obj is not None and not self._gzip:
                        raise ValueError("data after the end of the encoded body")
                    obj = self._obj = self._start(data)  # the first, or the next gzip member
                    if obj is None:
                        return  # one byte of deflate: its format is not known yet
                output = obj.decompress(data, piece)
                if output:
                    yield output
                data = obj.unused_data if obj.eof else obj.unconsumed_tail
                # A full piece may leave output pending inside zlib even with no input left.
                if not data and not obj.eof and len(output) < piece:
                    return
        except zlib.error as exc:
            raise ValueError(str(exc)) from None

    def finish(self) -> None:
        if self._obj is None or not self._obj.eof:
            raise ValueError("the encoded body is truncated")


class _BrotliDecoder:
    __slots__ = ("_obj",)

    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        obj = self._obj
        try:
            if data and obj.is_finished():
                raise ValueError("data after the end of the encoded body")
            # output_buffer_limit (brotli >= 1.2) bounds each step's output; a step that
            # fills it leaves more to take, with empty input (it may also hold output back
            # while already accepting input again).
            output = obj.process(data, output_buffer_limit=piece)
            while True:
                if output:
                    yield bytes(output)
                if len(output) < piece and obj.can_accept_more_data():
                    return
                output = obj.process(b"", output_buffer_limit=piece)
        except brotli.error as exc:
            raise ValueError(str(exc)) from None

    def finish(self) -> None:
        if not self._obj.is_finished():
            raise ValueError("the encoded body is truncated")


def make_decoder(coding: str) -> BodyDecoder:
    """A decoder for one of :data:`DECODABLE`.

    Args:
        coding: the coding, as :func:`coding_name` gives it.

    Returns:
        The decoder.

    Raises:
        ValueError: the coding is not one of :data:`DECODABLE`.
    """
    if coding not in DECODABLE:
        raise ValueError(f"Cannot decode content coding {coding!r}")
    if coding == "br":
        return _BrotliDecoder()
    return _ZlibDecoder(gzip=coding == "gzip")
