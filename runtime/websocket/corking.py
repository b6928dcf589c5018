"""Frames corked per pass of the event loop: every socket that corked a frame in this pass
is flushed by one ``call_soon`` callback at the start of the next.

A socket's frames written in one pass leave in one ``transport.write`` (an echo of a burst
of messages is one system call, not one per message). A fan-out corks a frame on hundreds
of sockets in one pass: one callback for all of them, instead of one each, saves a handle
and a loop dispatch per socket.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Protocol

__all__ = ["Corked", "flush_later"]


class Corked(Protocol):
    """A socket with frames waiting: its loop, and how to send them."""

    @property
    def _loop(self) -> asyncio.AbstractEventLoop | None: ...

    def _flush(self) -> None: ...


class _FlushBatch(threading.local):
    """The sockets corked in this pass of this thread's loop."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.sockets: list[Corked] = []


_batch = _FlushBatch()


def flush_later(ws: Corked) -> None:
    """Flush ``ws`` at the start of the next pass of its loop (with every other socket
    corked in this one)."""
    batch = _batch
    loop = ws._loop
    assert loop is not None
    if batch.loop is loop and batch.sockets:
        batch.sockets.append(ws)
        return
    # A new pass (or another loop): a new list, handed to its callback, so a list left
    # behind by a loop that closed before running it is simply dropped with it.
    batch.loop = loop
    batch.sockets = [ws]
    loop.call_soon(_flush_batch, batch.sockets)


def _flush_batch(sockets: list[Corked]) -> None:
    if _batch.sockets is sockets:
        _batch.sockets = []  # corks from here on start the next pass's batch
    for ws in sockets:
        ws._flush()
