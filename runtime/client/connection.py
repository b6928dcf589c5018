"""One client connection: sends requests, parses responses, knows whether it can be reused.

A connection serves one request at a time (no pipelining). It goes back to its connector
the moment the response has been received whole and both sides agreed to keep it alive;
after an error, a truncated body, or a body the reader gave up on, it is closed instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import AsyncIterable, Callable
from typing import cast

from ..http.errors import HttpProcessingError
from ..http.parser import Limits
from ..http.request_writer import LAST_CHUNK, chunk
from ..http.response_parser import ResponseMessage, ResponseParser
from ..server.flow import FlowControl
from ..server.streams import StreamReader
from .errors import (
    ClientOSError,
    ClientPayloadError,
    ConnectionKey,
    ServerDisconnectedError,
    SocketTimeoutError,
)

__all__ = ["ClientConnection", "ResponsePayload"]

_READ_TIMEOUT_TEXT = "Timeout on reading data from socket"


class ResponsePayload(StreamReader):
    """A response body stream whose ``sock_read`` timeout raises :class:`SocketTimeoutError`."""

    __slots__ = ()

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.set_exception(SocketTimeoutError(_READ_TIMEOUT_TEXT))


class ClientConnection(asyncio.Protocol):
    """The protocol of one pooled connection (one request in flight at a time).

    Args:
        loop: the event loop.
        key: the pool key (host, port, TLS) this connection serves.
        on_release: told ``(connection, reusable)`` once a request cycle is over.
        limits: size limits for response heads.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        key: ConnectionKey,
        on_release: Callable[[ClientConnection, bool], None] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.loop = loop
        self.key = key
        self.transport: asyncio.Transport | None = None
        self._flow: FlowControl | None = None
        self._parser = ResponseParser(self, limits)
        self._on_release = on_release
        self._head: asyncio.Future[tuple[ResponseMessage, StreamReader]] | None = None
        self._message: ResponseMessage | None = None
        self.payload: StreamReader | None = None
        self._sock_read: float | None = None
        self._read_timer: asyncio.TimerHandle | None = None
        self._drain_timer: asyncio.TimerHandle | None = None
        self._drain_budget = -1
        self._writer: asyncio.Task[None] | None = None
        self.on_complete: Callable[[], None] | None = None
        self.busy = False
        self.closed = False
        self.upgraded = False
        self._tail = b""
        self.requests = 0
        self.got_response_bytes = False

    def __repr__(self) -> str:
        state = "closed" if self.closed else "busy" if self.busy else "idle"
        return f"<ClientConnection {self.key.host}:{self.key.port} {state}>"

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._flow = FlowControl(self.transport)

    def data_received(self, data: bytes) -> None:
        if self.upgraded:
            self._tail += data
            return
        if not self.busy:
            # Bytes nobody asked for (a 408 before the server closes an idle connection):
            # the next response could not be told apart from them, so never reuse it.
            self.close()
            return
        self.got_response_bytes = True
        if self._read_timer is not None:
            self._arm_read_timer()
        try:
            tail = self._parser.feed(data)
        except HttpProcessingError as exc:
            self._fail_pending(exc)
            self.close()
            return
        if tail is not None:
            self.upgraded = True
            self._tail = tail
        elif self._parser.extra_after_head:
            self.close()  # a body after a response to HEAD: the framing is lost

    def pause_writing(self) -> None:
        if self._flow is not None:
            self._flow.pause_writing()

    def resume_writing(self) -> None:
        if self._flow is not None:
            self._flow.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        if self._flow is not None:
            self._flow.connection_lost(exc)
        if self.busy and not self.upgraded:
            # feed_eof ends a body delimited by the close; its error for a truncated head
            # or body is reported below as a disconnect or an incomplete payload.
            with contextlib.suppress(HttpProcessingError):
                self._parser.feed_eof()
            self._fail_pending(exc)
        self._release(False)

    # -- response events (ResponseSink) ---------------------------------------------------

    def on_response(self, message: ResponseMessage) -> None:
        self._message = message
        flow = self._flow
        payload = ResponsePayload(
            on_pause=None if flow is None else lambda: flow.pause_reading(FlowControl.BODY),
            on_resume=None if flow is None else lambda: flow.resume_reading(FlowControl.BODY),
            read_timeout=self._sock_read,
        )
        self.payload = payload
        self._cancel_read_timer()
        head = self._head
        if head is not None and not head.done():
            head.set_result((message, payload))

    def on_body(self, data: bytes) -> None:
        if self._drain_budget >= 0:
            self._drain_budget -= len(data)
            if self._drain_budget < 0:
                self.close()  # more left than we are willing to discard
                return
        if self.payload is not None:
            self.payload.feed_data(data)

    def on_response_complete(self) -> None:
        if self.payload is not None:
            self.payload.feed_eof()
        message = self._message
        if message is None or message.upgrade:
            return  # the connection now belongs to the new protocol, until detach()
        writer = self._writer
        reuse = message.keep_alive and (writer is None or writer.done())
        callback, self.on_complete = self.on_complete, None
        if callback is not None:
            callback()
        self._release(reuse)

    # -- the request side ---------------------------------------------------------------

    def begin(self, method: str, sock_read: float | None) -> None:
        """Start a request cycle: the next response answers ``method``."""
        if self.busy:
            raise RuntimeError("Connection is busy with another request")
        self.busy = True
        self.requests += 1
        self.got_response_bytes = False
        self._sock_read = sock_read or None
        self._message = None
        self.payload = None
        self._parser.expect(method)
        self._head = self.loop.create_future()
        if self._sock_read is not None:
            self._arm_read_timer()

    def write(self, data: bytes) -> None:
        """Send bytes; raises :class:`ClientOSError` once the connection is closing."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ClientOSError(errno.ECONNRESET, "Cannot write to closing transport")
        transport.write(data)

    async def drain(self) -> None:
        """Wait while the kernel's send buffer is full."""
        if self._flow is not None:
            await self._flow.drain()

    def send_stream(self, chunks: AsyncIterable[bytes]) -> None:
        """Send a body chunked (RFC 9112 7.1) from a task of its own, so that an early
        response (a 413 before the upload ends) is read while the body is still going."""
        self._writer = self.loop.create_task(self._write_stream(chunks))

    async def _write_stream(self, chunks: AsyncIterable[bytes]) -> None:
        try:
            async for data in chunks:
                if data:
                    self.write(chunk(bytes(data)))
                    await self.drain()
            self.write(LAST_CHUNK)
        except OSError as exc:
            self._abort_request(ClientOSError(exc.errno, f"Cannot send request body: {exc}"))
        except Exception as exc:
            self._abort_request(exc)  # the caller's iterable failed: theirs to see

    def _abort_request(self, exc: BaseException) -> None:
        head = self._head
        if head is not None and not head.done():
            head.set_exception(exc)
        self.close()

    async def read_head(self) -> tuple[ResponseMessage, StreamReader]:
        """Wait for the response head of the current request, and its body stream."""
        head = self._head
        if head is None:
            raise RuntimeError("No request in progress")
        return await head

    def _arm_read_timer(self) -> None:
        self._cancel_read_timer()
        assert self._sock_read is not None
        self._read_timer = self.loop.call_later(self._sock_read, self._read_timed_out)

    def _cancel_read_timer(self) -> None:
        if self._read_timer is not None:
            self._read_timer.cancel()
            self._read_timer = None

    def _read_timed_out(self) -> None:
        self._read_timer = None
        head = self._head
        if head is not None and not head.done():
            head.set_exception(SocketTimeoutError(_READ_TIMEOUT_TEXT))
        self.close()

    # -- ending a request cycle ---------------------------------------------------------

    def release_unread(self, limit: int, timeout: float) -> None:
        """The reader is done with a body it has not read whole.

        If at most ``limit`` bytes remain, they are discarded as they arrive (within
        ``timeout`` seconds) and the connection is then reused; otherwise it is closed.
        """
        if not self.busy:
            return
        message, payload = self._message, self.payload
        if message is None or payload is None or self.upgraded or payload.exception():
            self.close()
            return
        if message.chunked:
            remaining = limit
        elif message.content_length is not None:
            remaining = message.content_length - payload.total_bytes
        else:
            remaining = limit + 1  # delimited by the close: cannot be reused anyway
        if remaining > limit:
            self.close()
            return
        self._drain_budget = remaining
        payload.discard()
        self._drain_timer = self.loop.call_later(timeout, self.close)

    def detach(self) -> tuple[asyncio.Transport, bytes]:
        """Hand over an upgraded connection (after ``101``): its transport and the bytes
        that arrived after the response head. The pool forgets it; the caller owns it and
        should ``transport.set_protocol(...)`` before returning to the event loop."""
        transport = self.transport
        if not self.upgraded or transport is None:
            raise RuntimeError("Only an upgraded connection can be detached")
        tail, self._tail = self._tail, b""
        self.busy = False
        self.closed = True  # for the pool: never to be reused
        if self._on_release is not None:
            self._on_release(self, False)
        return transport, tail

    def close(self) -> None:
        """Close the connection; whatever request is in flight fails."""
        # Mid-request, a reset tells the server at once that nobody waits for the answer
        # (a FIN could be a half-close it must wait out); an idle connection closes cleanly.
        self._close_transport(abort=self.busy)
        self._fail_pending(None)
        self._release(False)

    def _close_transport(self, abort: bool = False) -> None:
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
        transport = self.transport
        if transport is not None and not self.closed:
            if abort:
                transport.abort()
            elif not transport.is_closing():
                transport.close()
        self.closed = True

    def _fail_pending(self, exc: BaseException | None) -> None:
        head = self._head
        if head is not None and not head.done():
            if isinstance(exc, HttpProcessingError):
                head.set_exception(exc)  # the session makes a ClientResponseError of it
            elif isinstance(exc, OSError):
                head.set_exception(ClientOSError(exc.errno, str(exc)))
            else:
                head.set_exception(ServerDisconnectedError())
        payload = self.payload
        if payload is not None and not payload.is_eof() and payload.exception() is None:
            if isinstance(exc, HttpProcessingError):
                error = ClientPayloadError(f"Response payload is malformed: {exc.message}")
            else:
                error = ClientPayloadError("Response payload is not completed")
            payload.set_exception(error)

    def _release(self, reuse: bool) -> None:
        if not self.busy:
            return
        self.busy = False
        if not reuse:
            self._close_transport()
        self._cancel_read_timer()
        if self._drain_timer is not None:
            self._drain_timer.cancel()
            self._drain_timer = None
        self._drain_budget = -1
        self._writer = None
        head = self._head
        if head is not None and head.done() and not head.cancelled():
            head.exception()  # mark it retrieved: a timed-out caller may never look
        self._head = None
        if self._on_release is not None:
            self._on_release(self, reuse and not self.closed)
