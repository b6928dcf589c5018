"""Responses: ``StreamResponse`` for streaming, ``Response`` for whole bodies, JSON helpers."""

from __future__ import annotations

import asyncio
import io
import warnings
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar, overload

from multidict import CIMultiDict, istr

from ..http.codings import ContentCoding, FlushingEncoder, add_vary, negotiate, zlib_encoder
from ..http.fields import ETag
from ..http.writer import REASONS, ResponseWriter, reason_phrase
from .foreign_payload import as_payload
from .keys import ResponseKey, is_foreign_key, warn_str_key
from .payload import Payload
from .response_fields import HeaderFields

if TYPE_CHECKING:
    from .request import BaseRequest

__all__ = [
    "BodyEncoder",
    "ContentCoding",
    "ETag",
    "Response",
    "StreamResponse",
]

_T = TypeVar("_T")
_CONTENT_TYPE = istr("Content-Type")
_DEFAULT_TEXT_TYPE = "text/plain; charset=utf-8"
_CONTENT_LENGTH = istr("Content-Length")


_BOTH_CONTENT_TYPES = (
    "passing both Content-Type header and content_type or charset params is forbidden"
)

LooseHeaders = Mapping[str, str] | Iterable[tuple[str, str]] | CIMultiDict[str]

# What enable_compression() negotiates, preferred in this order on equal weights: the name
# "deflate" has meant two formats in practice (RFC 9110 8.4.1.2), "gzip" one.
_NEGOTIATED = ("gzip", "deflate")


def _response_coding(
    status: int, headers: CIMultiDict[str], force: ContentCoding | None, accept_encoding: str
) -> str | None:
    """The coding ``enable_compression()`` gives a body (``None``: sent as it is).

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
    return negotiate(accept_encoding, _NEGOTIATED).coding


_NO_STATE: dict[Any, Any] = {}  # see StreamResponse._state


class BodyEncoder(Protocol):
    """Encodes a response body on its way out: see :meth:`StreamResponse.set_body_encoder`."""

    def compress(self, data: bytes) -> bytes:
        """What to send for one ``write(data)``: may be empty, should flush what it can."""

    def finish(self, data: bytes = b"") -> bytes:
        """What to send for the last piece, ``write_eof(data)``; ends the encoded body."""


class StreamResponse(HeaderFields):
    """A response whose body is written piece by piece after :meth:`prepare`."""

    # enable_compression() state; class defaults keep the common path free of it.
    _compression = False
    _compression_force: ContentCoding | None = None
    _compression_strategy: int | None = None
    _coding_decided = False
    _encoder: BodyEncoder | None = None
    # The state of a response not yet sent, as class defaults too: a response is built per
    # request, and most of these never change before it leaves.
    _writer: ResponseWriter | None = None
    _eof_sent = False
    _chunked = False
    _keep_alive: bool | None = None
    _req: BaseRequest | None = None
    # The per-response mapping (``resp[KEY]``): a shared empty dict until a key is set, when
    # __setitem__ gives the response its own (nothing else writes to it).
    _state: dict[Any, Any] = _NO_STATE
    # The str keys warned about already: aiohttp warns once per key, not per response.
    _seen_str_keys: ClassVar[set[str]] = set()

    def __init__(
        self,
        *,
        status: int = 200,
        reason: str | None = None,
        headers: LooseHeaders | None = None,
    ) -> None:
        self._init_head(status, reason, headers)

    def _init_head(self, status: int, reason: str | None, headers: LooseHeaders | None) -> None:
        """What ``__init__`` sets, called positionally: ``Response`` is built per request,
        and a call with keywords costs it more than the assignments here."""
        self._headers: CIMultiDict[str] = (
            CIMultiDict(headers) if headers is not None else CIMultiDict()
        )
        if type(status) is int and reason is None and (phrase := REASONS.get(status)):
            self._status, self._reason = status, phrase  # the usual case, valid as it is
        else:
            self.set_status(status, reason)

    # -- status -------------------------------------------------------------------------

    @property
    def status(self) -> int:
        return self._status

    @property
    def reason(self) -> str:
        return self._reason

    def set_status(self, status: int, reason: str | None = None) -> None:
        if self._writer is not None:
            raise RuntimeError(
                "Cannot change the response status code after the headers have been sent"
            )
        if not 100 <= int(status) <= 999:
            raise ValueError(f"Invalid status code {status!r}")
        if reason is None:
            reason = reason_phrase(status)
        elif "\r" in reason or "\n" in reason:
            raise ValueError("Reason cannot contain CR or LF")  # response splitting
        self._status = int(status)
        self._reason = reason

    # -- state --------------------------------------------------------------------------

    @property
    def prepared(self) -> bool:
        return self._writer is not None

    @property
    def task(self) -> Any:
        return self._req.task if self._req is not None else None

    @property
    def keep_alive(self) -> bool | None:
        return self._keep_alive

    def force_close(self) -> None:
        self._keep_alive = False
        if self._writer is not None:
            self._writer.force_close()

    @property
    def body_length(self) -> int:
        return self._writer.bytes_sent if self._writer is not None else 0

    @property
    def output_length(self) -> int:
        """Deprecated: what :attr:`body_length` says, with a warning."""
        warnings.warn(
            "StreamResponse.output_length is deprecated: use response.body_length",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.body_length

    @property
    def chunked(self) -> bool:
        return self._chunked

    def enable_chunked_encoding(self, chunk_size: int | None = None) -> None:
        """Send the body chunked even when its length could be known. ``chunk_size`` is
        deprecated and ignored (aiohttp #1615): each ``write()`` is a chunk."""
        if _CONTENT_LENGTH in self._headers:
            raise RuntimeError("You can't enable chunked encoding when a content length is set")
        if chunk_size is not None:
            warnings.warn(
                "enable_chunked_encoding(chunk_size=...) is deprecated and ignored: call "
                "enable_chunked_encoding() and write() the pieces you want sent as chunks",
                DeprecationWarning,
                stacklevel=2,
            )
        self._chunked = True

    @property
    def compression(self) -> bool:
        return self._compression

    def enable_compression(
        self, force: ContentCoding | bool | None = None, strategy: int | None = None
    ) -> None:
        """Compress the body with gzip or deflate when the response is prepared.

        Nothing is compressed for statuses without a body (1xx, 204, 304), a body that
        already has a ``Content-Encoding``, or a byte range (``Content-Range``).

        Args:
            force: the coding to use whatever the client sent (``ContentCoding.identity``
                turns compression off); ``None`` negotiates with ``Accept-Encoding``,
                q-values honoured (RFC 9110 12.5.3), and adds ``Vary: Accept-Encoding``.
            strategy: a zlib strategy (``zlib.Z_FILTERED``, ...), zlib's default if None.

        Raises:
            RuntimeError: the headers were sent already.
        """
        if isinstance(force, bool):
            warnings.warn(
                "enable_compression(force=True/False) is deprecated: pass a "
                "web.ContentCoding (ContentCoding.deflate for True)",
                DeprecationWarning,
                stacklevel=2,
            )
            force = ContentCoding.deflate if force else ContentCoding.identity
        elif force is not None and not isinstance(force, ContentCoding):
            raise TypeError(f"force must be a ContentCoding or None, not {force!r}")
        if self._writer is not None:
            raise RuntimeError("Cannot enable compression after the headers have been sent")
        self._compression = True
        self._compression_force = force
        self._compression_strategy = strategy

    def set_body_encoder(self, encoder: BodyEncoder | None) -> None:
        """Send the body through ``encoder`` (a compressing middleware's hook).

        Each ``write(data)`` sends ``encoder.compress(data)`` and ``write_eof(data)`` sends
        ``encoder.finish(data)`` (for a :class:`Response`, its whole body). The caller sets
        ``Content-Encoding`` and leaves ``Content-Length`` unset: the body goes chunked.
        A ``FileResponse`` then sends its file through ``write()`` instead of sendfile.

        Args:
            encoder: the encoder, or None to send the body as written.

        Raises:
            RuntimeError: the headers were sent already.
        """
        if self._writer is not None:
            raise RuntimeError("Cannot set a body encoder after the headers have been sent")
        self._encoder = encoder

    def _choose_coding(self, request: BaseRequest) -> str | None:
        """The coding for the body, decided once, just before the head is written."""
        if not self._compression or self._coding_decided:
            return None
        self._coding_decided = True
        accept = ", ".join(request.headers.getall("Accept-Encoding", ()))
        return _response_coding(self._status, self._headers, self._compression_force, accept)

    # -- headers ------------------------------------------------------------------------

    @property
    def headers(self) -> CIMultiDict[str]:
        return self._headers

    @property
    def content_length(self) -> int | None:
        value = self._headers.get(_CONTENT_LENGTH)
        return int(value) if value is not None else None

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        if value is None:
            self._headers.popall(_CONTENT_LENGTH, None)
            return
        value = int(value)
        if value < 0:
            raise ValueError("Content-Length cannot be negative")
        if self._chunked:
            raise RuntimeError("You can't set content length when chunked encoding is enabled")
        self._headers[_CONTENT_LENGTH] = str(value)

    # -- sending ------------------------------------------------------------------------

    async def prepare(self, request: BaseRequest) -> ResponseWriter | None:
        """Send the status line and headers; returns the writer (``None`` after EOF)."""
        if self._eof_sent:
            return None
        if self._writer is not None:
            return self._writer
        await request._prepare_hook(self)
        writer = self._start(request)
        await writer.drain()
        return writer

    def _start(self, request: BaseRequest) -> ResponseWriter:
        self._req = request
        writer = self._writer = request._writer
        if self._keep_alive is False:
            writer.force_close()
        headers = self._headers
        if self._compression:
            coding = self._choose_coding(request)
            if coding is not None:
                headers["Content-Encoding"] = coding
                headers.popall(_CONTENT_LENGTH, None)  # the encoded length is not known
                self._encoder = FlushingEncoder(
                    zlib_encoder(coding, strategy=self._compression_strategy)
                )
        if self._cookies:
            for morsel in self._cookies.values():
                headers.add("Set-Cookie", morsel.OutputString())
        if self._chunked:
            headers.popall(_CONTENT_LENGTH, None)
        writer.write_head(self._status, self._reason, headers)
        self._keep_alive = writer.keep_alive
        return writer

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send a piece of the body; waits while the client reads slowly.

        Raises ``ConnectionResetError`` once the client has gone, so streaming loops end.
        """
        writer = self._writer
        if writer is None:
            raise RuntimeError("Call prepare() before write()")
        if self._eof_sent:
            raise RuntimeError("Cannot call write() after write_eof()")
        if self._encoder is not None:
            writer.write(self._encoder.compress(bytes(data)))
        else:
            writer.write(bytes(data))
        await writer.drain()

    async def drain(self) -> None:
        """Deprecated: ``await response.write(data)`` already waits for the buffer."""
        if self._writer is None:
            raise RuntimeError("Call prepare() before drain()")
        warnings.warn(
            # aiohttp's sentence word for word (it names the replacement), so filters and
            # tests written against aiohttp match
            "drain method is deprecated, use await resp.write()",
            DeprecationWarning,
            stacklevel=2,
        )
        await self._writer.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        writer = self._writer
        if writer is None:
            raise RuntimeError("Call prepare() before write_eof()")
        if self._encoder is not None:
            writer.write_eof(self._encoder.finish(bytes(data)))
        else:
            writer.write_eof(bytes(data))
        self._eof_sent = True

    def __repr__(self) -> str:
        state = "eof" if self._eof_sent else ("prepared" if self.prepared else "not prepared")
        return f"<{type(self).__name__} {self._status} {self._reason} {state}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    # A response is a mapping for per-response data (``resp[KEY]``, a ``web.ResponseKey``).
    @overload
    def __getitem__(self, key: ResponseKey[_T]) -> _T: ...

    @overload
    def __getitem__(self, key: str) -> Any: ...

    def __getitem__(self, key: Any) -> Any:
        return self._state[key]

    @overload
    def __setitem__(self, key: ResponseKey[_T], value: _T) -> None: ...

    @overload
    def __setitem__(self, key: str, value: Any) -> None: ...

    def __setitem__(self, key: Any, value: Any) -> None:
        if (
            not isinstance(key, ResponseKey)
            and key not in StreamResponse._seen_str_keys
            and not is_foreign_key(key, ResponseKey)
        ):
            StreamResponse._seen_str_keys.add(key)  # once per key and process, as aiohttp
            warn_str_key(key, ResponseKey, stacklevel=2)
        if self._state is _NO_STATE:
            self._state = {}
        self._state[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._state[key]  # (a KeyError from the shared empty dict, which stays empty)

    def __contains__(self, key: object) -> bool:
        return key in self._state

    def get(self, key: Any, default: Any = None) -> Any:
        return self._state.get(key, default)

    def __len__(self) -> int:
        return len(self._state)

    def __iter__(self) -> Any:
        return iter(self._state)

    def __bool__(self) -> bool:
        return True


class Response(StreamResponse):
    """A response with its whole body known up front.

    ``body`` is bytes, or str (encoded in the response's charset, UTF-8 by default), sent
    with the head in one write; or an open file, an async iterable of bytes or a multipart
    part, streamed after the head as a :class:`~runtime.web.payload.Payload`.

    With :meth:`enable_compression`, a body larger than ``zlib_executor_size`` bytes is
    compressed in ``zlib_executor`` (the loop's default executor when None).
    """

    _compressed_body: bytes | None = None
    _payload: Payload | None = None  # a streamed body; bytes stay in _body
    _zlib_executor_size = 4096  # (set per response only when not the default)
    _zlib_executor: Executor | None = None

    def __init__(
        self,
        *,
        body: Any = None,
        status: int = 200,
        reason: str | None = None,
        text: str | None = None,
        headers: LooseHeaders | None = None,
        content_type: str | None = None,
        charset: str | None = None,
        zlib_executor_size: int = 4096,
        zlib_executor: Executor | None = None,
    ) -> None:
        if body is not None and text is not None:
            raise ValueError("body and text are not allowed together")
        self._init_head(status, reason, headers)
        if zlib_executor_size != 4096 or zlib_executor is not None:
            self._zlib_executor_size = zlib_executor_size
            self._zlib_executor = zlib_executor
        hdrs = self._headers
        if text is not None:
            if not isinstance(text, str):
                raise TypeError(f"text argument must be str ({type(text)!r})")
            if headers is not None and _CONTENT_TYPE in hdrs:
                if content_type or charset:
                    raise ValueError(_BOTH_CONTENT_TYPES)
                encoding = self.charset or "utf-8"
            elif content_type is None and charset is None:
                encoding = "utf-8"
                hdrs[_CONTENT_TYPE] = _DEFAULT_TEXT_TYPE  # the common case, preformatted
            else:
                if content_type is not None and ";" in content_type:
                    raise ValueError("charset must not be in content_type argument")
                encoding = charset or "utf-8"
                hdrs[_CONTENT_TYPE] = f"{content_type or 'text/plain'}; charset={encoding}"
            self._body: bytes | None = text.encode(encoding)
        else:
            if _CONTENT_TYPE in hdrs:
                if content_type is not None or charset is not None:
                    raise ValueError(_BOTH_CONTENT_TYPES)
            elif content_type is not None:
                if charset is not None:
                    content_type += f"; charset={charset}"
                hdrs[_CONTENT_TYPE] = content_type
            self._body = None
            self.body = body

    @property
    def body(self) -> bytes | Payload | None:
        """The body: bytes, or the :class:`~runtime.web.payload.Payload` that streams it
        (both have ``decode()``)."""
        payload = self._payload
        return self._body if payload is None else payload

    @body.setter
    def body(self, body: Any) -> None:
        if self._payload is not None:
            self._payload = None
        if body is None:
            self._body = None
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self._body = bytes(body)
            if _CONTENT_TYPE not in self._headers:
                self._headers[_CONTENT_TYPE] = "application/octet-stream"
        else:
            self._set_body_object(body)

    def _set_body_object(self, body: object) -> None:
        """A str body, or one that streams (a file, an async iterable, a part)."""
        headers = self._headers
        charset = self.charset if _CONTENT_TYPE in headers else None
        if isinstance(body, io.StringIO):
            body = body.read()  # in memory already: sent as a str is (aiohttp reads it too)
        if isinstance(body, str):
            if _CONTENT_TYPE not in headers:
                headers[_CONTENT_TYPE] = _DEFAULT_TEXT_TYPE
            # The declared charset is what the bytes must be in (RFC 9110 8.3.2).
            self._body = body.encode(charset or "utf-8")
            return
        payload = as_payload(body, charset=charset)
        self._body = None
        self._payload = payload
        for name, value in payload.headers.items():
            if name not in headers:
                headers[name] = value

    @property
    def text(self) -> str | None:
        if self._payload is not None:
            return self._payload.decode(self.charset or "utf-8")
        if self._body is None:
            return None
        return self._body.decode(self.charset or "utf-8")

    @text.setter
    def text(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"text argument must be str ({type(text)!r})")
        if _CONTENT_TYPE not in self._headers:
            self._headers[_CONTENT_TYPE] = "text/plain; charset=utf-8"
        self._payload = None
        self._body = text.encode(self.charset or "utf-8")

    @property
    def content_length(self) -> int | None:
        if self._chunked:
            return None
        value = self._headers.get(_CONTENT_LENGTH)
        if value is not None:
            return int(value)
        if self._payload is not None:
            return None  # known once the head is written, if the payload knows its size
        return len(self._body) if self._body is not None else 0

    @content_length.setter
    def content_length(self, value: int | None) -> None:
        raise RuntimeError("Content length is set automatically")

    def _start(self, request: BaseRequest) -> ResponseWriter:
        if not self._chunked and _CONTENT_LENGTH not in self._headers and self._encoder is None:
            payload = self._payload
            if payload is None:
                body = self._body
                self._headers[_CONTENT_LENGTH] = str(len(body)) if body is not None else "0"
            elif (size := payload.size) is not None:
                self._headers[_CONTENT_LENGTH] = str(size)
        return super()._start(request)

    async def write_eof(self, data: bytes = b"") -> None:
        if self._eof_sent:
            return
        payload = self._payload
        if payload is not None:
            await self._send_payload(payload)
            await super().write_eof(data)
            return
        body = self._compressed_body
        if body is None:
            body = self._body or b""
        await super().write_eof(body + data if data else body)

    async def prepare(self, request: BaseRequest) -> ResponseWriter | None:
        """Run the prepare hooks and queue the head; it leaves with the body in one write."""
        if self._eof_sent:
            return None
        if self._writer is not None:
            return self._writer
        if self._compression and not self._chunked and self._payload is None:
            await self._compress_body(request)  # a streamed body is encoded as it goes
        await request._prepare_hook(self)
        return self._start(request)

    async def _compress_body(self, request: BaseRequest) -> None:
        coding = self._choose_coding(request)
        body = self._body
        if coding is None or not body:
            return
        encoder = FlushingEncoder(zlib_encoder(coding, strategy=self._compression_strategy))
        if len(body) > self._zlib_executor_size:
            loop = asyncio.get_running_loop()
            compressed = await loop.run_in_executor(self._zlib_executor, encoder.finish, body)
        else:
            compressed = encoder.finish(body)
        self._compressed_body = compressed
        self._headers["Content-Encoding"] = coding
        self._headers[_CONTENT_LENGTH] = str(len(compressed))

    async def _send_payload(self, payload: Payload) -> None:
        """Stream the payload after the head (nothing of it for HEAD, 204, 304), then close it."""
        writer = self._writer
        if writer is None:
            raise RuntimeError("Call prepare() before write_eof()")
        try:
            if not writer.no_body:
                await payload.write(self)
        finally:
            await payload.close()

    def _send(self, request: BaseRequest) -> bool:
        """Prepare and finish in one step (no prepare hooks): one ``transport.write``.

        Returns False, having done nothing, for a streamed body: that takes awaiting.
        """
        if self._payload is not None:
            return False
        headers = self._headers
        count = len(headers)
        content_type = headers.get(_CONTENT_TYPE) if count == 1 else None
        if (
            (count == 0 or content_type is not None)
            and not self._cookies
            and not self._chunked
            and self._encoder is None
        ):
            # No header but Content-Type, if that: the writer frames the rest of the head
            # itself (Content-Length, Connection, Date, Server) and caches it.
            self._req = request
            writer = self._writer = request._writer
            if self._keep_alive is False:
                writer.force_close()
            writer.write_whole(self._status, self._reason, content_type, self._body or b"")
            self._keep_alive = writer.keep_alive
        else:
            body = self._body or b""
            if self._encoder is not None:
                body = self._encoder.finish(body)
            self._start(request).write_eof(body)
        self._eof_sent = True
        return True
