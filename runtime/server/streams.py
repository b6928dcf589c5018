"""The request body as a stream, fed by the protocol and read by the handler."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial

from mypy_extensions import mypyc_attr

from ..http.errors import RequestTimeout

__all__ = ["EMPTY_PAYLOAD", "StreamReader"]


# The client's response body and test doubles subclass it.
@mypyc_attr(allow_interpreted_subclasses=True)
class StreamReader:
    """Buffered body bytes with backpressure (aiohttp's ``StreamReader`` API).

    ``on_pause``/``on_resume`` pause the socket while more than ``high_water`` bytes wait
    unread; ``on_first_read`` fires when the handler first asks for data (100-continue).
    ``read_timeout`` bounds each wait for more data (a client that stops mid-body -> 408).
    """

    __slots__ = (
        "_buffer",
        "_eof",
        "_exception",
        "_high_water",
        "_low_water",
        "_on_first_read",
        "_on_pause",
        "_on_resume",
        "_paused",
        "_read_timeout",
        "_size",
        "_waiter",
        "discarding",
        "total_bytes",
    )

    def __init__(
        self,
        *,
        high_water: int = 2**16,
        on_pause: Callable[[], None] | None = None,
        on_resume: Callable[[], None] | None = None,
        on_first_read: Callable[[], None] | None = None,
        read_timeout: float | None = None,
    ) -> None:
        self._buffer: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._high_water = high_water
        self._low_water = high_water // 2
        self._on_pause = on_pause
        self._on_resume = on_resume
        self._on_first_read = on_first_read
        self._paused = False
        self._read_timeout = read_timeout
        self.total_bytes = 0
        self.discarding = False

    def __repr__(self) -> str:
        state = "eof" if self._eof else f"{self._size} bytes buffered"
        return f"<StreamReader {state}>"

    # -- producer side (the protocol) --------------------------------------------------

    def feed_data(self, data: bytes) -> None:
        self.total_bytes += len(data)
        if self.discarding:
            return
        self._buffer.append(data)
        self._size += len(data)
        if self._size > self._high_water and not self._paused and self._on_pause is not None:
            self._paused = True
            self._on_pause()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        self._exception = exc
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_exception(exc)

    def discard(self) -> None:
        """Drop what is buffered and whatever still arrives (the handler is done)."""
        self.discarding = True
        self._buffer.clear()
        self._size = 0
        self._maybe_resume()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _maybe_resume(self) -> None:
        if self._paused and self._size <= self._low_water:
            self._paused = False
            if self._on_resume is not None:
                self._on_resume()

    # -- consumer side (the handler) ---------------------------------------------------

    def exception(self) -> BaseException | None:
        return self._exception

    def get_read_buffer_limits(self) -> tuple[int, int]:
        """``(low, high)``: reading resumes at or below ``low`` unread bytes and pauses
        above ``high`` (``read_bufsize``), as aiohttp's ``StreamReader`` reports them."""
        return self._low_water, self._high_water

    def is_eof(self) -> bool:
        """True once the sender finished (data may still be buffered)."""
        return self._eof

    def at_eof(self) -> bool:
        """True once the sender finished and everything was read."""
        return self._eof and not self._buffer

    async def _wait(self) -> None:
        if self._exception is not None:
            raise self._exception
        if self._on_first_read is not None:
            callback, self._on_first_read = self._on_first_read, None
            callback()
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = None
        if self._read_timeout:
            timer = loop.call_later(self._read_timeout, self._timed_out, waiter)
        try:
            await waiter
        finally:
            if timer is not None:
                timer.cancel()
            self._waiter = None

    def _timed_out(self, waiter: asyncio.Future[None]) -> None:
        if not waiter.done():
            self.set_exception(RequestTimeout("The request body stopped arriving"))

    def _take(self, n: int) -> bytes:
        """Remove up to ``n`` bytes (all buffered when ``n < 0``) from the buffer."""
        buffer = self._buffer
        if n < 0 or n >= self._size:
            data = buffer[0] if len(buffer) == 1 else b"".join(buffer)
            buffer.clear()
        else:
            first = buffer[0]
            if len(first) > n:
                data = first[:n]
                buffer[0] = first[n:]
            else:
                chunks = []
                remaining = n
                while remaining:
                    chunk = buffer.popleft()
                    if len(chunk) > remaining:
                        buffer.appendleft(chunk[remaining:])
                        chunk = chunk[:remaining]
                    chunks.append(chunk)
                    remaining -= len(chunk)
                data = b"".join(chunks)
        self._size -= len(data)
        self._maybe_resume()
        return data

    async def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes, or everything until EOF when ``n < 0``."""
        if n < 0:
            # Take what arrives as it arrives: waiting for EOF with the bytes left in the
            # buffer would keep a paused socket paused, and EOF would never come.
            chunks = []
            while True:
                if self._buffer:
                    chunks.append(self._take(-1))
                elif self._eof:
                    return b"".join(chunks)
                else:
                    await self._wait()
        if not n:
            return b""
        while not self._buffer and not self._eof:
            await self._wait()
        return self._take(n) if self._buffer else b""

    async def readany(self) -> bytes:
        """Whatever is buffered, waiting for the next chunk if nothing is."""
        while not self._buffer and not self._eof:
            await self._wait()
        return self._take(-1) if self._buffer else b""

    async def readexactly(self, n: int) -> bytes:
        while self._size < n and not self._eof:
            await self._wait()
        if self._size < n:
            partial = self._take(-1) if self._buffer else b""
            raise asyncio.IncompleteReadError(partial, n)
        return self._take(n)

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        """Read through ``separator`` (included), or to EOF."""
        seplen = len(separator)
        start = 0
        while True:
            joined = b"".join(self._buffer) if len(self._buffer) > 1 else None
            if joined is not None:
                self._buffer.clear()
                self._buffer.append(joined)
            data = self._buffer[0] if self._buffer else b""
            index = data.find(separator, start)
            if index >= 0:
                return self._take(index + seplen)
            if self._eof:
                return self._take(-1) if self._buffer else b""
            start = max(0, len(data) - seplen + 1)
            await self._wait()

    async def readline(self) -> bytes:
        return await self.readuntil(b"\n")

    def read_nowait(self, n: int = -1) -> bytes:
        if self._exception is not None:
            raise self._exception
        return self._take(n) if self._buffer else b""

    def unread_data(self, data: bytes) -> None:
        """Push bytes back to the front (multipart readers look ahead)."""
        if data:
            self._buffer.appendleft(data)
            self._size += len(data)

    def iter_chunked(self, n: int) -> AsyncIterator[bytes]:
        """``async for chunk in ...``: chunks of at most ``n`` bytes until the end."""
        return _Chunks(partial(self.read, n))

    def iter_any(self) -> AsyncIterator[bytes]:
        """``async for chunk in ...``: whatever has arrived, as it arrives, until the end."""
        return _Chunks(self.readany)

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.iter_any()


class _Chunks:
    """Iterates over a stream's reads until one returns nothing. (A class rather than an
    async generator: mypyc compiles this module, and it cannot compile those.)"""

    __slots__ = ("_read",)

    def __init__(self, read: Callable[[], Awaitable[bytes]]) -> None:
        self._read = read

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        chunk = await self._read()
        if not chunk:
            raise StopAsyncIteration
        return chunk


class _EmptyPayload(StreamReader):
    """A finished, empty body shared by every request that has none."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__()
        self._eof = True

    def feed_data(self, data: bytes) -> None:
        raise RuntimeError("EMPTY_PAYLOAD is read-only")


EMPTY_PAYLOAD: StreamReader = _EmptyPayload()
