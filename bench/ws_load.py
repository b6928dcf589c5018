"""WebSocket echo load generator: messages per second from N pipelined connections.

``python bench/ws_load.py --port P [--path /ws] [--connections 16] [--window 16]
[--duration 10] [--warmup 1]``

wrk cannot speak WebSocket, so the bench drives its ``ws-echo`` scenario with this. It is
meant to cost the client far less than the server: standard library asyncio Protocols (on
uvloop when it is importable), the upgrade handshake written by hand, one masked text frame
built once and re-sent as is, and only the server frames' headers parsed. Each connection keeps
``--window`` messages in flight: it sends that many frames, then one more per echo received.

After ``--warmup`` seconds (not counted) it counts the echoes received over ``--duration``
seconds and prints one line ``BENCH_RESULT {json}`` with ``messages``, ``duration_s``,
``messages_per_sec`` and ``errors``. The first echo's payload is checked on every connection.
Traffic goes to 127.0.0.1 only; every socket is closed before it exits, also on errors.

Standard library only (uvloop optional); the wire format is in ``bench/ws_wire.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import cast

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen
from bench.ws_wire import (
    CLOSE_FRAME,
    HOST,
    check_echo,
    client_frame,
    handshake_end,
    handshake_request,
    parse_frame_header,
)

DEFAULT_MESSAGE = b"0123456789abcdef"  # 16 bytes of ASCII: a small text message


class EchoError(Exception):
    """A connection that did not upgrade, or broke the protocol."""


class EchoClient(asyncio.Protocol):
    """One connection: handshake, then a window of messages in flight, counting echoes."""

    def __init__(self, request: bytes, frame: bytes, message: bytes, window: int) -> None:
        self.request = request
        self.frame = frame
        self.message = message
        self.window = window
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.checked = False
        self.received = 0  # echoes received since the upgrade
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.error: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def fail(self, error: str) -> None:
        if self.error is None:
            self.error = error
        if not self.ready.done():
            self.ready.set_exception(EchoError(error))
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done() or self.error is None:
            reason = f"{type(exc).__name__}: {exc}" if exc else "closed by the server"
            self.fail(f"connection lost ({reason})")

    def close(self) -> None:
        self.error = self.error or "closed"  # connection_lost is expected from now on
        if self.transport is not None and not self.transport.is_closing():
            if self.upgraded:
                self.transport.write(CLOSE_FRAME)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        if not self.upgraded:
            try:
                start = handshake_end(buf)
            except ValueError as exc:
                self.fail(str(exc))
                return
            if start is None:
                return
            self.upgraded = True
            pos = start
            assert self.transport is not None
            self.transport.write(self.frame * self.window)
            self.ready.set_result(None)
        echoes = 0
        try:
            while (frame := parse_frame_header(buf, pos)) is not None:
                opcode, start, pos = frame
                if opcode != 0x1:
                    self.fail(f"unexpected frame, opcode {opcode}")
                    return
                if not self.checked:
                    if buf[start:pos] != self.message:
                        self.fail(f"echo payload {bytes(buf[start:pos][:80])!r}")
                        return
                    self.checked = True
                echoes += 1
        except ValueError as exc:
            self.fail(str(exc))
            return
        del buf[:pos]
        if echoes:
            self.received += echoes
            assert self.transport is not None
            self.transport.write(self.frame * echoes)


async def run(
    port: int,
    path: str,
    *,
    connections: int,
    window: int,
    duration: float,
    warmup: float,
    message: bytes,
    timeout: float = 5.0,
) -> dict[str, object]:
    loop = asyncio.get_running_loop()
    frame = client_frame(message)
    clients: list[EchoClient] = []
    errors: dict[str, int] = {"connect": 0, "handshake": 0, "lost": 0}
    try:

        async def open_one() -> EchoClient:
            _, client = await loop.create_connection(
                lambda: EchoClient(handshake_request(HOST, port, path), frame, message, window),
                HOST,
                port,
            )
            clients.append(client)
            await client.ready
            return client

        results = await asyncio.wait_for(
            asyncio.gather(*(open_one() for _ in range(connections)), return_exceptions=True),
            timeout,
        )
        failures = [r for r in results if isinstance(r, BaseException)]
        errors["handshake"] = sum(1 for r in failures if isinstance(r, EchoError))
        errors["connect"] = len(failures) - errors["handshake"]
        if len(failures) == connections:
            raise RuntimeError(f"no connection upgraded: {failures[0]!r}")
        await asyncio.sleep(warmup)
        before = sum(c.received for c in clients)
        started = time.monotonic()
        await asyncio.sleep(duration)
        messages = sum(c.received for c in clients) - before
        elapsed = time.monotonic() - started
        errors["lost"] = sum(1 for c in clients if c.upgraded and c.error is not None)
        first_error = next((c.error for c in clients if c.error), None)
    finally:
        for client in clients:
            client.close()
        await asyncio.sleep(0.05)  # let the transports flush the close frames and close
    return {
        "messages": messages,
        "duration_s": round(elapsed, 3),
        "messages_per_sec": round(messages / elapsed, 1) if elapsed else 0.0,
        "connections": connections,
        "window": window,
        "message_bytes": len(message),
        "errors": errors,
        "first_error": first_error,
        "cpu_s": round(time.process_time(), 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/ws_load.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, required=True, help=f"server port on {HOST}")
    parser.add_argument("--path", default="/ws")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--window", type=int, default=16, help="messages in flight per connection")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds before measuring")
    parser.add_argument("--message", default=DEFAULT_MESSAGE.decode(), help="text to echo")
    args = parser.parse_args(argv)
    if min(args.connections, args.window) < 1 or args.duration <= 0 or args.warmup < 0:
        parser.error("--connections, --window and --duration must be positive")
    message = args.message.encode()
    problem = check_echo(args.port, args.path, message)
    if problem:
        print(f"ws_load: check failed: {problem}", file=sys.stderr)
        return 1
    work = run(
        args.port,
        args.path,
        connections=args.connections,
        window=args.window,
        duration=args.duration,
        warmup=args.warmup,
        message=message,
    )
    return loadgen.report("ws_load", work, (RuntimeError, OSError, TimeoutError))


if __name__ == "__main__":
    sys.exit(main())
