"""Response compression with ``Accept-Encoding`` negotiation, and request-body decoding.

``compression_middleware()`` answers "How to enable gzip compression globally for the whole
application?" (docs/faq.md): one middleware, with q-value negotiation (RFC 9110 12.5.3),
brotli, gzip and (when ``zstandard`` is installed) zstd, and bodies of compressible types
only.

Whole bodies (``web.Response``) are compressed in one call, off the event loop above
``executor_threshold``; streamed bodies (``web.StreamResponse``) through a body encoder that
flushes at every ``write()``, so server-sent events arrive as they are written. Request
bodies sent with ``Content-Encoding: gzip|br|deflate`` reach the handler decoded, capped at
``client_max_size`` while inflating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import Final, cast

from multidict import CIMultiDict, CIMultiDictProxy

from runtime import web
from runtime.http.codings import (
    DECODABLE,
    ZSTD_AVAILABLE,
    Codec,
    EncodingNegotiator,
    FlushingEncoder,
    Negotiated,
    add_vary,
    coding_name,
    make_codec,
    make_decoder,
)
from runtime.http.grammar import displayed_field_value

__all__ = [
    "DEFAULT_COMPRESSIBLE_TYPES",
    "DEFAULT_PREFERENCE",
    "compression_middleware",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
_Hook = Callable[[web.StreamResponse], Awaitable[None]]

#: The server's order among codings the client weighs equally: brotli compresses text best
#: at a cost close to gzip's; zstd (when ``zstandard`` is importable) is faster still.
DEFAULT_PREFERENCE: Final[tuple[str, ...]] = (
    ("br", "zstd", "gzip") if ZSTD_AVAILABLE else ("br", "gzip")
)

#: Media types worth compressing: ``type/*`` matches a whole top-level type and ``+suffix``
#: a structured syntax suffix (RFC 6838 4.2.8). Images, audio, video, fonts in WOFF and
#: archives are compressed already.
DEFAULT_COMPRESSIBLE_TYPES: Final[tuple[str, ...]] = (
    "text/*",
    "+json",
    "+xml",
    "application/json",
    "application/x-ndjson",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/yaml",
    "application/graphql",
    "application/wasm",
    "application/vnd.ms-fontobject",
    "font/otf",
    "font/ttf",
    "image/bmp",
    "image/svg+xml",
    "image/vnd.microsoft.icon",
    "image/x-icon",
)

# RFC 9110 15.3.5, 15.3.7, 15.4.5: no content in 204 and 304, and a 206 carries a byte
# range of the unencoded representation, which compressing would make meaningless.
_UNCOMPRESSED_STATUSES: Final = frozenset({204, 206, 304})
_CACHE_LIMIT: Final = 256


class _TypeMatcher:
    """Whether a ``Content-Type`` value names a compressible type (answers cached per value)."""

    __slots__ = ("_cache", "_exact", "_prefixes", "_suffixes")

    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        for raw in patterns:
            pattern = raw.strip().lower()
            if pattern.startswith("+"):
                suffixes.append(pattern)
            elif pattern.endswith("/*"):
                prefixes.append(pattern[:-1])
            elif "/" in pattern:
                exact.add(pattern)
            else:
                raise ValueError(f"Not a media type pattern: {raw!r}")
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)
        self._suffixes = tuple(suffixes)
        self._cache: dict[str, bool] = {}

    def __call__(self, content_type: str | None) -> bool:
        key = content_type or ""
        known = self._cache.get(key)
        if known is None:
            # No Content-Type means application/octet-stream (RFC 9110 8.3).
            media_type = key.partition(";")[0].strip().lower() or "application/octet-stream"
            known = (
                media_type in self._exact
                or media_type.startswith(self._prefixes)
                or media_type.endswith(self._suffixes)
            )
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[key] = known
        return known


def _joined(headers: CIMultiDictProxy[str], name: str) -> str | None:
    """A list-valued field's lines joined with commas (RFC 9110 5.3); None when absent."""
    values = headers.getall(name, ())
    if not values:
        return None
    return values[0] if len(values) == 1 else ", ".join(values)


def _no_transform(headers: CIMultiDict[str]) -> bool:
    """``Cache-Control: no-transform`` (RFC 9111 5.2.2.6): the sender wants the bytes as is."""
    for value in headers.getall("Cache-Control", ()):
        for directive in value.split(","):
            if directive.strip().lower() == "no-transform":
                return True
    return False


def _mark_encoded(headers: CIMultiDict[str], coding: str) -> None:
    headers["Content-Encoding"] = coding
    headers.popall("Content-Length", None)
    etag = headers.get("ETag")
    if etag is not None and etag.startswith('"'):
        # RFC 9110 8.8.3: a strong tag promises these exact bytes, and the encoded body is
        # other bytes; a weak tag still lets If-None-Match revalidate it (8.8.3.2).
        headers["ETag"] = "W/" + etag


class _Compression:
    """The middleware's settings and its work for one request at a time."""

    def __init__(
        self,
        codecs: dict[str, Codec],
        *,
        min_size: int,
        compressible: _TypeMatcher,
        executor_threshold: int | None,
        executor: Executor | None,
        decode_requests: bool,
        max_decoded_size: int | None,
    ) -> None:
        self._codecs = codecs
        self._negotiate = EncodingNegotiator(codecs)
        self._min_size = min_size
        self._compressible = compressible
        self._executor_threshold = executor_threshold
        self._executor = executor
        self._decode = decode_requests
        self._max_decoded_size = max_decoded_size

    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        headers = request.headers
        negotiated = self._negotiate(_joined(headers, "Accept-Encoding"))
        decoded: web.DecodedBody | None = None
        if self._decode and "Content-Encoding" in headers and request.body_exists:
            request, decoded = self._decoding(request)
        hook = self._prepare_hook(request, negotiated)
        request.add_prepare_hook(hook)
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            await self._process(request, exc, negotiated)
            raise
        finally:
            request.remove_prepare_hook(hook)
            if decoded is not None:
                decoded.close()
        if not response.prepared:
            await self._process(request, response, negotiated)
        return response

    # -- responses --------------------------------------------------------------------------

    def _prepare_hook(self, request: web.Request, negotiated: Negotiated) -> _Hook:
        """A response the handler prepares itself never comes back to the middleware
        unprepared: this hook sees it just before its head goes out."""

        async def hook(response: web.StreamResponse) -> None:
            await self._process(request, response, negotiated)

        return hook

    async def _process(
        self, request: web.Request, response: web.StreamResponse, negotiated: Negotiated
    ) -> None:
        if isinstance(response, web.FileResponse):
            return  # sendfile bypasses body encoders; it serves precompressed siblings itself
        body = response.body if isinstance(response, web.Response) else None
        if isinstance(response, web.Response) and (body is None or isinstance(body, bytes)):
            body = body or b""
            codec = self._plan(request, response, negotiated, len(body))
            if codec is not None:
                await self._encode_whole(response, codec, body, negotiated.identity_ok)
        else:  # streamed: written piece by piece, or a body that streams (a file)
            codec = self._plan(request, response, negotiated, response.content_length)
            if codec is not None:
                _mark_encoded(response.headers, codec.name)
                response.set_body_encoder(FlushingEncoder(codec.encoder()))

    def _plan(
        self,
        request: web.Request,
        response: web.StreamResponse,
        negotiated: Negotiated,
        size: int | None,
    ) -> Codec | None:
        """Add ``Vary`` where it belongs; return the codec to encode with, if any."""
        status = response.status
        headers = response.headers
        if (
            status < 200  # 1xx, and 101 for upgraded connections (WebSocket)
            or "Content-Encoding" in headers  # encoded already: never twice
            or not self._compressible(headers.get("Content-Type"))
        ):
            return None
        # The body could have been encoded for another client: caches must key on
        # Accept-Encoding whatever this one got (RFC 9110 12.5.5).
        add_vary(headers, "Accept-Encoding")
        if (
            status in _UNCOMPRESSED_STATUSES
            or request.method == "HEAD"
            or negotiated.coding is None
            or _no_transform(headers)
        ):
            return None
        if size is not None and size < self._min_size and negotiated.identity_ok:
            return None  # smaller than the framing and CPU it would save
        return self._codecs[negotiated.coding]

    async def _encode_whole(
        self, response: web.Response, codec: Codec, body: bytes, identity_ok: bool
    ) -> None:
        threshold = self._executor_threshold
        if threshold is not None and len(body) >= threshold:
            # Compressing a big body takes milliseconds; other connections keep being
            # served meanwhile (zlib and brotli release the GIL while they work).
            loop = asyncio.get_running_loop()
            encoded = await loop.run_in_executor(self._executor, codec.compress, body)
        else:
            encoded = codec.compress(body)
        if len(encoded) >= len(body) and identity_ok:
            return  # it did not shrink: send it as it is (Vary is set already)
        response.body = encoded
        _mark_encoded(response.headers, codec.name)

    # -- request bodies -----------------------------------------------------------------------

    def _decoding(self, request: web.Request) -> tuple[web.Request, web.DecodedBody | None]:
        """A clone of ``request`` whose body reads decoded.

        Raises:
            HTTPUnsupportedMediaType: a coding we cannot decode, or several stacked.
        """
        field = _joined(request.headers, "Content-Encoding") or ""
        codings = [
            name
            for name in (coding_name(part) for part in field.split(","))
            if name and name != "identity"
        ]
        if not codings:
            return request, None
        if len(codings) > 1 or codings[0] not in DECODABLE:
            # RFC 9110 15.5.16: say which codings would have been accepted.
            raise web.HTTPUnsupportedMediaType(
                text=f"Unsupported request Content-Encoding: {displayed_field_value(field)}",
                headers={"Accept-Encoding": ", ".join(DECODABLE)},
            )
        coding = codings[0]
        limit = self._max_decoded_size
        body = web.DecodedBody(
            request.content,
            make_decoder(coding),
            coding,
            request.client_max_size if limit is None else limit,
        )
        headers = CIMultiDict(request.headers)
        # The handler sees the body as if it had been sent unencoded, length unknown.
        headers.popall("Content-Encoding", None)
        headers.popall("Content-Length", None)
        clone = request.clone(headers=headers, content=body.stream)
        return cast(web.Request, clone), body


def _codecs(
    preference: Sequence[str], gzip_level: int, brotli_quality: int, zstd_level: int
) -> dict[str, Codec]:
    levels = {
        "gzip": gzip_level,
        "deflate": gzip_level,
        "br": brotli_quality,
        "zstd": zstd_level,
    }
    codecs: dict[str, Codec] = {}
    for raw in preference:
        name = raw.strip().lower()
        if name in codecs:
            raise ValueError(f"Content coding {name!r} is listed twice")
        codecs[name] = make_codec(name, levels.get(name, 0))
    return codecs


def compression_middleware(
    *,
    preference: Sequence[str] | None = None,
    min_size: int = 1024,
    compressible_types: Iterable[str] = DEFAULT_COMPRESSIBLE_TYPES,
    gzip_level: int = 6,
    brotli_quality: int = 4,
    zstd_level: int = 3,
    executor_threshold: int | None = 64 * 1024,
    executor: Executor | None = None,
    decode_requests: bool = True,
    max_decoded_size: int | None = None,
) -> Middleware:
    """A middleware that compresses responses and decodes compressed request bodies.

    A response is compressed when the client accepts a coding we produce, its type is in
    ``compressible_types``, its body is at least ``min_size`` bytes (any size when the
    client refused ``identity``), and nothing rules it out: an existing
    ``Content-Encoding``, a 1xx, 204, 206 or 304 status, a HEAD request, ``Cache-Control:
    no-transform``, or a ``FileResponse`` (serve precompressed ``.br``/``.gz`` siblings
    instead). Every response of a compressible type gets ``Vary: Accept-Encoding``.

    Args:
        preference: the codings to offer, most preferred first; it breaks ties between
            codings the client weighs equally. Known: ``br``, ``gzip``, ``zstd``,
            ``deflate``. Default :data:`DEFAULT_PREFERENCE`.
        min_size: the smallest body worth compressing, in bytes.
        compressible_types: media type patterns: ``type/subtype``, ``type/*`` or a
            ``+suffix``. Default :data:`DEFAULT_COMPRESSIBLE_TYPES`.
        gzip_level: zlib level for gzip and deflate, 1-9.
        brotli_quality: brotli quality, 0-11.
        zstd_level: zstd level, 1-19 (RFC 9659 caps the window those levels stay in).
        executor_threshold: bodies this size or larger are compressed in ``executor``;
            None compresses every body on the event loop.
        executor: where big bodies are compressed (None: the loop's default executor).
        decode_requests: decode request bodies sent with ``Content-Encoding``.
        max_decoded_size: the most decoded bytes a request body may grow to; None uses
            the application's ``client_max_size``; 0 means no limit.

    Returns:
        The middleware, for ``web.Application(middlewares=[...])``.

    Raises:
        ValueError: an unknown coding or pattern, ``zstd`` without the ``zstandard``
            package, a level out of range, or a negative size.
    """
    if min_size < 0 or (executor_threshold is not None and executor_threshold < 0):
        raise ValueError("min_size and executor_threshold cannot be negative")
    if max_decoded_size is not None and max_decoded_size < 0:
        raise ValueError("max_decoded_size cannot be negative")
    codecs = _codecs(
        DEFAULT_PREFERENCE if preference is None else preference,
        gzip_level,
        brotli_quality,
        zstd_level,
    )
    compression = _Compression(
        codecs,
        min_size=min_size,
        compressible=_TypeMatcher(compressible_types),
        executor_threshold=executor_threshold,
        executor=executor,
        decode_requests=decode_requests,
        max_decoded_size=max_decoded_size,
    )

    @web.middleware
    async def compression_mw(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await compression.handle(request, handler)

    return compression_mw
