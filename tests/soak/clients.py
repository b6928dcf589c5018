"""Bounded clients for the soak scenarios and for short CI tests that reuse them.

Plain asyncio streams (and the ``websockets`` package for :func:`ws_churn`), loop-agnostic.
Every function talks to one ``host:port`` (the scenarios only ever pass 127.0.0.1), runs for
at most ``duration`` seconds plus one bounded timeout, never raises for network errors, closes
every socket it opened and returns a record:

- :func:`get_once`: one fresh connection, one ``GET``, one :class:`Attempt`;
- :func:`legit_gets`: :func:`get_once` started at a steady ``rate`` (open loop), a
  :class:`LegitResult`;
- :func:`connect_storm`: ``concurrency`` loops of :func:`get_once` back to back, a
  :class:`LegitResult` (the sigterm scenario: who was answered, refused, reset);
- :func:`idle_keepalive`, :func:`slowloris`, :func:`slow_body`: ``count`` attacker connections
  held open (reopened when the server closes one), an :class:`AttackResult`; :func:`attack`
  picks one by name;
- :func:`ws_churn`: WebSocket upgrades, a few echoed messages, a close, again and again, a
  :class:`ChurnStats` (updated live, so a sampler can read it during the run).

Example (a CI test)::

    result = await slowloris("127.0.0.1", port, count=50, interval=2.0, duration=15.0)
    assert result.closed_by_server == result.connects
    assert result.median_lifetime() < 12
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ATTACKS",
    "AttackResult",
    "Attempt",
    "ChurnStats",
    "LegitResult",
    "attack",
    "connect_storm",
    "get_once",
    "idle_keepalive",
    "legit_gets",
    "read_response",
    "slow_body",
    "slowloris",
    "ws_churn",
]

# Outcomes of one request on a fresh connection.
ANSWERED = "answered"  # a complete HTTP response (any status; see Attempt.status)
REFUSED = "refused"  # ECONNREFUSED at connect
RESET = "reset"  # connected, then ECONNRESET/EPIPE, or EOF before a complete response
TIMEOUT = "timeout"  # no complete response within the timeout (connect included)
ERROR = "error"  # anything else (detail says what)
OUTCOMES = (ANSWERED, REFUSED, RESET, TIMEOUT, ERROR)

_MAX_HEAD = 64 * 1024


# --- one request ---------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One request on a fresh connection.

    ``start`` is in seconds since the client function began; ``latency`` is from the connect
    call to the last byte of the response (None unless answered); ``detail`` names the error
    (``ECONNRESET``, ``eof``, ``connect``/``response`` for timeouts, ...).
    """

    start: float
    outcome: str
    latency: float | None = None
    status: int | None = None
    detail: str = ""
    connected: bool = False


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one HTTP/1.1 response: ``(status, body)``.

    The body is framed by Content-Length, chunked encoding or the end of the stream. Raises
    ``asyncio.IncompleteReadError`` if the stream ends first, ValueError on a malformed head.
    """
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(parts[1])
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    if status in (204, 304) or 100 <= status < 200:
        return status, b""
    if chunked:
        body = bytearray()
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers expected
                return status, bytes(body)
            body += await reader.readexactly(size)
            await reader.readexactly(2)
    if length is not None:
        return status, await reader.readexactly(length)
    return status, await reader.read()


def _classify(exc: BaseException, connected: bool) -> tuple[str, str]:
    """``(outcome, detail)`` for an exception raised during one request."""
    if isinstance(exc, TimeoutError):
        return TIMEOUT, "response" if connected else "connect"
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED, "ECONNREFUSED"
    if isinstance(exc, asyncio.IncompleteReadError):
        return RESET, "eof" if not exc.partial else "eof-partial"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return RESET, errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    if isinstance(exc, OSError):
        return ERROR, errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return ERROR, type(exc).__name__


def _request(host: str, port: int, path: str, method: str = "GET", close: bool = True) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{connection}\r\n".encode()


def _abort(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        writer.transport.abort()


async def get_once(
    host: str, port: int, *, path: str = "/", timeout: float = 10.0, t0: float | None = None
) -> Attempt:
    """One ``GET path`` (``Connection: close``) on a fresh connection, bounded by ``timeout``.

    ``t0`` (a ``time.monotonic()`` value) is what :attr:`Attempt.start` counts from.
    """
    began = time.monotonic()
    attempt = Attempt(start=began - (began if t0 is None else t0), outcome=ERROR)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=_MAX_HEAD)
            attempt.connected = True
            writer.write(_request(host, port, path))
            status, _ = await read_response(reader)
        attempt.outcome, attempt.status = ANSWERED, status
        attempt.latency = time.monotonic() - began
    except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
        attempt.outcome, attempt.detail = _classify(exc, attempt.connected)
    finally:
        _abort(writer)
    return attempt


@dataclass
class LegitResult:
    """The requests of :func:`legit_gets` or :func:`connect_storm`, in start order."""

    attempts: list[Attempt] = field(default_factory=list)
    duration: float = 0.0

    def counts(self) -> dict[str, int]:
        found = Counter(a.outcome for a in self.attempts)
        return {outcome: found.get(outcome, 0) for outcome in OUTCOMES}

    def details(self) -> dict[str, int]:
        """Counts by ``outcome:detail`` for the attempts that were not answered."""
        return dict(
            Counter(f"{a.outcome}:{a.detail}" for a in self.attempts if a.outcome != ANSWERED)
        )

    def answered_ratio(self, status: int | None = 200) -> float:
        """Share of attempts answered (with ``status``, or any status if None)."""
        if not self.attempts:
            return 0.0
        good = sum(
            1
            for a in self.attempts
            if a.outcome == ANSWERED and (status is None or a.status == status)
        )
        return good / len(self.attempts)

    def latencies(self) -> list[float]:
        return sorted(a.latency for a in self.attempts if a.latency is not None)


async def legit_gets(
    host: str,
    port: int,
    *,
    rate: float = 50.0,
    duration: float,
    timeout: float = 10.0,
    path: str = "/",
) -> LegitResult:
    """Fresh-connection GETs started at ``rate`` per second for ``duration`` seconds.

    Open loop: each request starts on schedule whether or not the earlier ones finished (at
    most ``rate * timeout`` in flight). Returns once the last one is answered or timed out.
    """
    t0 = time.monotonic()
    total = max(1, int(rate * duration))
    tasks: list[asyncio.Task[Attempt]] = []
    for i in range(total):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(get_once(host, port, path=path, timeout=timeout, t0=t0)))
    attempts = list(await asyncio.gather(*tasks))
    return LegitResult(attempts=attempts, duration=time.monotonic() - t0)


async def connect_storm(
    host: str,
    port: int,
    *,
    duration: float,
    concurrency: int = 4,
    timeout: float = 5.0,
    path: str = "/",
    pause_after_refused: float = 0.01,
    max_attempts: int = 200_000,
) -> LegitResult:
    """``concurrency`` loops, each a fresh connection and one GET after the other.

    No new attempt starts after ``duration`` seconds or ``max_attempts`` attempts in all. A
    refused connect is followed by ``pause_after_refused`` seconds so a server that is gone
    does not turn the loop into a spin.
    """
    t0 = time.monotonic()
    deadline = t0 + duration
    attempts: list[Attempt] = []

    async def loop() -> None:
        while time.monotonic() < deadline and len(attempts) < max_attempts:
            attempt = await get_once(host, port, path=path, timeout=timeout, t0=t0)
            attempts.append(attempt)
            if attempt.outcome == REFUSED and pause_after_refused > 0:
                await asyncio.sleep(pause_after_refused)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    attempts.sort(key=lambda a: a.start)
    return LegitResult(attempts=attempts, duration=time.monotonic() - t0)


# --- attackers -----------------------------------------------------------------------------------


@dataclass
class AttackResult:
    """What ``count`` attacker connections lived through.

    - ``connects``: TCP connections established (a connection waiting in the server's backlog
      counts: the kernel completed the handshake);
    - ``connect_failures``: failed connects by errno name (or ``timeout``);
    - ``lifetimes``: for each connection the server closed (EOF or reset), the seconds from
      connect to that close;
    - ``open_at_end``: connections still open when the attack ended (closed by the client);
    - ``open_samples``: ``(seconds since start, connections open)`` about every second;
    - ``statuses``: status codes the server answered on attack connections (408, 400, ...);
    - ``errors``: connections that ended on an unexpected client-side error, by name.
    """

    kind: str
    count: int
    connects: int = 0
    connect_failures: dict[str, int] = field(default_factory=dict)
    lifetimes: list[float] = field(default_factory=list)
    open_at_end: int = 0
    open_samples: list[tuple[float, int]] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0
    open_now: int = 0

    @property
    def closed_by_server(self) -> int:
        return len(self.lifetimes)

    def median_lifetime(self) -> float | None:
        """Median seconds until the server closed a connection (None if it closed none)."""
        return statistics.median(self.lifetimes) if self.lifetimes else None


class _Closed(Exception):
    """The server closed the attack connection (EOF or reset)."""


async def _watch(
    reader: asyncio.StreamReader, seconds: float, result: AttackResult, seen: bytearray
) -> None:
    """Read whatever the server sends for ``seconds``; raise :class:`_Closed` on EOF/reset."""
    if seconds <= 0:
        return
    try:
        async with asyncio.timeout(seconds):
            while True:
                data = await reader.read(65536)
                if not data:
                    raise _Closed
                if not seen and data.startswith(b"HTTP/"):
                    with contextlib.suppress(ValueError, IndexError):
                        status = int(data.split(b" ", 2)[1])
                        result.statuses[status] = result.statuses.get(status, 0) + 1
                seen += data[:16]
    except TimeoutError:
        return
    except (ConnectionError, OSError) as exc:
        raise _Closed from exc


async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
    try:
        writer.write(data)
        await writer.drain()
    except (ConnectionError, OSError) as exc:
        raise _Closed from exc


# A session drives one open connection until its deadline; it raises _Closed if the server
# closes it first.
Session = Callable[
    [asyncio.StreamReader, asyncio.StreamWriter, float, AttackResult], Awaitable[None]
]


async def _run_attack(
    kind: str,
    host: str,
    port: int,
    session: Session,
    *,
    count: int,
    duration: float,
    ramp: float,
    reconnect: bool,
    connect_timeout: float,
    max_rounds: int,
    stop: asyncio.Event | None,
) -> AttackResult:
    result = AttackResult(kind=kind, count=count)
    t0 = time.monotonic()
    deadline = t0 + duration

    async def slot(i: int) -> None:
        await asyncio.sleep(i / ramp if ramp > 0 else 0)
        for _ in range(max_rounds):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(min(connect_timeout, remaining)):
                    reader, writer = await asyncio.open_connection(host, port)
            except (OSError, TimeoutError) as exc:
                name = (
                    "timeout"
                    if isinstance(exc, TimeoutError)
                    else errno.errorcode.get(exc.errno or 0, "error")
                )
                result.connect_failures[name] = result.connect_failures.get(name, 0) + 1
                await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
                continue
            opened = time.monotonic()
            result.connects += 1
            result.open_now += 1
            try:
                await session(reader, writer, deadline, result)
            except asyncio.CancelledError:  # stopped early: still open, closed by us
                result.open_at_end += 1
                raise
            except _Closed:
                result.lifetimes.append(time.monotonic() - opened)
            except Exception as exc:
                name = type(exc).__name__
                result.errors[name] = result.errors.get(name, 0) + 1
            else:
                result.open_at_end += 1
                return
            finally:
                result.open_now -= 1
                writer.transport.abort()
            if not reconnect:
                return

    async def sampler() -> None:
        while True:
            result.open_samples.append((round(time.monotonic() - t0, 2), result.open_now))
            await asyncio.sleep(1.0)

    sampling = asyncio.create_task(sampler())
    slots = asyncio.gather(*(slot(i) for i in range(count)))
    stopper = asyncio.create_task(stop.wait()) if stop is not None else None
    try:
        if stopper is not None:
            waiters: list[asyncio.Future[Any]] = [slots, stopper]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not slots.done():
                slots.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await slots
        else:
            await slots
    finally:
        if stopper is not None:
            stopper.cancel()
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
        result.open_samples.append((round(time.monotonic() - t0, 2), result.open_now))
        result.duration = time.monotonic() - t0
    return result


async def idle_keepalive(
    host: str,
    port: int,
    *,
    count: int,
    duration: float,
    path: str = "/",
    ramp: float = 500.0,
    reconnect: bool = True,
    connect_timeout: float = 10.0,
    max_rounds: int = 1000,
    stop: asyncio.Event | None = None,
) -> AttackResult:
    """``count`` keep-alive connections: one GET answered, then silent until the server closes
    the connection (then, with ``reconnect``, a new one) or ``duration`` ends.

    Connections open at ``ramp`` per second; each slot opens at most ``max_rounds``. Setting
    ``stop`` ends the attack early (its open connections count in ``open_at_end``).
    """

    async def session(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: float,
        result: AttackResult,
    ) -> None:
        await _send(writer, _request(host, port, path, close=False))
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                status, _ = await read_response(reader)
        except TimeoutError:
            return
        except (asyncio.IncompleteReadError, ConnectionError, OSError, ValueError) as exc:
            raise _Closed from exc
        result.statuses[status] = result.statuses.get(status, 0) + 1
        await _watch(reader, deadline - time.monotonic(), result, bytearray(b"-"))

    return await _run_attack(
        "idle",
        host,
        port,
        session,
        count=count,
        duration=duration,
        ramp=ramp,
        reconnect=reconnect,
        connect_timeout=connect_timeout,
        max_rounds=max_rounds,
        stop=stop,
    )


async def slowloris(
    host: str,
    port: int,
    *,
    count: int,
    interval: float = 5.0,
    duration: float,
    path: str = "/",
    ramp: float = 500.0,
    reconnect: bool = True,
    connect_timeout: float = 10.0,
    max_rounds: int = 1000,
    max_lines: int = 60,
    stop: asyncio.Event | None = None,
) -> AttackResult:
    """``count`` connections that send a partial request head, then one more header line
    every ``interval`` seconds (at most ``max_lines``), never finishing it.

    A connection the server closes is reopened with ``reconnect``. See :func:`idle_keepalive`.
    """

    async def session(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: float,
        result: AttackResult,
    ) -> None:
        seen = bytearray()
        await _send(writer, f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
        for n in range(max_lines):
            await _watch(reader, min(interval, deadline - time.monotonic()), result, seen)
            if time.monotonic() >= deadline:
                return
            await _send(writer, f"X-Slow-{n}: {n}\r\n".encode())
        await _watch(reader, deadline - time.monotonic(), result, seen)

    return await _run_attack(
        "slowloris",
        host,
        port,
        session,
        count=count,
        duration=duration,
        ramp=ramp,
        reconnect=reconnect,
        connect_timeout=connect_timeout,
        max_rounds=max_rounds,
        stop=stop,
    )


async def slow_body(
    host: str,
    port: int,
    *,
    count: int,
    interval: float = 5.0,
    duration: float,
    path: str = "/upload",
    content_length: int = 1_000_000,
    chunk: int = 16,
    ramp: float = 500.0,
    reconnect: bool = True,
    connect_timeout: float = 10.0,
    max_rounds: int = 1000,
    stop: asyncio.Event | None = None,
) -> AttackResult:
    """``count`` connections that send a complete ``POST path`` head announcing
    ``content_length`` bytes, then ``chunk`` bytes of body every ``interval`` seconds.

    The body is never finished within any sane ``duration``. See :func:`idle_keepalive`.
    """
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {content_length}\r\n\r\n"
    ).encode()

    async def session(
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        deadline: float,
        result: AttackResult,
    ) -> None:
        seen = bytearray()
        await _send(writer, head)
        sent = 0
        while sent + chunk < content_length:
            await _watch(reader, min(interval, deadline - time.monotonic()), result, seen)
            if time.monotonic() >= deadline:
                return
            await _send(writer, b"x" * chunk)
            sent += chunk
        await _watch(reader, deadline - time.monotonic(), result, seen)

    return await _run_attack(
        "slowbody",
        host,
        port,
        session,
        count=count,
        duration=duration,
        ramp=ramp,
        reconnect=reconnect,
        connect_timeout=connect_timeout,
        max_rounds=max_rounds,
        stop=stop,
    )


ATTACKS = {"idle": idle_keepalive, "slowloris": slowloris, "slowbody": slow_body}


async def attack(
    kind: str,
    host: str,
    port: int,
    *,
    count: int,
    duration: float,
    interval: float = 5.0,
    stop: asyncio.Event | None = None,
) -> AttackResult:
    """One of :data:`ATTACKS` by name (``idle``, ``slowloris``, ``slowbody``)."""
    if kind == "idle":
        return await idle_keepalive(host, port, count=count, duration=duration, stop=stop)
    if kind == "slowloris":
        return await slowloris(
            host, port, count=count, interval=interval, duration=duration, stop=stop
        )
    if kind == "slowbody":
        return await slow_body(
            host, port, count=count, interval=interval, duration=duration, stop=stop
        )
    raise ValueError(f"unknown attack {kind!r}; one of {', '.join(ATTACKS)}")


# --- WebSocket churn ------------------------------------------------------------------------


@dataclass
class ChurnStats:
    """Counters of :func:`ws_churn`, updated while it runs.

    ``closed`` counts sockets whose closing handshake completed (either side started it),
    ``closed_by_server`` those the server closed on request; ``deflate`` how many upgrades
    negotiated permessage-deflate; ``failures`` failed sockets by exception name.
    """

    opened: int = 0
    closed: int = 0
    closed_by_server: int = 0
    deflate: int = 0
    messages: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


def _payload(n: int, size: int) -> str:
    # Text that compresses like typical JSON, different for every message.
    unit = f'{{"seq": {n}, "event": "update", "value": "{n:08x}"}}, '
    return (unit * (size // len(unit) + 1))[:size]


async def ws_churn(
    host: str,
    port: int,
    *,
    duration: float,
    concurrency: int = 16,
    messages: int = 3,
    deflate: bool = False,
    server_close_every: int = 5,
    payload_size: int = 256,
    path: str = "/ws",
    max_sockets: int = 1_000_000,
    open_timeout: float = 10.0,
    stats: ChurnStats | None = None,
    stop: asyncio.Event | None = None,
) -> ChurnStats:
    """WebSocket churn: ``concurrency`` loops of upgrade, ``messages`` echoed text messages,
    close; for ``duration`` seconds or ``max_sockets`` sockets in all.

    One socket in ``server_close_every`` (0: none) sends ``close`` instead of closing itself,
    and the server closes it. ``deflate`` offers permessage-deflate. Pass ``stats`` to read the
    counters while it runs; it is returned. Setting ``stop`` starts no new socket.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosedOK

    stats = stats if stats is not None else ChurnStats()
    t0 = time.monotonic()
    deadline = t0 + duration
    uri = f"ws://{host}:{port}{path}"
    started = 0

    async def one(n: int) -> None:
        async with connect(
            uri,
            compression="deflate" if deflate else None,
            open_timeout=open_timeout,
            close_timeout=5,
            ping_interval=None,
            max_size=2**20,
        ) as ws:
            stats.opened += 1
            if ws.protocol.extensions:
                stats.deflate += 1
            for m in range(messages):
                text = _payload(n * 1000 + m, payload_size)
                await ws.send(text)
                if await ws.recv() != text:
                    raise ValueError("echo mismatch")
                stats.messages += 1
            if server_close_every and n % server_close_every == 0:
                await ws.send("close")
                try:
                    await ws.recv()
                except ConnectionClosedOK:
                    stats.closed_by_server += 1
                else:
                    raise ValueError("server did not close")
        stats.closed += 1

    async def loop() -> None:
        nonlocal started
        while time.monotonic() < deadline and started < max_sockets:
            if stop is not None and stop.is_set():
                return
            started += 1
            try:
                async with asyncio.timeout(open_timeout + 10):
                    await one(started)
            except Exception as exc:
                name = type(exc).__name__
                stats.failures[name] = stats.failures.get(name, 0) + 1
                await asyncio.sleep(0.05)

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    stats.duration = time.monotonic() - t0
    return stats
