"""The idle connections ``bench/memory.py`` holds open: each set up once (a ``GET`` answered, or
a WebSocket upgraded and one message echoed), then left idle; opened in batches with retries,
and probed once more at the end.

Standard library only: ``bench/memory.py`` runs as a script in the bench venv.
"""

from __future__ import annotations

import asyncio
import time
from typing import cast

from bench.http_wire import HOST, build_request, parse_response
from bench.ws_wire import CLOSE_FRAME, client_frame, handshake_request, parse_frame_header


class HoldError(Exception):
    """A connection that could not be set up (refused, reset, wrong status, bad echo)."""


class Held(asyncio.Protocol):
    """One connection: set up (a request and its response, or an upgrade and one echo), then
    held idle. ``probe()`` checks it is still served later."""

    def __init__(self, mode: str, port: int, path: str, message: bytes) -> None:
        self.mode = mode
        self.port = port
        self.path = path
        self.message = message
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.lost = False
        self.waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        if self.mode == "ws":
            self.transport.write(handshake_request(HOST, self.port, self.path))
        else:
            self.transport.write(build_request("GET", self.path, self.port))

    def _settle(self, error: str | None = None) -> None:
        if self.waiter.done():
            return
        if error is None:
            self.waiter.set_result(None)
        else:
            self.waiter.set_exception(HoldError(error))

    def data_received(self, data: bytes) -> None:
        self.buf += data
        try:
            if self.mode == "ws":
                self._ws_data()
            else:
                parsed = parse_response(self.buf)
                if parsed is not None:
                    status, end = parsed
                    del self.buf[:end]
                    self._settle(None if status == 200 else f"status {status}, expected 200")
        except ValueError as exc:
            self._settle(str(exc))

    def _ws_data(self) -> None:
        buf = self.buf
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[: buf.find(b"\r\n")]).decode("latin-1")
            if status.split(" ")[1:2] != ["101"]:
                self._settle(f"handshake: {status!r}, expected 101")
                return
            self.upgraded = True
            del buf[: end + 4]
            assert self.transport is not None
            self.transport.write(client_frame(self.message))
        frame = parse_frame_header(buf, 0)
        if frame is None:
            return
        opcode, start, end = frame
        payload = bytes(buf[start:end])
        del buf[:end]
        if opcode != 0x1 or payload != self.message:
            self._settle(f"echo opcode {opcode} payload {payload[:80]!r}")
        else:
            self._settle()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        reason = f"{type(exc).__name__}: {exc}" if exc else "closed by the server"
        self._settle(f"connection lost ({reason})")

    def probe(self) -> asyncio.Future[None]:
        """Send one more request (or message) on the idle connection; resolves on its answer."""
        self.waiter = asyncio.get_running_loop().create_future()
        if self.lost or self.transport is None or self.transport.is_closing():
            self._settle("closed before the probe")
        elif self.mode == "ws":
            self.transport.write(client_frame(self.message))
        else:
            self.transport.write(build_request("GET", self.path, self.port))
        return self.waiter

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            if self.upgraded and not self.lost:
                self.transport.write(CLOSE_FRAME)
            self.transport.close()


async def open_one(
    mode: str, port: int, path: str, message: bytes, timeout: float
) -> tuple[Held | None, str | None]:
    loop = asyncio.get_running_loop()
    held: Held | None = None
    try:
        async with asyncio.timeout(timeout):
            _, held = await loop.create_connection(
                lambda: Held(mode, port, path, message), HOST, port
            )
            await held.waiter
    except (OSError, HoldError, TimeoutError) as exc:
        if held is not None and held.transport is not None:
            held.transport.abort()
        return None, f"{type(exc).__name__}: {exc}"
    return held, None


async def open_all(
    mode: str,
    port: int,
    path: str,
    message: bytes,
    *,
    count: int,
    batch: int,
    retries: int,
    timeout: float,
    deadline: float,
    errors: dict[str, int],
) -> tuple[list[Held], str | None]:
    """Open ``count`` connections, ``batch`` at a time; failed ones are retried in later
    batches (after a short pause), up to ``retries`` times each. No batch starts after
    ``deadline`` (``time.monotonic()``): a server that stops accepting (a connection limit)
    is reported with what it holds."""
    held: list[Held] = []
    first_error: str | None = None
    attempts_left = {index: retries + 1 for index in range(count)}
    todo = list(range(count))
    while todo:
        if time.monotonic() > deadline:
            first_error = first_error or f"gave up opening: {len(todo)} left at the deadline"
            break
        chunk, todo = todo[:batch], todo[batch:]
        results = await asyncio.gather(
            *(open_one(mode, port, path, message, timeout) for _ in chunk)
        )
        failed = []
        for index, (conn, error) in zip(chunk, results, strict=True):
            if conn is not None:
                held.append(conn)
                continue
            errors["setup"] += 1
            first_error = first_error or error
            attempts_left[index] -= 1
            if attempts_left[index] > 0:
                failed.append(index)
        if failed:
            errors["retried"] += len(failed)
            todo += failed
            await asyncio.sleep(0.2)  # let the server drain its accept queue
    return held, first_error
