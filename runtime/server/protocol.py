"""The HTTP/1.1 connection: keep-alive, pipelining, timeouts, upgrades and shutdown.

One ``HttpProtocol`` per connection. It parses requests, runs each one as a task of its own
through a :class:`RequestService` (the application layer), answers them strictly in order,
and decides when the connection ends. It knows nothing of applications: it hands over a
:class:`RequestMessage`, a body :class:`StreamReader` and a :class:`ResponseWriter`.
"""

from __future__ import annotations

import asyncio
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, Final, cast

from ..http.errors import HttpProcessingError
from ..http.message import HttpVersion11, RequestMessage
from ..http.parser import RequestParser, spent_parser
from ..http.writer import ResponseWriter
from .config import Clock, ProtocolConfig, RequestService, TimerHandle, server_logger
from .flow import FlowControl
from .slow_clients import SlowClients
from .state import ConnState, TimerKind, transition
from .streams import EMPTY_PAYLOAD, StreamReader

__all__ = ["Clock", "HttpProtocol", "ProtocolConfig", "RequestService", "server_logger"]

# Module constants are Final: compiled code then reads them without a dict lookup.
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_CONTINUE_STATUS: Final = b"HTTP/1.1 100 "
# An unread body at most this large is read and dropped to keep the connection alive;
# a larger one costs less to close over.
_DISCARD_LIMIT: Final = 2**16
_EAGER: Final = sys.version_info >= (3, 12)
# Every request's task has this name (asyncio.all_tasks() and task dumps show it).
_TASK_NAME: Final = "berth-request"
_OPEN: Final = ConnState.OPEN
_SWITCHING: Final = ConnState.SWITCHING
_UPGRADED: Final = ConnState.UPGRADED
_REFUSING: Final = ConnState.REFUSING
_LINGERING: Final = ConnState.LINGERING
_CLOSED: Final = ConnState.CLOSED
_HEAD: Final = TimerKind.HEAD
_BODY: Final = TimerKind.BODY
_IDLE: Final = TimerKind.IDLE
_GRACE: Final = TimerKind.GRACE
_LINGER: Final = TimerKind.LINGER
# Stands in for the task object while an eager task runs its first step.
_PENDING: Final[Any] = object()


_Item = tuple[RequestMessage, StreamReader, ResponseWriter] | HttpProcessingError
_UpgradeSink = tuple[Callable[[bytes], None], Callable[[BaseException | None], None]]


class HttpProtocol(SlowClients):
    """Serves HTTP/1.x on one connection."""

    # Slots: a thousand idle connections cost less, and attribute access stays fast however
    # many attributes the state needs (an instance dict past 30 keys loses its shared keys).
    __slots__ = (
        "_body_message",
        "_clock",
        "_continue_sent",
        "_current",
        "_draining",
        "_idle_since",
        "_loop",
        "_parser",
        "_parsing",
        "_peer_done",
        "_queue",
        "_recheck_linger",
        "_service",
        "_state",
        "_task",
        "_upgrade_tail",
        "_upgraded",
        "_writer",
        "config",
        "flow",
        "peername",
        "requests_count",
        "server_header",
        "transport",
        "upgraded_to",
    )

    def __init__(
        self,
        service: RequestService,
        config: ProtocolConfig | None = None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._service = service
        self.config = config = config or ProtocolConfig()
        self._loop = loop or asyncio.get_running_loop()
        self._clock: Clock = clock or self._loop
        self.server_header = config.server_header
        self.transport: asyncio.Transport | None = None
        self.flow: FlowControl | None = None
        self.peername: Any = None
        self.requests_count = 0
        self._parser = RequestParser(self, config.limits)
        self._task: asyncio.Task[None] | None = None
        # Requests read ahead of the one running (pipelining): made on first use, since an
        # empty deque costs ~0.6 KiB on each of many idle connections.
        self._queue: deque[_Item] | None = None
        self._parsing: StreamReader | None = None  # the body being received
        self._current: RequestMessage | None = None  # the request being answered
        self._writer: ResponseWriter | None = None  # its response
        self._state = _OPEN  # changed only through _enter(): docs/architecture.md
        # A graceful shutdown began: every answer from now on carries Connection: close.
        self._draining = False
        self._peer_done = False  # the client half-closed: it sends no more requests
        self._timer: TimerHandle | None = None
        self._timer_kind: TimerKind | None = None
        self._idle_since = 0.0  # when the connection opened or last became idle
        self._head_deadline = 0.0
        self._head_bytes = 0  # bytes received since the current head began
        # The data-rate window: when it began (< 0: not yet) and the byte count then.
        self._mark_time = -1.0
        self._mark_bytes = 0
        self._body_message: RequestMessage | None = None  # whose body is being received
        self._continue_sent = False
        self._recheck_linger = False
        self._upgrade_tail: bytes | None = None  # bytes kept while SWITCHING
        self._upgraded: _UpgradeSink | None = None  # who gets the bytes once UPGRADED
        # What took the connection over (a WebSocket), for the graceful shutdown to find.
        self.upgraded_to: object | None = None

    def __repr__(self) -> str:
        return (
            f"<HttpProtocol {self.peername!r} {self._state.value} requests={self.requests_count}>"
        )

    def _enter(self, state: ConnState) -> None:
        self._state = transition(self._state, state)

    # -- state for others ---------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No request being answered, queued or half received."""
        return self._task is None and not self._queue and not self._parser.in_head

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task answering the current request (the handler's task)."""
        task = self._task
        return asyncio.current_task(self._loop) if task is _PENDING else task

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def closing(self) -> bool:
        """A graceful shutdown began (draining)."""
        return self._draining

    def should_close(self) -> bool:
        """Whether the response being written must carry ``Connection: close``."""
        if self._draining or self._state is _REFUSING:
            return not self._queue  # requests read before the stop are still answered
        parsing = self._parsing
        if parsing is None or parsing is EMPTY_PAYLOAD or self._queue:
            return False
        # Answering while the request body is still arriving: if the rest may never come
        # (the client waits for a 100 we did not send) or is large or of unknown size, the
        # connection cannot be reused after this response.
        message = self._current
        if message is None or (message.expect_continue and not self._continue_sent):
            return True
        remaining = (message.content_length or 0) - parsing.total_bytes
        return message.chunked or remaining > _DISCARD_LIMIT

    async def drain(self) -> None:
        flow = self.flow
        if flow is None:
            raise ConnectionResetError("Connection lost")
        await flow.drain()

    # -- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; they quack the same.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        config = self.config
        self.flow = FlowControl(
            transport,
            clock=self._clock,
            send_timeout=config.send_timeout,
            on_send_timeout=self._send_timed_out,
        )
        self.peername = transport.get_extra_info("peername")
        self._idle_since = self._clock.time()
        self._begin_head()
        self._service.connection_made(self)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._enter(_CLOSED)
        self._cancel_timer()
        self._release_parser()
        if self.flow is not None:
            self.flow.connection_lost(exc)
        error = ConnectionResetError("Connection lost")
        parsing = self._parsing
        if parsing is not None and parsing is not EMPTY_PAYLOAD and not parsing.is_eof():
            parsing.set_exception(error)
        for item in self._queue or ():
            if not isinstance(item, HttpProcessingError) and item[1] is not EMPTY_PAYLOAD:
                item[1].set_exception(error)
        self._queue = None
        upgraded = self._upgraded
        if upgraded is not None:
            # Let go of the WebSocket (it refers back to us): it is freed as soon as its
            # handler drops it, without waiting for the cycle collector.
            self._upgraded = self.upgraded_to = None
            upgraded[1](exc)
        task = self._task
        if task is not None and self.config.handler_cancellation and upgraded is None:
            task.cancel()
        self._service.connection_lost(self)
        self.transport = None

    def pause_writing(self) -> None:
        if self.flow is not None:
            self.flow.pause_writing()

    def resume_writing(self) -> None:
        if self.flow is not None:
            self.flow.resume_writing()

    def eof_received(self) -> bool:
        if self._state is _UPGRADED:
            assert self._upgraded is not None
            self._upgraded[1](None)
            return True
        parsing = self._parsing
        if parsing is not None and not parsing.is_eof() and parsing is not EMPTY_PAYLOAD:
            parsing.set_exception(ConnectionResetError("Client closed before the body ended"))
        if self.config.handler_cancellation:
            # A client that stops sending has usually given up; with handler cancellation
            # on, treat it as gone (aiohttp does) rather than as a half-close.
            return False
        writer = self._writer
        if self._task is not None and writer is not None and writer.head_sent:
            # The response is under way (a stream, server-sent events): a client that
            # stops sending now has gone away. Closing makes that visible to the handler
            # at once, as in aiohttp: request.transport becomes None and writes raise.
            return False
        # A response is still owed and not begun: keep the write side open for it
        # (a half-close, RFC 9112 9.6), and close once it is sent.
        self._peer_done = True
        return self._task is not None or bool(self._queue)

    def data_received(self, data: bytes) -> None:
        state = self._state
        if state is _OPEN:
            if self._timer_kind is _GRACE:
                self._cancel_timer()
            # An armed idle timer stays: it checks the deadline when it fires, which costs
            # less than re-arming a timer for every request.
            self._feed(data)
        elif state is _UPGRADED:
            assert self._upgraded is not None
            self._upgraded[0](data)
        elif state is _SWITCHING:
            assert self._upgrade_tail is not None
            self._upgrade_tail += data
        # REFUSING, LINGERING: what still arrives is dropped.

    def _feed(self, data: bytes) -> None:
        try:
            tail = self._parser.feed(data)
        except HttpProcessingError as exc:
            if self._state is _OPEN:  # else nothing more is answered on this connection
                self._on_parse_error(exc)
            return
        if self._state is not _OPEN:
            # A request answered during this feed (an eager task) ended the connection.
            if self._recheck_linger:
                self._recheck_linger = False
                if not self._parser.in_head and tail is None:
                    self._close()  # nothing followed it in this read: no need to linger
            return
        if tail is not None:
            # Parsing stops at an upgrade until the handler accepts it or answers normally.
            self._enter(_SWITCHING)
            self._upgrade_tail = tail
            assert self.flow is not None
            self.flow.pause_reading(FlowControl.UPGRADE)
        elif self._parser.in_head:
            self._head_received(len(data))
        elif (
            (parsing := self._parsing) is not None
            and self._timer_kind is not _BODY
            and parsing is not EMPTY_PAYLOAD
            and self.config.min_body_rate
        ):
            self._begin_body_window(parsing)  # a body is arriving in pieces

    # -- parser sink --------------------------------------------------------------------

    def on_request(self, message: RequestMessage) -> None:
        if self._state is _LINGERING or self._state is _CLOSED:
            self._recheck_linger = False  # more did follow: keep lingering
            return  # the connection ended while this read was being parsed
        if self._timer_kind is _HEAD:
            self._cancel_timer()
        self.requests_count += 1
        payload: StreamReader
        if message.has_body:
            self._body_message = message
            flow = self.flow
            assert flow is not None
            payload = StreamReader(
                high_water=self.config.read_high_water,
                on_pause=lambda: flow.pause_reading(FlowControl.BODY),
                on_resume=lambda: flow.resume_reading(FlowControl.BODY),
                on_first_read=self._send_continue if message.expect_continue else None,
                read_timeout=self.config.body_timeout,
            )
        else:
            payload = EMPTY_PAYLOAD
        self._parsing = payload
        writer = ResponseWriter(self, message)
        if self._task is None and not self._queue:
            self._start(message, payload, writer)
        else:
            self._enqueue((message, payload, writer))

    def on_body(self, data: bytes) -> None:
        parsing = self._parsing
        if parsing is not None:
            parsing.feed_data(data)

    def on_request_complete(self) -> None:
        parsing = self._parsing
        if parsing is not None:
            self._parsing = None
            if parsing is not EMPTY_PAYLOAD:
                parsing.feed_eof()

    # -- running requests ---------------------------------------------------------------

    def _enqueue(self, item: _Item) -> None:
        queue = self._queue
        if queue is None:
            queue = self._queue = deque()
        queue.append(item)
        if len(queue) >= self.config.max_pipeline and self.flow is not None:
            self.flow.pause_reading(FlowControl.PIPELINE)

    def _start(self, message: RequestMessage, payload: StreamReader, w: ResponseWriter) -> None:
        self._continue_sent = False
        self._current = message
        self._writer = w
        coro = self._run(message, payload, w)
        loop = self._loop
        if loop.get_task_factory() is not None:
            self._task = loop.create_task(coro)  # the user's factory makes it
        elif _EAGER and not message.upgrade:
            # Python 3.12+: run the handler's first step now, inside data_received; a
            # handler that never waits answers without a trip through the event loop.
            # Upgrades are excluded: their end resumes parsing, which must not happen
            # while the parser is still inside this feed.
            self._task = _PENDING
            task = asyncio.Task(coro, loop=loop, name=_TASK_NAME, eager_start=True)  # type: ignore[call-arg,unused-ignore]
            if self._task is _PENDING:  # still running: it finishes later
                self._task = task
        else:
            # Straight to the Task, named: loop.create_task would add a call of its own, and
            # an unnamed Task formats "Task-<n>" as it is built (together about 2,600
            # instructions a request on 3.11, a third of what the Task costs).
            self._task = asyncio.Task(coro, loop=loop, name=_TASK_NAME)

    def _start_error(self, error: HttpProcessingError) -> None:
        message = RequestMessage("GET", "", HttpVersion11, (), keep_alive=False)
        writer = ResponseWriter(self, message)
        self._task = self._loop.create_task(self._run_error(error, writer))

    async def _run(self, message: RequestMessage, payload: StreamReader, w: ResponseWriter) -> None:
        failed = True
        try:
            await self._service.handle_request(self, message, payload, w)
            failed = False
        except asyncio.CancelledError:
            # Cancelled by the application (a logout endpoint cancelling a WebSocket
            # handler: docs/faq.md, "How to programmatically close a WebSocket
            # server-side?"), by a client gone with handler_cancellation, or by the end of
            # a graceful shutdown. (aiohttp's debug record, word for word: code written for
            # aiohttp matches on it.)
            self.config.logger.debug("Ignored premature client disconnection")
            w.force_close()
        except ConnectionError:
            # The client went away mid-response: nothing is left to answer or to report.
            self.config.logger.debug("Ignored premature client disconnection")
            w.force_close()
        except Exception as exc:
            if getattr(exc, "berth_logged", False):
                # Already logged with its traceback (by the server or a middleware).
                self.config.logger.debug(
                    "Closing after an error serving %s %s", message.method, message.target
                )
            else:
                self.config.logger.exception(
                    "Unhandled error serving %s %s", message.method, message.target
                )
            w.force_close()
        finally:
            self._finish(message, payload, w, failed=failed)

    async def _run_error(self, error: HttpProcessingError, writer: ResponseWriter) -> None:
        try:
            await self._service.handle_error(self, error, writer)
        except Exception:
            self.config.logger.exception("Error while answering a bad request")
        finally:
            self._task = None
            # The client may still be sending the rest of what we refused; a lingering
            # close keeps a reset from destroying the error response on its way.
            self._close(linger=True)

    def _finish(
        self,
        message: RequestMessage,
        payload: StreamReader,
        w: ResponseWriter,
        *,
        failed: bool = False,
    ) -> None:
        # Finished in its first, eager step: inside the feed that parsed it, so the rest of
        # that read (a pipelined request, say) is not parsed yet.
        mid_feed = self._task is _PENDING
        self._task = None
        self._writer = None
        if self._state is _CLOSED:
            return
        if not w.eof_sent:
            # A response cut short by an error must not look complete: no last chunk, and
            # the close tells the client the body is truncated (RFC 9112 6.3, 7.1).
            if w.head_sent and not failed:
                try:
                    w.write_eof()
                except (ConnectionError, RuntimeError):
                    w.force_close()
            else:
                w.force_close()  # nothing was answered; closing is the only honest reply
        linger = False
        if payload is not EMPTY_PAYLOAD and not payload.is_eof():
            # The handler answered without reading the whole body.
            remaining = (message.content_length or 0) - payload.total_bytes
            if message.chunked or remaining > _DISCARD_LIMIT:
                w.force_close()
                linger = True
            if message.expect_continue and not self._continue_sent:
                # The client may be waiting for 100 before sending it (RFC 9110 10.1.1).
                w.force_close()
            payload.discard()
        if self._state is _UPGRADED:
            return  # the new protocol owns the connection until the handler ends
        if not w.keep_alive or not w.head_sent:
            # The client sent more than we answer (pipelined requests, part of the next):
            # it may still be sending, and a close would reset the answer on its way.
            more = bool(self._queue) or self._parser.in_head
            self._close(linger=linger or more or mid_feed)
            # Mid-feed, whether more follows is known only once the feed ends (_feed).
            self._recheck_linger = mid_feed and not (linger or more)
            return
        if self._state is _SWITCHING and not self._queue:
            # The upgrade request (the last one parsed: nothing is queued behind it) was
            # answered normally: carry on with HTTP. With requests queued, the one that
            # ended came before it, and the upgrade request is next.
            self._enter(_OPEN)
            tail, self._upgrade_tail = self._upgrade_tail, None
            assert self.flow is not None
            self.flow.resume_reading(FlowControl.UPGRADE)
            if tail:
                self._feed(tail)
            # Asked through a method: the type checker still sees the task and state of
            # before the feed (and compiled code would trust it), but the feed may have
            # started a request or closed the connection.
            if self._feed_took_over():
                return
        self._next()

    def _feed_took_over(self) -> bool:
        return self._task is not None or self._state is _CLOSED

    def _next(self) -> None:
        queue = self._queue
        if queue:
            item = queue.popleft()
            if len(queue) < self.config.max_pipeline and self.flow is not None:
                self.flow.resume_reading(FlowControl.PIPELINE)
            if isinstance(item, HttpProcessingError):
                self._start_error(item)
            else:
                self._start(*item)
        elif self._draining or self._peer_done:
            self._close()
        elif self._parser.in_head:
            if self._timer_kind is not _HEAD:
                # A head began while the previous request ran: its clocks start now.
                self._begin_head()
                self._mark_time = self._clock.time()
                self._mark_bytes = self._head_bytes
        else:
            if self._parsing is None:
                # Idle, every body read: an idle connection keeps no request head (about
                # 600 bytes with its fields, held until the next request otherwise).
                self._current = self._body_message = None
            self._idle_since = self._clock.time()
            if self._timer_kind is not _IDLE:
                self._set_timer(_IDLE, self.config.keepalive_timeout)

    def send_interim(self, data: bytes) -> None:
        """Send an interim response an expect handler wrote ahead of the head.

        A ``100 Continue`` sent this way counts as ours: the body's first read sends no
        second one (RFC 9110 10.1.1).
        """
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if data.startswith(_CONTINUE_STATUS):
            self._continue_sent = True
        transport.write(data)

    def _send_continue(self) -> None:
        # RFC 9110 10.1.1: 100 goes out only once the handler asks for the body.
        transport = self.transport
        if transport is not None and not transport.is_closing() and not self._continue_sent:
            self._continue_sent = True
            transport.write(_CONTINUE)

    # -- errors, timers, closing --------------------------------------------------------

    def _on_parse_error(self, error: HttpProcessingError) -> None:
        self._enter(_REFUSING)
        # Answered and logged without a traceback; kept, the traceback's frames (the
        # parser's, ours) would hold this connection in a reference cycle.
        error.__traceback__ = error.__context__ = None
        self.config.logger.info(
            "Bad request from %s: %s %s", _peer(self.peername), error.status, error.message
        )
        parsing = self._parsing
        if parsing is not None and parsing is not EMPTY_PAYLOAD and not parsing.is_eof():
            # The error is inside a body: its handler hears of it through the stream.
            parsing.set_exception(error)
            self._parsing = None
            if self._task is not None:
                return
        if self._task is None and not self._queue:
            self._start_error(error)
        else:
            self._enqueue(error)

    def _send_timed_out(self, stalled: float) -> None:
        """The peer kept our writes blocked for ``send_timeout`` without reading: abort.
        What is written cannot be finished, and a close would wait for the buffer to drain;
        the handler's pending write raises ``ConnectionResetError`` (docs/hardening.md)."""
        transport = self.transport
        if transport is None or self._state is _CLOSED:
            return
        self.config.logger.info(
            "Aborting the connection from %s: it read nothing of its %s for %.1f s (send_timeout)",
            _peer(self.peername),
            "WebSocket" if self._state is _UPGRADED else "response",
            stalled,
        )
        transport.abort()

    def _close(self, *, linger: bool = False, abort: bool = False) -> None:
        transport = self.transport
        state = self._state
        if transport is None or state is _CLOSED:
            return
        if abort:
            transport.abort()
            return
        if linger and state is _LINGERING:
            return  # already lingering; its timer ends it
        if linger and transport.can_write_eof():
            # Lingering close: stop sending, read and drop what the client still sends, so
            # the response is not destroyed by a reset (RFC 9112 9.6).
            self._enter(_LINGERING)
            transport.write_eof()
            if self.flow is not None:
                self.flow.resume_reading(FlowControl.BODY | FlowControl.PIPELINE)
            self._set_timer(_LINGER, self.config.lingering_time)
            return
        self._cancel_timer()
        transport.close()

    def shutdown(self, grace: float = 0.0) -> None:
        """Begin a graceful close: in-flight responses carry ``Connection: close``.

        An idle connection closes after ``grace`` seconds; a request that arrives in that
        window is still answered, with ``Connection: close`` (RFC 9112 9.6).
        """
        if self._draining:
            return
        self._draining = True
        if self._state is not _OPEN or not self.idle:
            return  # the request being answered, refused or upgraded ends it
        if grace > 0:
            self._set_timer(_GRACE, grace)
        else:
            self._close()

    def upgrade(
        self,
        on_data: Callable[[bytes], None],
        on_eof: Callable[[BaseException | None], None],
        *,
        owner: object | None = None,
    ) -> bytes:
        """Hand the connection to another protocol after a 101 response.

        Returns the bytes that arrived after the upgrade request; later bytes go to
        ``on_data``, and ``on_eof`` hears when the peer closes or the connection is lost.
        ``owner`` (the WebSocket) is kept as :attr:`upgraded_to`: the connection holds it,
        not a global map, so both die together.
        """
        self._enter(_UPGRADED)
        self._upgraded = (on_data, on_eof)
        self.upgraded_to = owner
        self._cancel_timer()
        # No more HTTP on this connection: let the parser go (~1 KiB per WebSocket).
        self._release_parser()
        tail, self._upgrade_tail = self._upgrade_tail or b"", None
        if self.flow is not None:
            self.flow.resume_reading(FlowControl.UPGRADE)
        return tail

    def close(self) -> None:
        """Close the connection now."""
        self._close()

    def force_close(self) -> None:
        """Close the connection at once, as aiohttp's ``RequestHandler.force_close()`` does.

        What was written is still sent, then the connection closes; nothing more is read
        and no queued (pipelined) request is answered. :attr:`transport` becomes None at
        once, so the running handler sees its client gone (``request.transport`` is None,
        writes raise ``ConnectionResetError``; aiohttp-sse reads that as a disconnect), and
        with ``handler_cancellation`` it is cancelled when the connection is lost.
        """
        transport = self.transport
        if transport is None:
            return
        self._cancel_timer()
        self._queue = None
        transport.close()
        self.transport = None

    def _release_parser(self) -> None:
        # The parser calls back into us: released, this connection is freed by reference
        # counting when it ends instead of waiting for the cycle collector.
        parser, self._parser = self._parser, spent_parser()
        if parser is not self._parser:
            parser.release()

    def abort(self) -> None:
        """End of a graceful shutdown: cancel the running handler and close."""
        if self._task is not None:
            self._task.cancel()
        self._queue = None
        self._close()


def _peer(peername: Any) -> str:
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"
    return str(peername or "unix socket")
