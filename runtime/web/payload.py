"""Response bodies that are not in memory: open files, async iterables, multipart parts.

``Response(body=...)`` keeps bytes (and str, encoded at once) in memory and sends them with
the head in one write. Anything else becomes a :class:`Payload` (aiohttp's name and API:
https://docs.aiohttp.org/en/stable/web_reference.html#aiohttp.web.Response.body), streamed
in chunks after the head, with ``Content-Length`` when its size is known and chunked
otherwise, and closed once sent.
"""

from __future__ import annotations

import abc
import asyncio
import io
import mimetypes
import os
import stat
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import IO, Any, Protocol, TypeVar, runtime_checkable

from multidict import CIMultiDict

from ..http.content_decoding import ContentDecoder
from ..http.header_params import format_disposition

__all__ = [
    "AsyncIterablePayload",
    "BodyPartReaderPayload",
    "BufferedReaderPayload",
    "BytesIOPayload",
    "IOBasePayload",
    "Payload",
    "TextIOPayload",
    "make_payload",
]

_T = TypeVar("_T")
# Bytes (or characters) read per step: large enough that a big file costs few executor
# round trips, small enough that one connection does not hold much memory.
CHUNK_SIZE = 2**16
_OCTET_STREAM = "application/octet-stream"


class BodySink(Protocol):
    """Where a payload writes: the response it is the body of."""

    async def write(self, data: bytes) -> None: ...


@runtime_checkable
class BodyPart(Protocol):
    """A multipart part as ``runtime.web.multipart.BodyPartReader`` is one (described, not
    imported: the multipart module builds on the exceptions, which build on responses)."""

    headers: Mapping[str, str]

    @property
    def name(self) -> str | None: ...

    @property
    def filename(self) -> str | None: ...

    async def read_chunk(self, size: int = ...) -> bytes: ...

    def _decoder(self) -> ContentDecoder: ...


class Payload(abc.ABC):
    """A body streamed after the response head.

    ``headers`` are the fields it brings (``Content-Type``, sometimes
    ``Content-Disposition``): the response adopts the ones it has not set itself.
    """

    def __init__(
        self,
        value: Any,
        *,
        content_type: str = _OCTET_STREAM,
        filename: str | None = None,
        encoding: str | None = None,
    ) -> None:
        self._value = value
        self._filename = filename
        self._encoding = encoding
        self._consumed = False
        self._headers: CIMultiDict[str] = CIMultiDict({"Content-Type": content_type})

    @property
    def size(self) -> int | None:
        """The bytes :meth:`write` sends, when known before sending (``Content-Length``)."""
        return None

    @property
    def headers(self) -> CIMultiDict[str]:
        return self._headers

    @property
    def content_type(self) -> str:
        return self._headers["Content-Type"]

    @property
    def filename(self) -> str | None:
        return self._filename

    @property
    def encoding(self) -> str | None:
        """The charset text is encoded with; None for binary payloads."""
        return self._encoding

    @property
    def consumed(self) -> bool:
        """Whether the body was read and cannot be sent again."""
        return self._consumed

    def set_content_disposition(self, disptype: str, **params: str) -> None:
        """Set ``Content-Disposition`` (``"inline"``, ``"attachment"``) with ``params``
        such as ``filename``; set it before the payload becomes a response's body, which
        adopts the payload's headers then."""
        self._headers["Content-Disposition"] = format_disposition(disptype, **params)

    @abc.abstractmethod
    async def write(self, writer: BodySink) -> None:
        """Send the body to ``writer``, chunk by chunk (each awaited: backpressure)."""

    @abc.abstractmethod
    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The body as text (named like ``bytes.decode`` so ``response.body.decode()``
        works whatever the body is).

        Raises:
            TypeError: the body can be read only once, by sending it.
        """

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        """The whole body in memory."""
        return self.decode(encoding, errors).encode(self._encoding or encoding, errors)

    async def close(self) -> None:  # noqa: B027 - most payloads hold nothing to release
        """Release what the payload holds (a file); the response calls it once sent."""


def guess_filename(value: object) -> str | None:
    """The base name of a file object's ``name``; None for ``<stdin>``-like names and fds."""
    name = getattr(value, "name", None)
    if isinstance(name, os.PathLike):
        name = os.fspath(name)
    if isinstance(name, str) and name and not (name[0] == "<" and name[-1] == ">"):
        return os.path.basename(name) or None
    return None


def _guess_type(filename: str | None, default: str) -> str:
    if filename is None:
        return default
    return mimetypes.guess_type(filename)[0] or default


async def _in_executor(fn: Callable[..., _T], *args: Any) -> _T:
    return await asyncio.get_running_loop().run_in_executor(None, fn, *args)


class _FilePayload(Payload):
    """An open file object: sent from where it stood when the payload was made, closed
    once sent.

    As in aiohttp, a file with a name brings ``Content-Type`` guessed from that name and
    ``Content-Disposition: attachment; filename=...``.
    """

    def __init__(self, value: IO[Any], *, content_type: str, encoding: str | None = None) -> None:
        super().__init__(value, content_type=content_type, encoding=encoding)
        self._filename = filename = guess_filename(value)
        if filename is not None:
            self._headers["Content-Disposition"] = format_disposition(
                "attachment", filename=filename
            )
        self._start: int | None = None

    def _rewind(self) -> None:
        """Back to the starting position, so ``decode()`` does not eat what is sent."""
        try:
            if self._start is None:
                self._start = self._value.tell()
            else:
                self._value.seek(self._start)
        except OSError:
            pass  # a pipe: read on from where it is

    async def close(self) -> None:
        self._value.close()


class IOBasePayload(_FilePayload):
    """A binary file, read in chunks in an executor (reading a disk blocks)."""

    _value: IO[bytes]

    def __init__(self, value: IO[bytes], *, content_type: str | None = None) -> None:
        ctype = content_type or _guess_type(guess_filename(value), _OCTET_STREAM)
        super().__init__(value, content_type=ctype)

    @property
    def size(self) -> int | None:
        try:
            info = os.fstat(self._value.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None  # a pipe or a socket: its length is not known ahead
            if self._start is None:
                self._start = self._value.tell()
            return max(info.st_size - self._start, 0)
        except (OSError, AttributeError, ValueError):
            return None

    async def _read(self, count: int) -> bytes:
        return await _in_executor(self._value.read, count)

    async def write(self, writer: BodySink) -> None:
        self._consumed = True
        # Only what Content-Length announced goes out, should the file grow meanwhile;
        # one that shrinks ends the body short, and the writer then closes the connection.
        remaining = self.size
        self._rewind()
        while remaining is None or remaining > 0:
            chunk = await self._read(
                CHUNK_SIZE if remaining is None else min(CHUNK_SIZE, remaining)
            )
            if not chunk:
                break
            if remaining is not None:
                remaining -= len(chunk)
            await writer.write(chunk)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        # Blocking for a file on disk, as in aiohttp: meant for tests and small files.
        self._rewind()
        return self._value.read().decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        self._rewind()
        return await _in_executor(self._value.read)


class BufferedReaderPayload(IOBasePayload):
    """A file opened with ``open(path, "rb")``."""


class BytesIOPayload(IOBasePayload):
    """An ``io.BytesIO``: in memory, so read without an executor."""

    _value: io.BytesIO

    @property
    def size(self) -> int:
        if self._start is None:
            self._start = self._value.tell()
        return max(len(self._value.getbuffer()) - self._start, 0)

    async def _read(self, count: int) -> bytes:
        return self._value.read(count)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        self._rewind()
        return self._value.read()


class TextIOPayload(_FilePayload):
    """A file opened in text mode: its text re-encoded in ``encoding`` as it is sent.

    (An ``io.StringIO`` is not one: ``Response`` reads it whole, as a str body.)

    No ``Content-Length``: newline translation and re-encoding make the byte count of
    what is sent unknown until it is sent, so the body goes chunked.
    """

    _value: IO[str]

    def __init__(self, value: IO[str], *, encoding: str, content_type: str | None = None) -> None:
        kind = _guess_type(guess_filename(value), "text/plain")
        ctype = content_type or f"{kind}; charset={encoding}"
        super().__init__(value, content_type=ctype, encoding=encoding)

    async def write(self, writer: BodySink) -> None:
        self._consumed = True
        encoding = self._encoding or "utf-8"
        self._rewind()
        while text := await _in_executor(self._value.read, CHUNK_SIZE):
            await writer.write(text.encode(encoding))

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        # The file decodes itself, in its own encoding (as in aiohttp).
        self._rewind()
        return self._value.read()

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        self._rewind()
        text = await _in_executor(self._value.read)
        return text.encode(self._encoding or encoding, errors)


class AsyncIterablePayload(Payload):
    """An async generator or any async iterable of bytes: sent as it yields, chunked.

    Read once: :meth:`decode` works after :meth:`as_bytes` has gathered the chunks.
    An async generator stopped early (the client went away) is closed, so its
    ``finally`` blocks run.
    """

    _value: AsyncIterable[bytes]

    def __init__(self, value: AsyncIterable[bytes], *, content_type: str = _OCTET_STREAM) -> None:
        super().__init__(value, content_type=content_type)
        self._iterator: AsyncIterator[bytes] | None = None
        self._chunks: list[bytes] | None = None

    def _iterate(self) -> AsyncIterator[bytes]:
        if self._iterator is None:
            if self._consumed:
                raise RuntimeError("the async iterable body was already sent")
            self._consumed = True
            self._iterator = aiter(self._value)
        return self._iterator

    async def write(self, writer: BodySink) -> None:
        if self._chunks is not None:
            for chunk in self._chunks:
                await writer.write(chunk)
            return
        async for chunk in self._iterate():
            if not isinstance(chunk, (bytes, bytearray, memoryview)):
                raise TypeError(f"an async iterable body must yield bytes, not {type(chunk)!r}")
            await writer.write(bytes(chunk))

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        if self._chunks is None:
            raise TypeError("Unable to decode: the body is not read yet; await as_bytes() first")
        return b"".join(self._chunks).decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        if self._chunks is None:
            self._chunks = [bytes(chunk) async for chunk in self._iterate()]
        return b"".join(self._chunks)

    async def close(self) -> None:
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None:
            await aclose()


class BodyPartReaderPayload(Payload):
    """A part of a multipart request, sent back out with its type and name.

    The part's ``Content-Transfer-Encoding`` is undone on the way; ``name`` and
    ``filename`` travel in ``Content-Disposition: attachment`` (as aiohttp sends them).
    """

    _value: BodyPart

    def __init__(self, value: BodyPart) -> None:
        super().__init__(value, content_type=value.headers.get("Content-Type", _OCTET_STREAM))
        self._filename = value.filename
        params = {"name": value.name, "filename": value.filename}
        present = {key: text for key, text in params.items() if text is not None}
        if present:
            self._headers["Content-Disposition"] = format_disposition("attachment", **present)

    async def write(self, writer: BodySink) -> None:
        self._consumed = True
        part = self._value
        decoder = part._decoder()  # the part's own Content-Transfer-Encoding
        while chunk := await part.read_chunk(CHUNK_SIZE):
            if data := decoder.feed(chunk):
                await writer.write(data)
        if tail := decoder.flush():
            await writer.write(tail)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("Unable to decode: a body part is read once, by sending it")

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        raise TypeError("Unable to read a body part as bytes: it is read once, by sending it")


def make_payload(body: object, *, charset: str | None) -> Payload:
    """The payload for a ``Response`` body that is neither bytes nor str.

    ``charset`` is the response's own, if its ``Content-Type`` names one: text files are
    encoded in it (UTF-8 otherwise).

    Raises:
        TypeError: nothing here can send a body of that type.
    """
    if isinstance(body, Payload):
        return body
    if isinstance(body, BodyPart):
        return BodyPartReaderPayload(body)
    if isinstance(body, io.BytesIO):
        return BytesIOPayload(body)
    if isinstance(body, io.TextIOBase):
        return TextIOPayload(body, encoding=charset or "utf-8")  # type: ignore[arg-type]
    if isinstance(body, io.BufferedReader):
        return BufferedReaderPayload(body)
    if isinstance(body, io.IOBase):
        return IOBasePayload(body)  # type: ignore[arg-type]
    if isinstance(body, AsyncIterable):
        return AsyncIterablePayload(body)
    raise TypeError(
        f"Unsupported body type {type(body)!r}: pass bytes, str, an open file, "
        "an async iterable of bytes or a multipart part"
    )
