"""Reading ``multipart/*`` bodies part by part, as they stream in (RFC 2046 5.1, RFC 7578).

``MultipartReader`` walks the parts of a body; each part is a ``BodyPartReader`` (or a nested
``MultipartReader`` for a ``multipart/*`` part) that reads only up to the next delimiter.
Nothing here buffers a whole body: a part's bytes are handed out as they arrive, keeping back
only the few bytes that could be the start of the next delimiter.

Reading a whole ``multipart/form-data`` body into form fields (``Request.post()``) builds on
these readers in ``runtime/web/multipart_form.py``.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy

from ..http.content_decoding import ContentDecoder
from ..http.grammar import FIELD_NAME_BYTES_RE
from ..http.header_params import parse_header_params
from ..server.streams import StreamReader
from .exceptions import HTTPRequestHeaderFieldsTooLarge

__all__ = ["BodyPartReader", "MultipartReader", "disposition_params", "part_mimetype"]

_READ_SIZE: Final = 2**16
# RFC 7578 4.6: ``_charset_`` holds a charset name, at most 40 characters (RFC 2978 2.3).
_MAX_CHARSET_FIELD: Final = 64

# RFC 2046 5.1.1: 1 to 70 characters, the last one not a space. Printable ASCII is accepted
# (a little wider than ``bchars``) because real clients stray outside it.
_BOUNDARY: Final = re.compile(r"[ -~]{0,69}[!-~]")


class _ByteSource(Protocol):
    """Where a reader pulls its bytes from: a ``StreamReader`` or an enclosing part."""

    async def readany(self) -> bytes: ...


def disposition_params(headers: Mapping[str, str]) -> dict[str, str]:
    """The parameters of a part's ``Content-Disposition`` (``name``, ``filename``, ...);
    empty when it has none or they are ambiguous."""
    value = headers.get("Content-Disposition")
    if value is None:
        return {}
    try:
        return parse_header_params(value)[1]
    except ValueError:
        return {}  # ambiguous parameters: treated as if there were none


# -- the look-ahead buffer --------------------------------------------------------------


class _Lookahead:
    """Bytes pulled from the source and not consumed yet.

    A part ends right before the CRLF that opens the next delimiter (RFC 2046 5.1.1), which
    is only known once the bytes after that CRLF arrived; this buffer holds those bytes.
    ``_clean`` counts the leading bytes already known not to start the delimiter, so a
    large buffer is not searched again on every small read.
    """

    __slots__ = ("_clean", "_pull", "buffer", "eof")

    def __init__(self, pull: Callable[[], Awaitable[bytes]], initial: bytes = b"") -> None:
        self._pull = pull
        self.buffer = bytearray(initial)
        self.eof = False
        self._clean = 0

    async def fill(self) -> bool:
        """Pull one more chunk; False once the source is exhausted."""
        if self.eof:
            return False
        chunk = await self._pull()
        if not chunk:
            self.eof = True
            return False
        self.buffer += chunk
        return True

    def take(self, count: int) -> bytes:
        with memoryview(self.buffer) as view:
            data = bytes(view[:count])
        del self.buffer[:count]
        self._clean = max(0, self._clean - count)
        return data

    def drop(self) -> None:
        self.buffer.clear()
        self._clean = 0

    async def read_before(self, delimiter: bytes, size: int) -> tuple[bytes, bool]:
        """Up to ``size`` bytes that come before ``delimiter``, and whether it was reached.

        The delimiter itself stays in the buffer.

        Raises:
            ValueError: the source ended before the delimiter.
        """
        buffer = self.buffer
        while True:
            index = buffer.find(delimiter, self._clean)
            if index >= 0:
                self._clean = index
                if index <= size:
                    return self.take(index), True
                return self.take(size), False
            # No delimiter starts before ``safe``: those bytes belong to the current span.
            safe = len(buffer) - len(delimiter) + 1
            if safe > 0:
                self._clean = safe
                return self.take(min(size, safe)), False
            if not await self.fill():
                raise ValueError("the body ended before the closing multipart boundary")

    async def read_line(self, limit: int) -> bytes | None:
        """One CRLF-terminated line without its CRLF; None when longer than ``limit``.

        Raises:
            ValueError: the source ended before the line did.
        """
        start = 0
        while True:
            index = self.buffer.find(b"\r\n", start)
            if index >= 0:
                if index > limit:
                    return None
                line = self.take(index)
                self.take(2)
                return line
            if len(self.buffer) > limit + 1:
                return None
            start = max(0, len(self.buffer) - 1)
            if not await self.fill():
                raise ValueError("the body ended inside a multipart header block")

    async def ensure(self, count: int) -> None:
        while len(self.buffer) < count and await self.fill():
            pass


# -- a part -----------------------------------------------------------------------------


class BodyPartReader:
    """One part of a multipart body, read up to the next delimiter.

    ``headers`` are the part's own headers; ``name`` and ``filename`` come from its
    ``Content-Disposition``. Iterating yields the raw body in chunks.
    """

    chunk_size = 8192

    def __init__(
        self,
        boundary: bytes,
        headers: CIMultiDictProxy[str],
        content: _Lookahead,
        *,
        subtype: str = "mixed",
        default_charset: str | None = None,
    ) -> None:
        self.headers = headers
        self._delimiter = b"\r\n--" + boundary
        self._content = content
        self._subtype = subtype
        self._default_charset = default_charset
        self._at_eof = False
        self._params: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"<BodyPartReader name={self.name!r} filename={self.filename!r}>"

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iter_chunks()

    async def _iter_chunks(self) -> AsyncIterator[bytes]:
        while chunk := await self.read_chunk():
            yield chunk

    @property
    def name(self) -> str | None:
        """The form field name (``Content-Disposition: form-data; name=...``), if any."""
        return self._disposition().get("name")

    @property
    def filename(self) -> str | None:
        """The client's file name, ``filename*`` preferred (RFC 6266 4.3); client-controlled:
        never use it as a path."""
        return self._disposition().get("filename")

    def _disposition(self) -> dict[str, str]:
        if self._params is None:
            self._params = disposition_params(self.headers)
        return self._params

    def at_eof(self) -> bool:
        """Whether the part's body was read up to the delimiter."""
        return self._at_eof

    async def read_chunk(self, size: int = chunk_size) -> bytes:
        """The next piece of the raw body, at most ``size`` bytes; ``b""`` at its end.

        Raises:
            ValueError: ``size`` is not positive, or the body ended without a delimiter.
        """
        if size < 1:
            raise ValueError("size must be positive")
        if self._at_eof:
            return b""
        data, reached = await self._content.read_before(self._delimiter, size)
        self._at_eof = reached
        return data

    async def read(self, *, decode: bool = False) -> bytearray:
        """The rest of the raw body (decoded with :meth:`decode` if asked)."""
        data = bytearray()
        while chunk := await self.read_chunk(_READ_SIZE):
            data += chunk
        if decode:
            return bytearray(self.decode(data))
        return data

    async def readline(self) -> bytes:
        """The next line with its line end; the CRLF before the delimiter is not part of it."""
        if self._at_eof:
            return b""
        content = self._content
        delimiter = self._delimiter
        start = 0
        while True:
            buffer = content.buffer
            newline = buffer.find(b"\n", start)
            if newline < 0:
                start = len(buffer)
                if not await content.fill():
                    raise ValueError("the body ended before the closing multipart boundary")
                continue
            # The delimiter holds a LF, so the only place it can start before the first LF
            # is the CR just ahead of it; wait until enough bytes arrived to tell.
            cr = newline - 1
            if cr >= 0 and len(buffer) < cr + len(delimiter) and await content.fill():
                continue
            if cr >= 0 and buffer.startswith(delimiter, cr):
                self._at_eof = True
                return content.take(cr)
            return content.take(newline + 1)

    async def release(self) -> None:
        """Read the rest of the part and drop it."""
        while await self.read_chunk(_READ_SIZE):
            pass

    async def text(self, *, encoding: str | None = None) -> str:
        """The decoded body as text, in ``encoding`` or the part's charset (UTF-8 by default)."""
        data = await self.read(decode=True)
        return data.decode(encoding or self.get_charset("utf-8"))

    async def json(
        self, *, encoding: str | None = None, loads: Callable[[str], Any] = json.loads
    ) -> Any:
        """The decoded body parsed as JSON; None for an empty body."""
        data = await self.read(decode=True)
        if not data:
            return None
        return loads(data.decode(encoding or self.get_charset("utf-8")))

    async def form(self, *, encoding: str | None = None) -> list[tuple[str, str]]:
        """The decoded body parsed as ``application/x-www-form-urlencoded``."""
        data = await self.read(decode=True)
        if not data:
            return []
        charset = encoding or self.get_charset("utf-8")
        try:
            text = data.rstrip().decode(charset)
        except UnicodeDecodeError:
            raise ValueError(f"the form part is not valid {charset}") from None
        return parse_qsl(text, keep_blank_values=True, encoding=charset)

    def get_charset(self, default: str) -> str:
        """The ``charset`` of the part's Content-Type, else the form's ``_charset_``, else
        ``default``."""
        ctype = self.headers.get("Content-Type", "")
        try:
            charset = parse_header_params(ctype)[1].get("charset")
        except ValueError:
            charset = None
        return charset or self._default_charset or default

    def decode(self, data: bytes | bytearray) -> bytes:
        """Undo Content-Transfer-Encoding (base64, quoted-printable) and, outside
        ``multipart/form-data``, Content-Encoding (gzip, deflate).

        Raises:
            RuntimeError: an encoding this reader does not know.
            ValueError: data that does not decode.
        """
        decoder = self._decoder()
        return decoder.feed(bytes(data)) + decoder.flush()

    def _decoder(self) -> ContentDecoder:
        # RFC 7578 4.8: in form-data only Content-Type, Content-Disposition and
        # Content-Transfer-Encoding count; any Content-Encoding is ignored.
        coding = "" if self._subtype == "form-data" else self.headers.get("Content-Encoding", "")
        return ContentDecoder(self.headers.get("Content-Transfer-Encoding", ""), coding)


class _PartSource:
    """A part's raw body as the source of a nested ``MultipartReader``."""

    __slots__ = ("_part",)

    def __init__(self, part: BodyPartReader) -> None:
        self._part = part

    async def readany(self) -> bytes:
        return await self._part.read_chunk(_READ_SIZE)


# -- the reader -------------------------------------------------------------------------


class MultipartReader:
    """The parts of a ``multipart/*`` body, in order (``async for part in reader``).

    The preamble and the epilogue are ignored (RFC 2046 5.1.1). In ``multipart/form-data``
    a ``_charset_`` field is consumed and sets the charset of the fields after it
    (RFC 7578 4.6).

    Args:
        headers: headers carrying the ``Content-Type`` with its ``boundary``.
        content: the body (the request's ``StreamReader``).

    Raises:
        ValueError: the Content-Type is not ``multipart/*`` or its boundary is missing or
            invalid.
    """

    #: Longest header field in a part, and most fields; past them: 431 (RFC 6585 5), the
    #: limits the server puts on request heads.
    max_field_size = 8190
    max_headers = 100

    def __init__(self, headers: Mapping[str, str], content: _ByteSource | StreamReader) -> None:
        self.headers = headers
        ctype = headers.get("Content-Type", "")
        mimetype, params = parse_header_params(ctype)
        if not mimetype.startswith("multipart/"):
            raise ValueError(f"expected a multipart/* Content-Type, got {ctype!r}")
        self._subtype = mimetype.partition("/")[2]
        self._boundary = _check_boundary(params.get("boundary"))
        self._delimiter = b"\r\n--" + self._boundary
        self._content = content
        # The first delimiter may open the body, without the CRLF that begins the others.
        self._lookahead = _Lookahead(content.readany, b"\r\n")
        self._started = False
        self._at_eof = False
        self._last_part: BodyPartReader | MultipartReader | None = None
        self._default_charset: str | None = None

    def __repr__(self) -> str:
        return f"<MultipartReader multipart/{self._subtype} boundary={self._boundary!r}>"

    def __aiter__(self) -> MultipartReader:
        return self

    async def __anext__(self) -> BodyPartReader | MultipartReader:
        part = await self.next()
        if part is None:
            raise StopAsyncIteration
        return part

    def at_eof(self) -> bool:
        """Whether the closing delimiter was read."""
        return self._at_eof

    async def next(self) -> BodyPartReader | MultipartReader | None:
        """The next part (the previous one is read to its end first); None after the last.

        Raises:
            ValueError: the body is malformed.
            HTTPRequestHeaderFieldsTooLarge: a part's headers are over the limits.
        """
        if self._at_eof:
            return None
        if self._last_part is not None:
            await self._last_part.release()
            self._last_part = None
        if not self._started:
            await self._skip_preamble()
            self._started = True
        part = await self._next_part()
        if (
            isinstance(part, BodyPartReader)
            and self._subtype == "form-data"
            and part.name == "_charset_"
        ):
            self._default_charset = await _read_charset(part)
            part = await self._next_part()
        self._last_part = part
        return part

    async def release(self) -> None:
        """Read every remaining part, and the epilogue, to the void."""
        while await self.next() is not None:
            pass
        while await self._content.readany():
            pass

    async def _skip_preamble(self) -> None:
        try:
            while not (await self._lookahead.read_before(self._delimiter, _READ_SIZE))[1]:
                pass
        except ValueError:
            raise ValueError(f"no multipart boundary {self._boundary!r} in the body") from None

    async def _next_part(self) -> BodyPartReader | MultipartReader | None:
        if not await self._read_delimiter():
            self._at_eof = True
            self._lookahead.drop()  # the epilogue is ignored (RFC 2046 5.1.1)
            return None
        headers = await self._read_headers()
        mimetype = part_mimetype(headers)
        part = BodyPartReader(
            self._boundary,
            headers,
            self._lookahead,
            subtype=self._subtype,
            default_charset=self._default_charset,
        )
        if mimetype.startswith("multipart/"):
            return type(self)(headers, _PartSource(part))
        return part

    async def _read_delimiter(self) -> bool:
        """Consume a delimiter line; False for the close delimiter (RFC 2046 5.1.1)."""
        lookahead = self._lookahead
        await lookahead.ensure(len(self._delimiter) + 2)
        if not lookahead.buffer.startswith(self._delimiter):
            raise ValueError("the body ended before the closing multipart boundary")
        lookahead.take(len(self._delimiter))
        if lookahead.buffer.startswith(b"--"):
            lookahead.take(2)
            return False
        # Transport padding (spaces and tabs) may follow the boundary, then CRLF.
        line = await lookahead.read_line(self.max_field_size)
        if line is None or line.strip(b" \t"):
            raise ValueError(f"invalid multipart delimiter line for {self._boundary!r}")
        return True

    async def _read_headers(self) -> CIMultiDictProxy[str]:
        """A part's header block, up to the empty line, with the limits request heads have."""
        fields: list[list[bytes]] = []
        while True:
            line = await self._lookahead.read_line(self.max_field_size)
            if line is None:
                raise _headers_too_large(f"a line is longer than {self.max_field_size} bytes")
            if not line:
                break
            if line[:1] in (b" ", b"\t"):
                # RFC 5322 2.2.3: a folded line continues the field before it.
                if not fields:
                    raise ValueError("a multipart header block starts with a continuation")
                fields[-1][1] += b" " + line.strip(b" \t")
                if len(fields[-1][1]) > self.max_field_size:
                    raise _headers_too_large(f"a field is longer than {self.max_field_size} bytes")
                continue
            if len(fields) >= self.max_headers:
                raise _headers_too_large(f"more than {self.max_headers} fields")
            name, colon, value = line.partition(b":")
            if not colon or not FIELD_NAME_BYTES_RE.fullmatch(name):
                raise ValueError(f"invalid multipart header line {line[:64]!r}")
            fields.append([name, value.strip(b" \t")])
        headers: CIMultiDict[str] = CIMultiDict()
        for name, value in fields:
            # The same decoding request headers get (runtime.http.message.decode_headers).
            headers.add(name.decode("ascii"), value.decode("utf-8", "surrogateescape"))
        return CIMultiDictProxy(headers)


def _headers_too_large(detail: str) -> HTTPRequestHeaderFieldsTooLarge:
    return HTTPRequestHeaderFieldsTooLarge(
        text=f"A multipart part's headers are too large: {detail}"
    )


def _check_boundary(boundary: str | None) -> bytes:
    if not boundary:
        raise ValueError("the multipart Content-Type has no boundary parameter")
    if _BOUNDARY.fullmatch(boundary) is None:
        raise ValueError(
            f"invalid multipart boundary {boundary!r}: RFC 2046 5.1.1 allows 1 to 70 ASCII"
            " characters, not ending with a space"
        )
    return boundary.encode("ascii")


def part_mimetype(headers: Mapping[str, str]) -> str:
    """The media type of a part's ``Content-Type``, lowercased; ``""`` when it has none or
    it does not parse."""
    try:
        return parse_header_params(headers.get("Content-Type", ""))[0]
    except ValueError:
        return ""


async def _read_charset(part: BodyPartReader) -> str:
    data = b""
    while chunk := await part.read_chunk(_MAX_CHARSET_FIELD):
        data += chunk
        if len(data) > _MAX_CHARSET_FIELD:
            raise ValueError("the _charset_ field is too long to name a charset")
    name = data.strip().decode("ascii", "replace")
    try:
        codecs.lookup(name)
    except LookupError:
        raise ValueError(f"the _charset_ field names an unknown charset {name!r}") from None
    return name
