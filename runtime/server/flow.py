"""Flow control for one connection: read pause/resume by reason, and write drain."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["FlowControl"]


class FlowControl:
    """Pauses reading while any reason holds, and lets writers wait for the kernel buffer.

    Reasons are bit flags so that a full pipeline queue and a full body buffer do not
    resume each other's pause.
    """

    BODY = 1
    PIPELINE = 2
    UPGRADE = 4
    SHUTDOWN = 8

    __slots__ = ("_drain_waiter", "_lost", "_paused", "_reasons", "_transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._reasons = 0
        self._paused = False
        self._drain_waiter: asyncio.Future[None] | None = None
        self._lost = False

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

    def resume_writing(self) -> None:
        self._paused = False
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    @property
    def writing_paused(self) -> bool:
        return self._paused

    async def drain(self) -> None:
        """Return once the transport accepts more data; raise if the peer has gone."""
        if self._lost:
            raise ConnectionResetError("Connection lost")
        if not self._paused:
            return
        waiter = self._drain_waiter
        if waiter is None:
            waiter = self._drain_waiter = asyncio.get_running_loop().create_future()
        await asyncio.shield(waiter)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        waiter = self._drain_waiter
        if waiter is not None:
            self._drain_waiter = None
            if not waiter.done():
                waiter.set_exception(ConnectionResetError("Connection lost"))
                # Nobody may be waiting any more; mark the exception retrieved.
                waiter.exception()
