"""Flow control for one connection: read pause/resume by reason, write drain, and the send
timeout (a peer that keeps our writes blocked while it reads nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

try:
    import fcntl
    import termios
except ImportError:  # not POSIX: progress is what the transport's own buffer shows
    _OUTQ: int | None = None
else:
    # Linux's SIOCOUTQ (the same number as TIOCOUTQ): bytes in a TCP socket's send queue
    # that the peer has not acknowledged yet.
    _OUTQ = termios.TIOCOUTQ if sys.platform == "linux" else None

if TYPE_CHECKING:  # the client shares this module and must not import the server's config
    from .config import Clock, TimerHandle

__all__ = ["FlowControl"]

_LOST = "Connection lost"
# The first look at a paused peer's progress comes this soon: what was in flight when the
# writes blocked is acknowledged within a round trip, and that progress must not be
# credited to the peer a whole send_timeout later (nor by the connection limit's ranking).
_FIRST_LOOK = 0.25


class FlowControl:
    """Pauses reading while any reason holds, and lets writers wait for the kernel buffer.

    Reasons are bit flags so that a full pipeline queue and a full body buffer do not
    resume each other's pause.

    Given a ``clock``, it also watches a peer that does not read: from the moment the
    transport pauses writing (its buffer is past the high-water mark) until it resumes, what
    is still unsent is compared with what was before, a quarter second after the pause and
    then four times per ``send_timeout``; less is progress (credited when seen). That
    is the transport's buffer and, on Linux, the kernel's send queue (bytes the peer has not
    acknowledged): the kernel wakes a writer only once a third of its send buffer (which
    grows to 4 MiB) is free, so without it a peer reading a few KiB at a time would look
    stalled. With ``send_timeout`` set, ``on_send_timeout(stalled)`` is called once the peer
    has read nothing for that long (nginx's ``send_timeout``: the time between two
    successful writes, not the whole response). Nothing of it runs while writes never block.
    """

    BODY: Final = 1
    PIPELINE: Final = 2
    UPGRADE: Final = 4
    SHUTDOWN: Final = 8

    __slots__ = (
        "_clock",
        "_drain_waiter",
        "_fd",
        "_lost",
        "_lost_message",
        "_on_send_timeout",
        "_paused",
        "_progress_at",
        "_reasons",
        "_send_mark",
        "_send_timeout",
        "_send_timer",
        "_transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        *,
        clock: Clock | None = None,
        send_timeout: float | None = None,
        on_send_timeout: Callable[[float], object] | None = None,
    ) -> None:
        self._transport = transport
        self._reasons = 0
        self._paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost = False
        self._lost_message = _LOST
        self._clock = clock
        self._send_timeout = send_timeout if clock is not None else None
        self._on_send_timeout = on_send_timeout
        self._send_timer: TimerHandle | None = None
        self._progress_at = 0.0  # while paused: when the peer last read anything
        self._send_mark = 0  # while paused: what was unsent when last looked at
        self._fd: int | None = None  # the socket's, for its send queue (-1: none); lazily

    @property
    def reading_paused(self) -> bool:
        return self._reasons != 0

    def pause_reading(self, reason: int) -> None:
        self._reasons |= reason
        if not self._lost and self._reasons:
            # A closing transport refuses; nothing more will be read from it anyway.
            with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
                self._transport.pause_reading()

    def resume_reading(self, reason: int) -> None:
        self._reasons &= ~reason
        if not self._lost and not self._reasons:
            with contextlib.suppress(AttributeError, NotImplementedError, RuntimeError):
                self._transport.resume_reading()

    # -- writing ------------------------------------------------------------------------

    def pause_writing(self) -> None:
        self._paused = True
        clock = self._clock
        if clock is None or self._lost:
            return
        # The peer stopped keeping up: watch it from now on (and only now, so a connection
        # whose writes never block pays nothing for this).
        self._progress_at = clock.time()
        self._send_mark = self._buffered()
        timeout = self._send_timeout
        self._cancel_send_timer()
        first = min(_FIRST_LOOK, timeout / 4) if timeout else _FIRST_LOOK
        self._send_timer = clock.call_later(first, self._check_send)

    def resume_writing(self) -> None:
        self._paused = False
        self._cancel_send_timer()
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    @property
    def writing_paused(self) -> bool:
        return self._paused

    def stalled_for(self, now: float) -> float:
        """How long the peer has read nothing while writing is paused; 0 when it is not
        paused (or there is no clock to tell)."""
        if not self._paused or self._clock is None:
            return 0.0
        size = self._buffered()
        if size < self._send_mark:
            # It read something since we last looked: credited now, which errs on the
            # peer's side by at most the time between two looks.
            self._progress_at = now
        # A larger buffer (a writer that did not wait for drain) is not progress either way.
        self._send_mark = size
        return now - self._progress_at

    def _check_send(self) -> None:
        self._send_timer = None
        clock, timeout = self._clock, self._send_timeout
        if clock is None or self._lost or not self._paused:
            return
        now = clock.time()
        stalled = self.stalled_for(now)
        if not timeout:
            return  # only the first look, for the connection limit's ranking
        if stalled + 1e-3 >= timeout:
            self._lost_message = f"Connection lost: the peer read nothing for {stalled:.1f} s"
            callback = self._on_send_timeout
            if callback is not None:
                callback(stalled)
            return
        # Looking four times per timeout cuts a peer between send_timeout and 1.25 times it
        # after the last byte it read.
        self._send_timer = clock.call_later(min(timeout / 4, timeout - stalled), self._check_send)

    def _cancel_send_timer(self) -> None:
        timer = self._send_timer
        if timer is not None:
            self._send_timer = None
            timer.cancel()

    def _buffered(self) -> int:
        """What is written and not yet received: the transport's buffer, and the kernel's
        send queue where it can be read (only while paused: one ioctl a look)."""
        transport = self._transport
        try:
            size = transport.get_write_buffer_size()
        except (AttributeError, NotImplementedError):
            size = 0  # no progress can be seen: the time since the pause counts
        fd = self._fd
        if fd is None:
            fd = self._fd = _socket_fd(transport)
        if fd >= 0 and _OUTQ is not None:
            try:
                size += int.from_bytes(fcntl.ioctl(fd, _OUTQ, bytes(4)), sys.byteorder)
            except OSError:
                self._fd = -1  # not a TCP socket (a Unix one, a pipe): the buffer only
        return size

    async def drain(self) -> None:
        """Return once the transport accepts more data; raise if the peer has gone."""
        if self._lost:
            raise ConnectionResetError(self._lost_message)
        if not self._paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(waiter)
        if self._lost:
            # Raised here rather than stored in the waiter: an exception kept in the future
            # would hold its traceback, whose frames hold the future (and the handler, the
            # request and this connection): a cycle only the cycle collector ends.
            raise ConnectionResetError(self._lost_message)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        self._cancel_send_timer()
        self._on_send_timeout = None  # it refers back to the connection: no cycle left
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)  # each drain() raises on waking: the peer is gone


def _socket_fd(transport: asyncio.BaseTransport) -> int:
    if _OUTQ is None:
        return -1
    sock = transport.get_extra_info("socket")
    try:
        return int(sock.fileno()) if sock is not None else -1
    except (AttributeError, OSError, ValueError):
        return -1
