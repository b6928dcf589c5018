"""The connection's one timer, and what a connection judges about slow clients
(docs/hardening.md).

The timer (``_set_timer``, ``_on_timer``) carries one deadline at a time: the idle
keep-alive, the head's, a body's data-rate window, the grace of a shutdown or the linger of
a close. What it judges: the head deadline and the minimum data rates of heads and bodies
(RFC 9110 15.5.9: 408 when the client is too slow), and, at the connection limit, how
cheaply the connection could be closed to make room for another. A part of
``HttpProtocol`` (runtime/server/protocol.py), kept apart because it is policy over the
connection's state, not the serving of requests: it reads that state and arms the timer,
and the connection calls it from its reads (``_head_received``, ``_begin_body_window``) and
when it becomes idle (``_rearm_idle``).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, Final

from ..http.errors import HttpProcessingError, RequestTimeout
from ..http.message import RequestMessage
from ..http.parser import RequestParser
from .config import Clock, ProtocolConfig, TimerHandle
from .flow import FlowControl
from .state import ConnState, TimerKind
from .streams import EMPTY_PAYLOAD, StreamReader

__all__ = ["SlowClients"]

# At the connection limit a head is judged (and its connection may be closed to make room)
# only after it waited this long, a quarter second: most of a slow network's round trip, so
# a new client's request is on its way by then. A body's rate needs a second to measure.
_JUDGE_HEAD_AFTER: Final = 0.25
_JUDGE_BODY_AFTER: Final = 1.0
# A peer that keeps our writes blocked is judged after a second without reading anything
# (or half its send_timeout, if that is shorter): a fast reader's buffer drains within
# milliseconds of each pause, and a lossy link's retransmission backs off in about a second.
_JUDGE_WRITE_AFTER: Final = 1.0
_OPEN: Final = ConnState.OPEN
_REFUSING: Final = ConnState.REFUSING
_LINGERING: Final = ConnState.LINGERING
_CLOSED: Final = ConnState.CLOSED
_HEAD: Final = TimerKind.HEAD
_BODY: Final = TimerKind.BODY
_IDLE: Final = TimerKind.IDLE
_LINGER: Final = TimerKind.LINGER


class SlowClients(asyncio.Protocol):
    """The base of ``HttpProtocol``, which owns the state (its slots) declared here. (A base
    rather than a mixin: mypyc compiles both, and a compiled class has one base.)"""

    # The state only this part keeps: the timer, the head's clock and the data-rate window.
    __slots__ = (
        "_head_bytes",
        "_head_deadline",
        "_mark_bytes",
        "_mark_time",
        "_timer",
        "_timer_kind",
    )

    config: ProtocolConfig
    flow: FlowControl | None
    transport: asyncio.Transport | None
    requests_count: int
    _clock: Clock
    _parser: RequestParser
    _state: ConnState
    _task: asyncio.Task[None] | None
    _queue: deque[Any] | None
    _parsing: StreamReader | None
    _current: RequestMessage | None
    _body_message: RequestMessage | None
    _continue_sent: bool
    _draining: bool
    _idle_since: float
    _timer: TimerHandle | None
    _timer_kind: TimerKind | None  # what the armed timer is for; None when none is
    _head_deadline: float
    _head_bytes: int  # bytes received since the current head began
    # The data-rate window: when it began (< 0: not yet) and the byte count then.
    _mark_time: float
    _mark_bytes: int

    # What it asks of the connection.
    @property
    def idle(self) -> bool:
        raise NotImplementedError

    def _close(self, *, linger: bool = False, abort: bool = False) -> None:
        raise NotImplementedError

    def _on_parse_error(self, error: HttpProcessingError) -> None:
        raise NotImplementedError

    # -- the connection's one timer ---------------------------------------------------------

    def _set_timer(self, kind: TimerKind, delay: float | None) -> None:
        self._cancel_timer()
        if delay:
            self._timer_kind = kind
            self._timer = self._clock.call_later(delay, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_kind = None

    def _on_timer(self) -> None:
        kind = self._timer_kind
        self._timer = None
        self._timer_kind = None
        if kind is _IDLE:
            if self.idle:  # else busy again: the next idle period arms a timer
                self._rearm_idle()
        elif kind is _HEAD:
            self._check_head()
        elif kind is _BODY:
            self._check_body()
        else:
            self._close(abort=kind is _LINGER)

    def _rearm_idle(self) -> None:
        """Idle: close once ``keepalive_timeout`` has passed since the connection became
        idle (at once if draining), or wait for the rest of it."""
        if self._draining:
            self._close()
            return
        remaining = self._idle_since + self.config.keepalive_timeout - self._clock.time()
        if remaining > 0:
            self._set_timer(_IDLE, remaining)
        else:
            self._close()

    # -- the head deadline and the data rates ----------------------------------------------

    def _begin_head(self) -> None:
        self._head_deadline = self._clock.time() + self.config.head_timeout
        self._head_bytes = 0
        self._mark_time = -1.0
        self._set_timer(_HEAD, self.config.head_timeout)

    def _head_received(self, size: int) -> None:
        """A read left a request head incomplete (the slow path: most heads come whole)."""
        if self._timer_kind is not _HEAD:
            self._begin_head()  # a new head on a kept-alive connection
        self._head_bytes += size
        if self._mark_time < 0 and self.config.min_head_rate:
            # The head's first bytes: its rate is judged from now on.
            now = self._clock.time()
            self._mark_time = now
            self._mark_bytes = self._head_bytes - size
            self._set_timer(_HEAD, min(self.config.rate_window, self._head_deadline - now))

    def _check_head(self) -> None:
        now = self._clock.time()
        refusing = self._state is _REFUSING
        if not self._parser.in_head or refusing:
            if self._task is not None or self._queue or refusing:
                return  # busy: the next idle period arms a timer again
            if now < self._head_deadline:  # a silent connection: no rate to judge yet
                self._set_timer(_HEAD, self._head_deadline - now)
            else:
                self._close()
            return
        if now >= self._head_deadline:
            self._on_parse_error(RequestTimeout("Request head not received in time"))
            return
        got = self._head_bytes - self._mark_bytes
        if self.flow is not None and self.flow.reading_paused:
            # Not reading (pipelining backpressure): the client cannot be too slow.
            self._mark_time, self._mark_bytes = now, self._head_bytes
        elif self._window_failed(now, got, self.config.min_head_rate):
            self._on_parse_error(
                RequestTimeout(
                    f"Request head too slow ({got} bytes in {now - self._mark_time:.1f} s)"
                )
            )
            return
        next_check = self._head_deadline
        if self._mark_time >= 0 and self.config.min_head_rate:
            next_check = min(next_check, self._mark_time + self.config.rate_window)
        self._set_timer(_HEAD, next_check - now)

    def _begin_body_window(self, payload: StreamReader) -> None:
        self._mark_time = self._clock.time()
        self._mark_bytes = payload.total_bytes
        self._set_timer(_BODY, self.config.rate_window)

    def _check_body(self) -> None:
        payload = self._parsing
        if payload is None or payload is EMPTY_PAYLOAD or self._state is not _OPEN:
            # The body is complete (or refused). If it was read after its request was
            # answered, this timer stood in for the idle one: arm that again.
            if self.idle and self._state is _OPEN:
                self._rearm_idle()
            return
        now = self._clock.time()
        got = payload.total_bytes - self._mark_bytes
        if self._client_waits_for_us() or not self._window_failed(
            now, got, self.config.min_body_rate
        ):
            self._begin_body_window(payload)
            return
        self._on_parse_error(
            RequestTimeout(f"Request body too slow ({got} bytes in {now - self._mark_time:.1f} s)")
        )

    def _client_waits_for_us(self) -> bool:
        """Whether the client cannot send body bytes now: reading is paused (backpressure,
        pipelining) or it waits for a 100 Continue (RFC 9110 10.1.1) not yet sent."""
        if self.flow is not None and self.flow.reading_paused:
            return True
        message = self._body_message
        if message is None or not message.expect_continue:
            return False
        return message is not self._current or not self._continue_sent

    def _window_failed(self, now: float, got: int, rate: float) -> bool:
        """Whether a whole rate window has passed with fewer than ``rate`` bytes/s in it.
        Moves the window on when it passed."""
        elapsed = now - self._mark_time
        if not rate or elapsed + 1e-3 < self.config.rate_window:
            return False
        if got < rate * elapsed:
            return True
        self._mark_time = now
        self._mark_bytes += got
        return False

    # -- making room (a server at its connection limit) -----------------------------------

    def shed_rank(self, now: float) -> tuple[int, float] | None:
        """How cheaply this connection can be closed to make room for a new one: lower
        first, or ``None`` if it must not be (a request being served, a WebSocket).

        0: already closing (a lingering close); 1: idle between requests, oldest first;
        2: a head not finished (or, on a new connection, not begun), furthest behind
        ``min_head_rate`` first; 3: a body arriving below ``min_body_rate``, slowest first;
        4: a peer that has read nothing for a second while our writes to it are blocked (a
        response, or a WebSocket), the longest stalled first. A head is judged only after a
        quarter second, a body and a blocked write after a second: a new client is not slow
        yet. 4 comes last: 1-3 have nothing in flight or are below a minimum rate, while a
        peer not reading is still within its ``send_timeout`` and a response (the handler's
        work) is on its way to it; but unlike a request being served, it waits on the
        client, not on us.
        """
        state = self._state
        if state is _LINGERING:
            return (0, 0.0)
        flow = self.flow
        if flow is not None and flow.writing_paused and state is not _CLOSED:
            # Whatever the request's state: a connection whose response is still going out
            # is not idle, and closing it cuts that response short.
            stalled = flow.stalled_for(now)
            timeout = self.config.send_timeout
            judge = min(_JUDGE_WRITE_AFTER, timeout / 2) if timeout else _JUDGE_WRITE_AFTER
            return (4, -stalled) if stalled >= judge else None
        if state is not _OPEN:
            # Upgraded: the application's. Refusing: an answer is on its way, then it
            # closes. Switching: its handler runs. Closed: gone.
            return None
        if self._task is None and not self._queue:
            in_head = self._parser.in_head
            if not in_head and self.requests_count:
                return (1, self._idle_since)
            started = self._mark_time if in_head and self._mark_time >= 0 else self._idle_since
            waited = now - started
            if waited < _JUDGE_HEAD_AFTER:
                return None
            rate = self.config.min_head_rate
            return (2, (self._head_bytes / rate if rate else 0.0) - waited)
        payload = self._parsing
        if payload is None or payload is EMPTY_PAYLOAD or self._timer_kind is not _BODY:
            return None
        if self._client_waits_for_us():
            return None
        elapsed = now - self._mark_time
        if elapsed < _JUDGE_BODY_AFTER:
            return None
        rate = (payload.total_bytes - self._mark_bytes) / elapsed
        return (3, rate) if rate < self.config.min_body_rate else None

    def shed(self) -> None:
        """Close now to make room: the server is at its connection limit."""
        transport = self.transport
        if transport is None or self._state is _CLOSED:
            return
        if self._state is _LINGERING:
            transport.abort()  # the response went out; the rest is only courtesy
        elif self.flow is not None and self.flow.writing_paused:
            # A close would wait for a peer that does not read to take the buffer first.
            transport.abort()
        else:
            self._close()
