"""Reading a whole ``multipart/form-data`` body into form fields (RFC 7578), and
:class:`FileField`, the field an uploaded file becomes.

``read_form`` is what ``Request.post()`` awaits for ``multipart/form-data``: it enforces
``client_max_size`` on the bytes as they arrive, spools uploaded files to temporary files and
turns malformed bodies into 400 responses. The parts come from ``runtime/web/multipart.py``'s
streaming readers.
"""

from __future__ import annotations

import tempfile
from typing import IO, TYPE_CHECKING, Any, Final

from multidict import CIMultiDictProxy, MultiDict

from ..http.content_decoding import ContentDecoder
from ..http.errors import HttpProcessingError
from ..server.streams import StreamReader
from .exceptions import HTTPBadRequest, HTTPRequestEntityTooLarge, http_exception_for
from .multipart import BodyPartReader, MultipartReader, disposition_params, part_mimetype

if TYPE_CHECKING:  # read_form takes a request; request.py imports this module
    from .request import BaseRequest

__all__ = ["FileField", "read_form", "too_many_fields"]

# A part's body is read in chunks of at most this many bytes.
_READ_SIZE: Final = 2**16
# Uploaded files stay in memory up to this size, then move to a temporary file on disk.
_SPOOL_SIZE: Final = 2**16


class FileField:
    """An uploaded file from a multipart form (``request.post()``)."""

    __slots__ = ("content_type", "file", "filename", "headers", "name")

    def __init__(
        self,
        name: str,
        filename: str,
        file: Any,
        content_type: str,
        headers: CIMultiDictProxy[str],
    ) -> None:
        self.name = name
        self.filename = filename
        self.file = file
        self.content_type = content_type
        self.headers = headers

    def __repr__(self) -> str:
        return f"<FileField {self.name!r} filename={self.filename!r}>"


class _CappedSource:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (0: no cap)."""

    __slots__ = ("_limit", "_stream", "size")

    def __init__(self, stream: StreamReader, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self.size = 0

    async def readany(self) -> bytes:
        chunk = await self._stream.readany()
        self.size += len(chunk)
        if self._limit and self.size > self._limit:
            raise HTTPRequestEntityTooLarge(max_size=self._limit, actual_size=self.size)
        return chunk


def too_many_fields(limit: int) -> HTTPRequestEntityTooLarge:
    """The 413 for a form with more than ``client_max_fields`` fields (aiohttp's text)."""
    return HTTPRequestEntityTooLarge(
        max_size=limit,
        actual_size=limit + 1,
        text=f"Maximum number of form fields {limit} exceeded.",
    )


class _FormCollector:
    """Turns the parts of a form into fields: text, bytes or spooled files.

    Only Content-Transfer-Encoding is undone here (RFC 7578 4.8), which never grows the
    data, so the cap on the body's bytes also caps what is stored. Past ``max_fields``
    fields (0: no limit) the form is refused before the next part is read.
    """

    __slots__ = ("_files", "_max_fields", "fields")

    def __init__(self, max_fields: int = 0) -> None:
        self.fields: MultiDict[str | bytes | FileField] = MultiDict()
        self._files: list[IO[bytes]] = []
        self._max_fields = max_fields

    async def collect(self, reader: MultipartReader) -> None:
        async for part in reader:
            if isinstance(part, MultipartReader):
                name = _field_name(disposition_params(part.headers).get("name"))
                await self._collect_nested(name, part)
            else:
                await self._add(_field_name(part.name), part)
        await reader.release()  # the epilogue still counts toward the cap

    async def _collect_nested(self, name: str, reader: MultipartReader) -> None:
        # RFC 7578 4.3 (and RFC 2388 before it): several files under one field name, sent
        # as a nested multipart/mixed part.
        async for part in reader:
            if isinstance(part, MultipartReader):
                raise ValueError("multipart/form-data nested more than one level deep")
            await self._add(name, part)

    async def _add(self, name: str, part: BodyPartReader) -> None:
        if 0 < self._max_fields <= len(self.fields):
            raise too_many_fields(self._max_fields)
        try:
            decoder = ContentDecoder(part.headers.get("Content-Transfer-Encoding", ""), "")
        except RuntimeError as exc:
            raise ValueError(str(exc)) from None
        ctype = part.headers.get("Content-Type")
        filename = part.filename
        if filename:
            file = await self._spool(part, decoder)
            content_type = ctype or "application/octet-stream"
            self.fields.add(name, FileField(name, filename, file, content_type, part.headers))
            return
        data = bytearray()
        while chunk := await part.read_chunk(_READ_SIZE):
            data += decoder.feed(chunk)
        data += decoder.flush()
        if ctype is None or part_mimetype(part.headers).startswith("text/"):
            self.fields.add(name, data.decode(part.get_charset("utf-8")))
        else:
            self.fields.add(name, bytes(data))

    async def _spool(self, part: BodyPartReader, decoder: ContentDecoder) -> IO[bytes]:
        file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_SIZE)  # noqa: SIM115
        self._files.append(file)
        # Plain writes: chunks are at most 64 KiB and land in the page cache; a hop to an
        # executor per chunk would cost more than the write.
        while chunk := await part.read_chunk(_READ_SIZE):
            file.write(decoder.feed(chunk))
        file.write(decoder.flush())
        file.seek(0)
        return file

    def close(self) -> None:
        """Close the files spooled so far (the form is being refused)."""
        for file in self._files:
            file.close()


def _field_name(name: str | None) -> str:
    if not name:
        raise ValueError("a part has no name in its Content-Disposition (RFC 7578 4.2)")
    return name


async def read_form(request: BaseRequest) -> MultiDict[str | bytes | FileField]:
    """Read a ``multipart/form-data`` body into form fields (what ``request.post()`` returns).

    Text fields (no Content-Type, or ``text/*``) become ``str``, decoded with the part's
    charset, else the form's ``_charset_``, else UTF-8; other fields stay ``bytes``; parts
    with a filename become :class:`FileField` objects whose file is a rewound temporary file
    (spooled to disk past 64 KiB; the server closes it once the response is sent).

    Args:
        request: the request whose body to read.

    Returns:
        The fields in the order they came, repeated names kept.

    Raises:
        HTTPRequestEntityTooLarge: the body passed ``request.client_max_size``; raised as the
            byte that passes it arrives, before anything past it is stored. Also for more
            than ``request.client_max_fields`` fields.
        HTTPRequestHeaderFieldsTooLarge: a part's headers are over the limits.
        HTTPBadRequest: the body is not valid ``multipart/form-data``.
    """
    limit = request.client_max_size
    declared = request.content_length
    if limit and declared is not None and declared > limit:
        raise HTTPRequestEntityTooLarge(max_size=limit, actual_size=declared)
    collector = _FormCollector(request.client_max_fields)
    try:
        reader = MultipartReader(request.headers, _CappedSource(request.content, limit))
        await collector.collect(reader)
    except HttpProcessingError as exc:
        collector.close()
        raise http_exception_for(exc) from None
    except (ValueError, LookupError) as exc:
        # ValueError covers UnicodeDecodeError and binascii.Error; LookupError an unknown
        # charset in a part's Content-Type.
        collector.close()
        raise HTTPBadRequest(text=f"Invalid multipart/form-data body: {exc}") from None
    except BaseException:
        collector.close()
        raise
    return collector.fields
