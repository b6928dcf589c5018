"""Response serialisation: status line and headers, framing, chunked encoding, cached Date."""

from __future__ import annotations

import time
from collections.abc import Generator
from email.utils import formatdate
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol

from multidict import CIMultiDict

from .connection_errors import ClientConnectionResetError

if TYPE_CHECKING:  # annotations only: serialising needs no event loop
    import asyncio

    from .message import RequestMessage

__all__ = [
    "ResponseWriter",
    "WriterOwner",
    "Written",
    "http_date",
    "reason_phrase",
    "serialize_head",
]

REASONS: dict[int, str] = {s.value: s.phrase for s in HTTPStatus}  # the standard phrases
_STATUS_LINES: dict[tuple[int, str], str] = {}
_date_second = 0
_date_text = ""


def reason_phrase(status: int) -> str:
    return REASONS.get(status, "")


def http_date() -> str:
    """The current time as an IMF-fixdate (RFC 9110 5.6.7), formatted once a second."""
    global _date_second, _date_text  # noqa: PLW0603 - a process-wide one-second cache
    now = int(time.time())
    if now != _date_second:
        _date_second = now
        _date_text = formatdate(now, usegmt=True)
    return _date_text


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text or "\x00" in text


_tail_second = 0
_tail_cache: dict[str | None, bytes] = {}
# Encoded heads of whole responses without their Date/Server tail, with the no-body and
# keep-alive decisions that go with them (ResponseWriter.write_whole).
_WHOLE_HEADS: dict[tuple[object, ...], tuple[bytes, bool, bool]] = {}

# A whole body at least this large leaves beside its head (one writev), not copied behind it.
SEPARATE_BODY = 8192
# Transport types whose writelines() is safe for that: it must pause the protocol when the
# buffer passes the high-water mark, or a client that never reads would hold the whole
# answer with no send timeout (docs/hardening.md). uvloop's transports do. CPython's
# selector transport did not before 3.12.9 and 3.13.2 (https://github.com/python/cpython/
# issues/127655), and on 3.11 it joins the pieces anyway, so only uvloop's are trusted.
_GATHERS: dict[type, bool] = {}


def _gathers(transport: object) -> bool:
    """Whether ``transport.writelines`` sends without a copy and keeps flow control."""
    kind = type(transport)
    known = _GATHERS.get(kind)
    if known is None:
        known = _GATHERS[kind] = kind.__module__.startswith("uvloop.")
    return known


def _date_and_server(server: str | None) -> bytes:
    """``Date`` and ``Server`` lines and the blank line ending the head, cached a second."""
    global _tail_second  # noqa: PLW0603 - a process-wide one-second cache
    now = int(time.time())
    if now != _tail_second:
        _tail_second = now
        _tail_cache.clear()
    tail = _tail_cache.get(server)
    if tail is None:
        text = f"Date: {http_date()}\r\n"
        if server:
            if _has_line_break(server):
                raise ValueError("Server header has CR, LF or NUL")
            text += f"Server: {server}\r\n"
        tail = _tail_cache[server] = (text + "\r\n").encode("utf-8", "surrogateescape")
    return tail


def _status_line(status: int, reason: str | None) -> str:
    key = (status, reason or "")
    line = _STATUS_LINES.get(key)
    if line is None:
        phrase = reason if reason is not None else reason_phrase(status)
        line = f"HTTP/1.1 {status} {phrase}\r\n"
        if len(_STATUS_LINES) < 512:
            _STATUS_LINES[key] = line
    return line


def serialize_head(status: int, reason: str | None, headers: CIMultiDict[str]) -> bytes:
    """Encode a response head, refusing CR, LF or NUL inside a reason, name or value.

    Response splitting (RFC 9110 5.5, RFC 9112 2.2): we count the line breaks in the
    joined text once instead of scanning every value, then look for the culprit only when
    the count is off.
    """
    parts = [_status_line(status, reason)]
    parts += [f"{name}: {value}\r\n" for name, value in headers.items()]
    parts.append("\r\n")
    text = "".join(parts)
    lines = len(parts)
    if text.count("\r") != lines or text.count("\n") != lines or "\x00" in text:
        _raise_for_bad_field(status, reason, headers)
    return text.encode("utf-8", "surrogateescape")


def _raise_for_bad_field(status: int, reason: str | None, headers: CIMultiDict[str]) -> None:
    bad = ("\r", "\n", "\x00")
    if reason is not None and any(c in reason for c in bad):
        raise ValueError(f"Reason phrase for status {status} contains CR, LF or NUL")
    for name, value in headers.items():
        if any(c in name for c in bad) or ":" in name or not name:
            raise ValueError(f"Invalid response header name {name!r}")
        if any(c in value for c in bad):
            raise ValueError(f"Response header {name!r} has CR, LF or NUL in its value")
    raise ValueError("Invalid response head")


def _without_content(status: int) -> bool:
    return status < 200 or status in (204, 304)


class WriterOwner(Protocol):
    """What a writer needs from its connection."""

    transport: asyncio.Transport | None
    server_header: str | None

    def should_close(self) -> bool: ...

    def send_interim(self, data: bytes) -> None:
        """Send an interim (1xx) response written ahead of the head."""

    async def drain(self) -> None: ...


class Written:
    """What :meth:`ResponseWriter.write` returns: an awaitable that is already done.

    aiohttp's stream writer has ``async def write``, so ported code says
    ``await request.writer.write(data)``; ours writes at once, and this lets both forms work.
    """

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # a generator with nothing to wait for


_WRITTEN = Written()


class ResponseWriter:
    """Writes one response: decides its framing (RFC 9112 6) and keep-alive (RFC 9112 9.3).

    The head is held back until the first body write, so a small response goes out in one
    ``transport.write``; ``drain()`` flushes it for streaming responses.
    """

    __slots__ = (
        "_chunked",
        "_length",
        "_no_body",
        "_owner",
        "_pending",
        "buffer_size",
        "bytes_sent",
        "eof_sent",
        "head_sent",
        "keep_alive",
        "message",
        "status",
    )

    def __init__(self, owner: WriterOwner, message: RequestMessage) -> None:
        self._owner = owner
        self.message = message
        self.keep_alive = message.keep_alive
        self.status = 0
        self.head_sent = False
        self.eof_sent = False
        self.bytes_sent = 0  # body bytes, as access logs report them
        self.buffer_size = 0
        self._pending = b""
        self._chunked = False
        self._no_body = False
        self._length: int | None = None

    def force_close(self) -> None:
        """Answer with ``Connection: close`` and close after this response."""
        self.keep_alive = False

    def _frame(self, status: int, length: int | None) -> list[tuple[str, str]]:
        """Decide framing and keep-alive; return the header fields that announce them."""
        self.status = status
        message = self.message
        if not self.keep_alive or self._owner.should_close():
            self.keep_alive = False
        fields: list[tuple[str, str]] = []
        if _without_content(status):
            # RFC 9110 6.4.1: 1xx, 204 and 304 have no content, whatever the handler wrote;
            # RFC 9110 8.6: no Content-Length in 1xx and 204; in a 304 it could only repeat
            # the 200's length, which a cache does not need (RFC 9110 15.4.5).
            self._no_body = True
        elif message.method == "HEAD":
            # RFC 9110 9.3.2: the length a GET would have had may be sent.
            self._no_body = True
            if length is not None:
                fields.append(("Content-Length", str(length)))
        elif length is not None:
            self._length = length
            fields.append(("Content-Length", str(length)))
        elif message.version[1] >= 1:
            self._chunked = True
            fields.append(("Transfer-Encoding", "chunked"))
        else:
            self.keep_alive = False  # HTTP/1.0: the body ends when we close
        if status == 101:
            self.keep_alive = True  # the connection now belongs to the new protocol
        elif not self.keep_alive:
            fields.append(("Connection", "close"))
        elif message.version[1] == 0:
            fields.append(("Connection", "keep-alive"))
        return fields

    def write_head(self, status: int, reason: str | None, headers: CIMultiDict[str]) -> None:
        """Complete ``headers`` with framing, Date and Server fields, and queue the head.

        ``headers`` is the response's own mapping and is updated in place (as aiohttp does),
        so middlewares and logs see what was sent. A ``Content-Length`` in it is honoured;
        without one the body is chunked on HTTP/1.1 and close-delimited on HTTP/1.0.
        """
        if self.head_sent:
            raise RuntimeError("Response head already sent")
        if headers.get("Connection") == "close":
            self.keep_alive = False
        length = headers.popall("Content-Length", None)
        headers.popall("Transfer-Encoding", None)
        for name, value in self._frame(status, int(length[-1]) if length else None):
            headers[name] = value
        if _without_content(status):
            # RFC 9110 15.4.5, 6.4.1: no content, so no Content-Type to describe it.
            headers.popall("Content-Type", None)
        if "Date" not in headers:
            headers["Date"] = http_date()
        server = self._owner.server_header
        if server and "Server" not in headers:
            headers["Server"] = server
        self._pending = serialize_head(status, reason, headers)
        self.head_sent = True

    def write_whole(
        self, status: int, reason: str | None, content_type: str | None, body: bytes
    ) -> None:
        """Send a complete response whose only own header is ``Content-Type``, in one write.

        The fast path of ``Response``: no mapping to update, Date and Server come from a
        per-second cache, and the rest of the head from a cache keyed by what it depends
        on (hello-world traffic repeats it).
        """
        if self.head_sent:
            raise RuntimeError("Response head already sent")
        owner = self._owner
        message = self.message
        length = len(body)
        keep_alive = self.keep_alive and not owner.should_close()
        key = (status, reason, content_type, length, keep_alive, message.version, message.method)
        cached = _WHOLE_HEADS.get(key)
        if cached is None:
            self.keep_alive = keep_alive
            fields = self._frame(status, length)
            if content_type is not None and not _without_content(status):
                if _has_line_break(content_type):
                    raise ValueError(
                        "Response header 'Content-Type' has CR, LF or NUL in its value"
                    )
                fields.append(("Content-Type", content_type))
            if reason is not None and _has_line_break(reason):
                raise ValueError(f"Reason phrase for status {status} contains CR, LF or NUL")
            text = _status_line(status, reason) + "".join([f"{n}: {v}\r\n" for n, v in fields])
            cached = (text.encode("utf-8", "surrogateescape"), self._no_body, self.keep_alive)
            if len(_WHOLE_HEADS) >= 1024:
                _WHOLE_HEADS.clear()
            _WHOLE_HEADS[key] = cached
        head, no_body, self.keep_alive = cached
        # The state _frame() and write_eof() would leave, without running them again.
        self.status = status
        self.head_sent = self.eof_sent = True
        if no_body:
            self._no_body = True
            body = b""
        else:
            self._length = self.bytes_sent = length
        transport = owner.transport
        if transport is not None and not transport.is_closing():
            head += _date_and_server(owner.server_header)
            if len(body) >= SEPARATE_BODY and _gathers(transport):
                transport.writelines((head, body))  # no copy of a large body
            else:
                transport.write(head + body)

    @property
    def no_body(self) -> bool:
        """Nothing written as the body is sent: HEAD, 1xx, 204, 304 (known once the head is)."""
        return self._no_body

    @property
    def output_size(self) -> int:
        """aiohttp's name for :attr:`bytes_sent`; an expect handler may reset it to 0."""
        return self.bytes_sent

    @output_size.setter
    def output_size(self, value: int) -> None:
        self.bytes_sent = value

    def _transport(self) -> asyncio.Transport:
        transport = self._owner.transport
        if transport is None or transport.is_closing():
            # aiohttp 3.14's error: both a ConnectionResetError and a ClientConnectionError.
            raise ClientConnectionResetError("Cannot write to closing transport")
        return transport

    def write(self, data: bytes) -> Written:
        """Send a piece of the body; raises ``ClientConnectionResetError`` (a
        ``ConnectionResetError``) once the peer is gone.

        Bytes written before the head are an interim response (an expect handler's
        ``100 Continue``, RFC 9110 15.2): sent as they are, not counted as body.
        Returns an awaitable, for code written for aiohttp's ``await writer.write()``.
        """
        if self.eof_sent:
            raise RuntimeError("Cannot write after write_eof()")
        transport = self._transport()
        if not self.head_sent:
            if data:
                self._owner.send_interim(bytes(data))
            return _WRITTEN
        pending = self._pending
        if data and not self._no_body:
            size = len(data)
            if self._length is not None:
                if self.bytes_sent + size > self._length:
                    raise RuntimeError(
                        f"Response body exceeds its Content-Length of {self._length} bytes"
                    )
            elif self._chunked:
                data = b"%x\r\n%b\r\n" % (size, data)
            self.bytes_sent += size
            if pending:
                self._pending = b""
                transport.write(pending + data)
            else:
                transport.write(data)
        elif pending:
            self._pending = b""
            transport.write(pending)
        return _WRITTEN

    def write_eof(self, data: bytes = b"") -> None:
        """Send the last piece of the body and the chunked terminator."""
        if self.eof_sent:
            return
        if data and not self._no_body:
            size = len(data)
            if self._length is not None and self.bytes_sent + size > self._length:
                raise RuntimeError(
                    f"Response body exceeds its Content-Length of {self._length} bytes"
                )
            self.bytes_sent += size
            if self._chunked:
                data = b"%x\r\n%b\r\n0\r\n\r\n" % (size, data)
        elif self._chunked:
            data = b"0\r\n\r\n"
        else:
            data = b""
        self.eof_sent = True
        if self._length is not None and self.bytes_sent != self._length:
            # A short body leaves the client waiting for bytes that never come; closing is
            # the only way to end the message (RFC 9112 6.3).
            self.keep_alive = False
        transport = self._owner.transport
        if transport is None or transport.is_closing():
            return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        if data:
            transport.write(data)

    async def drain(self) -> None:
        """Flush a held-back head and wait while the peer reads slowly."""
        if self._pending:
            self.write(b"")
        await self._owner.drain()
