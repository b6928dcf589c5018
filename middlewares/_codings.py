"""Content codings (RFC 9110 8.4.1): compressors for responses, decoders for request bodies.

gzip and deflate come from ``zlib``, ``br`` from the ``brotli`` package (a dependency),
``zstd`` from the optional ``zstandard`` package when it is importable.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Iterator
from types import ModuleType
from typing import Final, Protocol

import brotli

__all__ = [
    "DECODABLE",
    "ZSTD_AVAILABLE",
    "BodyDecoder",
    "Codec",
    "StreamEncoder",
    "make_codec",
    "make_decoder",
]


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_zstandard: Final = _optional("zstandard")
#: Whether the ``zstd`` coding can be produced (the ``zstandard`` package is importable).
ZSTD_AVAILABLE: Final = _zstandard is not None

_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # gzip container (RFC 1952)
_ZLIB_WBITS: Final = zlib.MAX_WBITS  # "deflate" is the zlib container (RFC 9110 8.4.1.2)
_RAW_WBITS: Final = -zlib.MAX_WBITS
_GZIP_MAGIC: Final = b"\x1f\x8b"
# RFC 9659 3: a zstd encoder for HTTP must not need a window above 8 MiB; levels up to 19
# stay within it (the "ultra" levels 20-22 do not).
_ZSTD_MAX_LEVEL: Final = 19


class StreamEncoder(Protocol):
    """An incremental compressor for one response body."""

    def compress(self, data: bytes) -> bytes:
        """Feed ``data``; returns whatever compressed output is ready (maybe nothing)."""

    def flush(self) -> bytes:
        """Make everything fed so far decodable by the client (a sync flush)."""

    def finish(self) -> bytes:
        """End the compressed stream."""


class _ZlibEncoder:
    __slots__ = ("_obj",)

    def __init__(self, level: int, wbits: int) -> None:
        self._obj = zlib.compressobj(level, zlib.DEFLATED, wbits)

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def flush(self) -> bytes:
        # Z_SYNC_FLUSH ends the pending block on a byte boundary, so the client can
        # decode (and a browser show) every event of a server-sent stream as it comes.
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
    __slots__ = ("_obj",)

    def __init__(self, level: int) -> None:
        assert _zstandard is not None
        self._obj = _zstandard.ZstdCompressor(level=level).compressobj()

    def compress(self, data: bytes) -> bytes:
        return bytes(self._obj.compress(data))

    def flush(self) -> bytes:
        assert _zstandard is not None
        return bytes(self._obj.flush(_zstandard.COMPRESSOBJ_FLUSH_BLOCK))

    def finish(self) -> bytes:
        assert _zstandard is not None
        return bytes(self._obj.flush(_zstandard.COMPRESSOBJ_FLUSH_FINISH))


class Codec:
    """One content coding the server produces, with its level fixed.

    Args:
        name: the coding's token (``gzip``, ``deflate``, ``br`` or ``zstd``).
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
        return _ZlibEncoder(self.level, _GZIP_WBITS if self.name == "gzip" else _ZLIB_WBITS)

    def compress(self, data: bytes) -> bytes:
        """Compress a whole body in one call (zlib and brotli release the GIL meanwhile).

        Args:
            data: the body.

        Returns:
            The encoded body.
        """
        if self.name in ("gzip", "deflate"):
            wbits = _GZIP_WBITS if self.name == "gzip" else _ZLIB_WBITS
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


# -- request bodies -----------------------------------------------------------------------

# Bounded brotli decoding needs brotli >= 1.2 (``process(output_buffer_limit=...)``); an
# older brotli could inflate a bomb in one call, so br request bodies are then refused (415).
_BROTLI_BOUNDED: Final = hasattr(brotli.Decompressor, "can_accept_more_data")
#: The request ``Content-Encoding`` values the middleware decodes.
DECODABLE: Final = ("gzip", "br", "deflate") if _BROTLI_BOUNDED else ("gzip", "deflate")


class BodyDecoder(Protocol):
    """An incremental decoder whose output per step is bounded (bomb-safe)."""

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        """Decode ``data``, yielding the output in pieces of about ``piece`` bytes.

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
    """gzip (members may be concatenated, RFC 1952 2.2) or deflate (zlib, RFC 1950)."""

    __slots__ = ("_gzip", "_obj", "_started")

    def __init__(self, gzip: bool) -> None:
        self._gzip = gzip
        self._obj: zlib._Decompress | None = None
        self._started = False

    def _new(self, data: bytes) -> zlib._Decompress:
        if self._gzip:
            return zlib.decompressobj(_GZIP_WBITS)
        # RFC 9110 8.4.1.2: "deflate" is the zlib format, but some clients have sent a
        # raw deflate stream; a valid zlib header says which (RFC 1950 2.2).
        zlib_header = len(data) < 2 or (
            data[0] & 0x0F == 8 and ((data[0] << 8) | data[1]) % 31 == 0
        )
        return zlib.decompressobj(_ZLIB_WBITS if zlib_header else _RAW_WBITS)

    def feed(self, data: bytes, piece: int) -> Iterator[bytes]:
        obj = self._obj
        try:
            while True:
                if obj is None or obj.eof:
                    if not data:
                        return
                    if obj is not None and not self._gzip:
                        raise ValueError("data after the end of the encoded body")
                    obj = self._obj = self._new(data)  # the first, or the next gzip member
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
        coding: the lower-cased coding token (``x-gzip`` already mapped to ``gzip``).

    Returns:
        The decoder.

    Raises:
        ValueError: the coding is not one of :data:`DECODABLE`.
    """
    if coding == "br":
        return _BrotliDecoder()
    if coding in ("gzip", "deflate"):
        return _ZlibDecoder(gzip=coding == "gzip")
    raise ValueError(f"Cannot decode content coding {coding!r}")
