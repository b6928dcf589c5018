"""``FileResponse``: a file from disk, with validators, conditional requests and ranges.

The body leaves through ``loop.sendfile`` (zero-copy) on plain sockets and through chunks
read in the default executor elsewhere (TLS, loops without sendfile). Every file-system
call runs in the executor, so a slow disk never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass
from mimetypes import MimeTypes
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar, Final, TypeVar

from ..http.codings import add_vary, negotiate
from ..http.grammar import OWS
from ..http.writer import ResponseWriter
from .response import LooseHeaders, StreamResponse

if TYPE_CHECKING:
    from .request import BaseRequest

__all__ = ["FALLBACK_CONTENT_TYPE", "NOSENDFILE", "FileResponse"]

_T = TypeVar("_T")

logger = logging.getLogger("runtime.fileresponse")

#: Set ``BERTH_NOSENDFILE=1`` to always send files in chunks (some network file systems
#: and sandboxes break ``sendfile``); read once at import, like aiohttp's switch.
NOSENDFILE: Final = bool(os.environ.get("BERTH_NOSENDFILE"))

FALLBACK_CONTENT_TYPE: Final = "application/octet-stream"


# Our own table, so that "x.tar.gz" is guessed as application/gzip (the file's type) rather
# than as a tar with an encoding: a content coding is only ever announced for the
# precompressed siblings we choose ourselves.
def _content_types() -> MimeTypes:
    types = MimeTypes()
    types.encodings_map.clear()
    for content_type, extension in (
        ("application/gzip", ".gz"),
        ("application/x-brotli", ".br"),
        ("application/x-bzip2", ".bz2"),
        ("application/x-compress", ".Z"),
        ("application/x-xz", ".xz"),
    ):
        types.add_type(content_type, extension)
    return types


_CONTENT_TYPES: Final = _content_types()

# Precompressed siblings ("app.js.br" next to "app.js"), in the order we prefer them when
# the client weighs them equally: brotli is the smaller.
_SIBLINGS: Final = (("br", ".br"), ("gzip", ".gz"))

# RFC 9110 8.8.3: entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, in a list (RFC 9110 5.6.1)
# whose elements may be empty. etagc allows commas, so the list is scanned, not split.
_ETAG_ITEM: Final = re.compile(rf'{OWS}(?:(W/)?"([^"\x00-\x20\x7f]*)")?{OWS}(?:,|\Z)')
_SAFE_METHODS: Final = frozenset({"GET", "HEAD"})
_OPEN_FLAGS: Final = (
    os.O_RDONLY
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
    # A FIFO would block open() until a writer shows up; non-blocking, it opens at once
    # and fstat() then refuses it like any other non-regular file.
    | getattr(os, "O_NONBLOCK", 0)
)

# Files closed in the background (the next request need not wait for close()); the set
# keeps the futures alive until they are done.
_CLOSING: set[asyncio.Future[None]] = set()


_OpenTuple = tuple[BinaryIO, os.stat_result]


@dataclass(slots=True, frozen=True)
class _OpenFile:
    """The representation chosen for a request: an open file and its validators."""

    file: BinaryIO
    size: int
    mtime_ns: int
    encoding: str | None  # the content coding of a precompressed sibling
    has_variants: bool  # a precompressed sibling exists, chosen or not

    @property
    def etag(self) -> str:
        # Same shape as aiohttp's, so caches keep their validators across a migration.
        return f"{self.mtime_ns:x}-{self.size:x}"

    @property
    def last_modified(self) -> int:
        """Whole seconds, rounded up as the Last-Modified field is: comparisons with
        HTTP-dates (second precision, RFC 9110 5.6.7) then agree with what we sent."""
        return -(-self.mtime_ns // 1_000_000_000)


def _open_regular(path: pathlib.Path, *, follow_symlinks: bool = True) -> _OpenTuple:
    """Open ``path`` for reading and stat the open descriptor (no stat/open race).

    Raises:
        PermissionError: not a regular file (directory, FIFO, socket, device).
        OSError: the file cannot be opened.
    """
    flags = _OPEN_FLAGS if follow_symlinks else _OPEN_FLAGS | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PermissionError(f"Not a regular file: {path}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), info
    except BaseException:
        os.close(fd)
        raise


def _existing_siblings(path: pathlib.Path) -> list[tuple[str, pathlib.Path]]:
    found = []
    for coding, suffix in _SIBLINGS:
        sibling = path.with_name(path.name + suffix)
        try:
            # lstat: a sibling that is a symlink is ignored, so "x.gz -> /etc/shadow"
            # planted next to a served file cannot leak what it points to.
            info = os.lstat(sibling)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            found.append((coding, sibling))
    return found


def _open_file(path: pathlib.Path, accept_encoding: str | None) -> _OpenFile:
    """Choose the representation (a precompressed sibling or the file) and open it.

    Runs in the executor.
    """
    siblings = _existing_siblings(path)
    chosen = _choose_sibling(accept_encoding, siblings)
    if chosen is not None:
        coding, sibling = chosen
        try:
            file, info = _open_regular(sibling, follow_symlinks=False)
        except OSError as exc:
            # Gone or swapped since lstat: the plain file is still a right answer.
            logger.debug("Precompressed %s not served: %r", sibling, exc)
        else:
            return _OpenFile(file, info.st_size, info.st_mtime_ns, coding, True)
    file, info = _open_regular(path)
    return _OpenFile(file, info.st_size, info.st_mtime_ns, None, bool(siblings))


def _choose_sibling(
    accept_encoding: str | None, siblings: list[tuple[str, pathlib.Path]]
) -> tuple[str, pathlib.Path] | None:
    """The sibling the client weighs highest, if it beats the identity body (ties go to
    the server's order: brotli, then gzip)."""
    if not siblings:
        return None
    coding = negotiate(accept_encoding, [name for name, _ in siblings]).coding
    return next((sibling for sibling in siblings if sibling[0] == coding), None)


def _field(request: BaseRequest, name: str) -> str | None:
    """A list-valued header's lines joined (RFC 9110 5.3); None when absent or empty."""
    values = request.headers.getall(name, ())
    joined = ", ".join(values).strip()
    return joined or None


def _etag_listed(field: str, etag: str, *, weak: bool) -> bool:
    """Whether the strong ``etag`` is in an If-Match / If-None-Match list.

    Strong comparison (``weak=False``, RFC 9110 8.8.3.2) never matches a weak tag.
    """
    if field == "*":
        return True  # the representation exists
    position = 0
    while position < len(field):
        match = _ETAG_ITEM.match(field, position)
        if match is None:
            return False  # not a list of entity-tags: nothing in it can match
        if match.group(2) == etag and (weak or match.group(1) is None):
            return True
        position = match.end()
    return False


def _preconditions(request: BaseRequest, opened: _OpenFile) -> int | None:
    """Evaluate the preconditions in the order of RFC 9110 13.2.2.

    Returns:
        None to go on, 304 (Not Modified) or 412 (Precondition Failed).
    """
    etag = opened.etag
    last_modified = opened.last_modified
    if_match = _field(request, "If-Match")
    if if_match is not None:
        if not _etag_listed(if_match, etag, weak=False):
            return 412  # step 1
    else:
        # Step 2: If-Unmodified-Since only counts without If-Match (RFC 9110 13.1.4).
        since = request.if_unmodified_since
        if since is not None and last_modified > since.timestamp():
            return 412
    safe = request.method in _SAFE_METHODS
    if_none_match = _field(request, "If-None-Match")
    if if_none_match is not None:
        if _etag_listed(if_none_match, etag, weak=True):
            return 304 if safe else 412  # step 3, RFC 9110 13.1.2
    elif safe:
        # Step 4: If-Modified-Since only counts without If-None-Match (RFC 9110 13.1.3).
        since = request.if_modified_since
        if since is not None and last_modified <= since.timestamp():
            return 304
    return None


def _if_range_holds(request: BaseRequest, opened: _OpenFile) -> bool:
    """RFC 9110 13.1.5: whether the Range may be honoured (else the whole file, 200)."""
    value = request.headers.get("If-Range")
    if value is None:
        return True
    value = value.strip()
    if value.startswith(('"', "W/")):
        # An entity-tag validator matches by strong comparison only; a weak one never does.
        return value == f'"{opened.etag}"'
    since = request.if_range
    if since is None:
        return False  # not a valid HTTP-date: the validator does not match
    # RFC 9110 wants an exact match with Last-Modified; aiohttp honours any later date too,
    # and so do we (a client only sends back a date it got from us).
    return opened.last_modified <= since.timestamp()


def _requested_range(request: BaseRequest, opened: _OpenFile) -> tuple[int, int] | None:
    """The byte range to send as ``(start, end)`` (end exclusive), or None for all of it.

    Raises:
        ValueError: the Range header is malformed (non-ASCII digits included), asks for
            several ranges, or cannot be satisfied: the answer is 416.
    """
    # RFC 9110 14.2: range handling is defined for GET only; other methods ignore it.
    if request.method != "GET" or "Range" not in request.headers:
        return None
    if not _if_range_holds(request, opened):
        return None
    requested = request.http_range  # raises ValueError, as aiohttp answers 416 for it
    size = opened.size
    start, stop = requested.start, requested.stop
    if start is None:
        return None
    spec = request.headers["Range"].strip().partition("=")[2]
    if spec.startswith("-"):
        suffix = -start
        if suffix == 0:
            # RFC 9110 14.1.1: a suffix range must be non-empty to be satisfiable.
            raise ValueError("Empty suffix range")
        start, end = max(size - suffix, 0), size
    else:
        # RFC 9110 14.1.2: a last-pos past the end means "to the end".
        end = size if stop is None else min(stop, size)
    if start >= size:
        # RFC 9110 14.1.1: a range starting at or past the end is unsatisfiable.
        raise ValueError("Range not satisfiable")
    return start, end


def _guess_type(path: pathlib.Path) -> str:
    return _CONTENT_TYPES.guess_type(path.name)[0] or FALLBACK_CONTENT_TYPE


def _read_at(file: BinaryIO, offset: int, size: int) -> bytes:
    file.seek(offset)
    return file.read(size)


def _close_in_background(loop: asyncio.AbstractEventLoop, file: BinaryIO) -> None:
    """Close ``file`` in the executor without making the response wait for it."""
    future = loop.run_in_executor(None, file.close)
    _CLOSING.add(future)
    future.add_done_callback(_closed)


def _closed(future: asyncio.Future[None]) -> None:
    _CLOSING.discard(future)
    if not future.cancelled() and (exc := future.exception()) is not None:
        logger.warning("Closing a served file failed", exc_info=exc)


async def _in_executor(func: Callable[..., _T], *args: object) -> _T:
    """Run ``func`` in the default executor.

    If the caller is cancelled meanwhile, a file the call still opens is closed when it
    returns rather than left to the garbage collector.
    """
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(None, func, *args)
    try:
        return await future
    except asyncio.CancelledError:
        future.add_done_callback(_close_orphan)
        raise


def _close_orphan(future: asyncio.Future[Any]) -> None:
    if future.cancelled() or future.exception() is not None:
        return
    result = future.result()
    if isinstance(result, _OpenFile):
        result.file.close()


def _must_be_empty(method: str, status: int) -> bool:
    # RFC 9110 9.3.2 (HEAD), 15.3.5 (204), 15.4.5 (304), 15.2 (1xx): no content.
    return method == "HEAD" or status < 200 or status in (204, 304)


class FileResponse(StreamResponse):
    """Send a file: ``return web.FileResponse(path)`` from a handler.

    The file is opened, and the whole response sent, by :meth:`prepare`, which the server
    calls after the handler returns. Along the way:

    * ``Content-Type`` is guessed from the file name when the headers have none
      (``application/octet-stream`` otherwise; no charset is added, as in aiohttp);
    * ``ETag`` (``"<mtime ns hex>-<size hex>"``) and ``Last-Modified`` are sent, and the
      conditional fields (RFC 9110 13) answer 304 or 412;
    * a single ``Range`` (RFC 9110 14) answers 206, or 416 with ``Content-Range:
      bytes */<size>`` when it is malformed or unsatisfiable; ``If-Range`` can veto it;
    * a precompressed sibling (``<file>.br``, ``<file>.gz``) is sent instead, with
      ``Content-Encoding``, when ``Accept-Encoding`` allows it, and ``Vary:
      Accept-Encoding`` is added whenever such a sibling exists;
    * a missing file answers 404 and something that is not a readable regular file 403.

    Args:
        path: the file to send.
        chunk_size: bytes read per executor call when ``sendfile`` cannot be used.
        status: the status when the whole file is sent (conditionals and ranges are only
            evaluated for a 2xx status, RFC 9110 13.2.1).
        reason: the reason phrase.
        headers: extra response headers; a ``Content-Type`` here wins over the guess.
    """

    # The status for a file that exists but may not be served; StaticResource uses 404 so
    # that a forbidden file looks exactly like a missing one.
    _forbidden_status: ClassVar[int] = 403

    def __init__(
        self,
        path: str | os.PathLike[str],
        chunk_size: int = 256 * 1024,
        status: int = 200,
        reason: str | None = None,
        headers: LooseHeaders | None = None,
    ) -> None:
        super().__init__(status=status, reason=reason, headers=headers)
        self._path = pathlib.Path(path)
        self._chunk_size = chunk_size

    async def prepare(self, request: BaseRequest) -> ResponseWriter | None:
        """Open the file and send the whole response (head and body).

        Returns:
            The writer, or None if the response was already finished.
        """
        if self._eof_sent:
            return None
        if self._writer is not None:
            return self._writer
        accept_encoding = _field(request, "Accept-Encoding")
        try:
            opened = await _in_executor(_open_file, self._path, accept_encoding)
        except PermissionError:
            return await self._send_error(request, self._forbidden_status)
        except (OSError, ValueError):
            # Missing, a symlink loop, a path component that is a file, a NUL byte in
            # the path (ValueError): nothing to send.
            return await self._send_error(request, 404)
        try:
            return await self._send_file(request, opened)
        finally:
            _close_in_background(asyncio.get_running_loop(), opened.file)

    async def _send_file(self, request: BaseRequest, opened: _OpenFile) -> ResponseWriter | None:
        headers = self._headers
        if opened.has_variants:
            # RFC 9110 12.5.5: caches must key this response on Accept-Encoding, whichever
            # representation this request got (304s included, RFC 9110 15.4.5).
            add_vary(headers, "Accept-Encoding")
        self.etag = opened.etag
        self.last_modified = opened.last_modified
        if not 200 <= self._status < 300:
            # RFC 9110 13.2.1: preconditions (and ranges) only apply to a 2xx answer.
            return await self._send_body(request, opened, 0, opened.size)
        verdict = _preconditions(request, opened)
        if verdict == 304:
            return await self._send_not_modified(request)
        if verdict == 412:
            return await self._send_error(request, 412)
        headers["Accept-Ranges"] = "bytes"
        try:
            requested = _requested_range(request, opened) if self._status == 200 else None
        except ValueError:
            # RFC 9110 15.5.17: a 416 carries the current length in Content-Range.
            headers["Content-Range"] = f"bytes */{opened.size}"
            return await self._send_error(request, 416)
        if requested is None:
            return await self._send_body(request, opened, 0, opened.size)
        start, end = requested
        self.set_status(206)
        # RFC 9110 14.4: Content-Range: bytes first-last/complete-length.
        headers["Content-Range"] = f"bytes {start}-{end - 1}/{opened.size}"
        return await self._send_body(request, opened, start, end - start)

    async def _send_body(
        self, request: BaseRequest, opened: _OpenFile, offset: int, count: int
    ) -> ResponseWriter | None:
        headers = self._headers
        if "Content-Type" not in headers:
            headers["Content-Type"] = _guess_type(self._path)
        if opened.encoding is not None:
            headers["Content-Encoding"] = opened.encoding
        self.content_length = count
        writer = await super().prepare(request)
        assert writer is not None
        if count and not _must_be_empty(request.method, self._status):
            await self._send_range(request, writer, opened.file, offset, count)
        await super().write_eof()
        return writer

    async def _send_range(
        self,
        request: BaseRequest,
        writer: ResponseWriter,
        file: BinaryIO,
        offset: int,
        count: int,
    ) -> None:
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        # TLS and compression need the bytes in user space, and asyncio's own fallback
        # would swap the connection's protocol while it runs: we do the fallback ourselves.
        if (
            NOSENDFILE
            or self._encoder is not None
            or transport.get_extra_info("sslcontext") is not None
        ):
            await self._send_chunks(file, offset, count)
            return
        loop = asyncio.get_running_loop()
        try:
            sent = await loop.sendfile(transport, file, offset, count, fallback=False)
        except (NotImplementedError, asyncio.SendfileNotAvailableError):
            # The loop (uvloop) or the platform has no sendfile; nothing was sent yet.
            await self._send_chunks(file, offset, count)
            return
        except RuntimeError:
            # asyncio refuses transports it cannot sendfile on before sending anything.
            if transport.is_closing():
                raise ConnectionResetError("Connection lost while sending a file") from None
            await self._send_chunks(file, offset, count)
            return
        # The bytes bypassed the writer: count them, so its Content-Length check and the
        # access log see the body (a short count makes write_eof close the connection).
        writer.bytes_sent += sent

    async def _send_chunks(self, file: BinaryIO, offset: int, count: int) -> None:
        chunk_size = self._chunk_size
        while count > 0:
            chunk = await _in_executor(_read_at, file, offset, min(chunk_size, count))
            if not chunk:
                return  # the file shrank; write_eof sees the short body and closes
            await self.write(chunk)  # waits while the client reads slowly
            offset += len(chunk)
            count -= len(chunk)

    async def _send_not_modified(self, request: BaseRequest) -> ResponseWriter | None:
        # RFC 9110 15.4.5: no content; ETag, Last-Modified and Vary are already set.
        self.set_status(304)
        self._headers.popall("Content-Length", None)
        writer = await super().prepare(request)
        await super().write_eof()
        return writer

    async def _send_error(self, request: BaseRequest, status: int) -> ResponseWriter | None:
        """Answer ``status`` with the same plain-text body an ``HTTPException`` has."""
        self.set_status(status)
        body = f"{self._status}: {self._reason}".encode()
        headers = self._headers
        headers.popall("Content-Encoding", None)  # the body is ours, not the file's
        headers["Content-Type"] = "text/plain; charset=utf-8"
        self.content_length = len(body)
        writer = await super().prepare(request)
        await super().write_eof(body)
        return writer
