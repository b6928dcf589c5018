"""Fan-out load generator: WebSocket clients in one room, a publisher, and what arrives.

``python bench/fanout_load.py --port P --dialect berth|socketio [--clients 1000]
[--workers 3] [--duration 10] [--warmup 2] [--window 16] [--rate 20]``

One process holds every client and the publisher, so one clock (``time.monotonic_ns``) stamps
each message when it is due and each delivery when it is read. In order:

1. **Connect.** ``--clients`` WebSockets join the room (``bench/fanout_wire.py`` has both
   dialects). Each learns its worker's pid from its first message; a client that lands on a
   worker already holding ``ceil(clients / workers)`` sockets is closed and tried again, so the
   clients are spread evenly over the ``--workers`` workers.
2. **Probe.** One message every 100 ms until every client got one: every worker's subscription
   to the room is live.
3. **Saturation** (``--warmup`` seconds unmeasured, then ``--duration``): publish as fast as
   the pipeline takes it, at most ``--window`` messages in flight (published, not yet delivered
   to every client; one not complete within 3 s counts its missing deliveries as lost).
   **messages_per_sec = deliveries read / elapsed**, with the CPU the server's process group,
   Redis and this client used per second meanwhile.
4. **Latency** (``--duration`` seconds): publish at ``--rate`` messages per second, open loop;
   each message carries its scheduled time, so a late publish counts. Latency is read time
   minus that, for every delivery; after the schedule it waits up to 3 s for stragglers, then
   counts the deliveries that never came (**lost**) and any that came twice.

Publishes are ``POST /rooms/{room}`` requests on ``--publishers`` keep-alive connections, one
request in flight on each. It prints one line ``BENCH_RESULT {json}``. Traffic goes to
127.0.0.1 only; every socket is closed before it exits.

Standard library only (uvloop optional).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import cast

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen
from bench.fanout_wire import (
    DIALECTS,
    HOST,
    MESSAGE_BYTES,
    SIO_MESSAGE_PREFIX,
    SIO_MESSAGE_SUFFIX,
    Dialect,
    check_publish,
    encode_message,
    publish_head,
    reply_to,
    worker_of,
    ws_path,
)
from bench.http_wire import parse_response
from bench.procfs import group_cpu_seconds
from bench.rate_load import percentiles
from bench.ws_wire import (
    CLOSE_FRAME,
    client_frame,
    handshake_end,
    handshake_request,
    parse_frame_header,
)

COMPLETE_WITHIN_NS = 3_000_000_000  # a message not delivered everywhere by then: lost
PROBE_EVERY_S = 0.1
READY_TIMEOUT_S = 15.0  # one client's connect, upgrade and first message
SETUP_TIMEOUT_S = 120.0  # every client connected and probed
_SIO_START = len(SIO_MESSAGE_PREFIX)
_SIO_END = -len(SIO_MESSAGE_SUFFIX)


class ClientError(Exception):
    """A client that did not connect, upgrade or get its worker message."""


class Client(asyncio.Protocol):
    """One WebSocket in the room: the upgrade, the dialect's opening, then every published
    message handed to the :class:`FanoutLoad`."""

    def __init__(self, load: FanoutLoad, index: int, request: bytes) -> None:
        self.load = load
        self.index = index
        self.request = request
        self.dialect = load.dialect
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.upgraded = False
        self.worker: int | None = None
        self.probed = False
        self.closing = False
        self.ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def fail(self, error: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ClientError(error))
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            reason = f"{type(exc).__name__}: {exc}" if exc else "closed by the server"
            self.ready.set_exception(ClientError(f"connection lost ({reason})"))
        elif not self.closing:
            self.load.on_lost(self, exc)

    def close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_closing():
            if self.upgraded:
                self.transport.write(CLOSE_FRAME)
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        now = time.monotonic_ns()
        if self.worker is not None and not self.buf:
            # Joined, nothing pending: the common case of whole published messages.
            try:
                pos = self.published(data, now)
            except ValueError as exc:
                self.load.note_error("protocol", str(exc))
                self.fail(str(exc))
                return
            if pos == len(data):
                return
            data = data[pos:]
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
        load = self.load
        try:
            while (frame := parse_frame_header(buf, pos)) is not None:
                opcode, start, pos = frame
                if opcode == 0x1:
                    payload = bytes(buf[start:pos])
                    if self.worker is not None:
                        if self.dialect == "berth":
                            load.deliver(self, payload, now)
                            continue
                        if payload.startswith(SIO_MESSAGE_PREFIX):
                            load.deliver(self, payload[_SIO_START:_SIO_END], now)
                            continue
                    self.opening(payload)
                elif opcode == 0x8:  # close (RFC 6455 5.5.1): its status code, if any
                    code = int.from_bytes(buf[start : start + 2], "big") if pos > start else 1005
                    load.on_close_frame(self, code)
                elif opcode == 0x9 and self.transport is not None:  # ping: pong (RFC 6455 5.5.3)
                    self.transport.write(client_frame(bytes(buf[start:pos]), opcode=0xA))
        except ValueError as exc:
            load.note_error("protocol", str(exc))
            self.fail(str(exc))
            return
        del buf[:pos]

    def published(self, data: bytes, now: int) -> int:
        """Deliver the published messages at the start of ``data``, as long as they are
        whole, final, unmasked text frames under 126 bytes (RFC 6455 5.2), without copying
        ``data`` into the buffer; the position after them. Anything else is left to the
        general path of :meth:`data_received`."""
        load = self.load
        berth = self.dialect == "berth"
        size = len(data)
        pos = 0
        while pos + 2 <= size and data[pos] == 0x81 and data[pos + 1] < 126:
            start = pos + 2
            end = start + data[pos + 1]
            if end > size:
                break
            if berth:
                load.deliver(self, data[start:end], now)
            elif data.startswith(SIO_MESSAGE_PREFIX, start):
                load.deliver(self, data[start + _SIO_START : end + _SIO_END], now)
            else:
                break  # an Engine.IO ping: the general path answers it
            pos = end
        return pos

    def opening(self, payload: bytes) -> None:
        """A text frame that is not a published message: the dialect's opening (the worker
        message, Socket.IO's OPEN and CONNECT) or an Engine.IO ping."""
        answer = reply_to(self.dialect, payload)
        if answer is not None and self.transport is not None:
            self.transport.write(client_frame(answer))
        if self.worker is None:
            worker = worker_of(self.dialect, payload)
            if worker is not None:
                self.worker = worker
                if not self.ready.done():
                    self.ready.set_result(worker)


class Publisher(asyncio.Protocol):
    """One keep-alive connection for publish requests, one in flight at a time."""

    def __init__(self, load: FanoutLoad) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.seq: int | None = None  # the message whose publish is in flight

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.load.publisher_idle(self)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        try:
            while (parsed := parse_response(buf, pos)) is not None:
                status, pos = parsed
                seq, self.seq = self.seq, None
                self.load.published(seq, status)
                self.load.publisher_idle(self)
        except ValueError as exc:
            self.load.note_error("protocol", f"publish answer: {exc}")
            assert self.transport is not None
            self.transport.abort()
            return
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.publisher_lost(self, exc)


class FanoutLoad:
    """The clients, the publishers, the messages in flight and what was measured."""

    def __init__(
        self,
        port: int,
        dialect: Dialect,
        *,
        room: str,
        clients: int,
        workers: int,
        publishers: int,
        window: int,
        server_pgid: int | None,
        redis_pgid: int | None,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.port = port
        self.dialect = dialect
        self.room = room
        self.client_count = clients
        self.workers = workers
        self.publisher_count = publishers
        self.window = window
        self.server_pgid = server_pgid
        self.redis_pgid = redis_pgid
        self.head = publish_head(port, room, MESSAGE_BYTES)
        self.clients: list[Client] = []
        self.per_worker: Counter[int] = Counter()
        self.attempts = 0
        self.publishers: set[Publisher] = set()
        self.idle: deque[Publisher] = deque()
        self.queued: deque[tuple[int, bytes]] = deque()  # publishes waiting for a connection
        self.closing = False
        self.errors: dict[str, int] = dict.fromkeys(
            ("connect", "handshake", "closed", "publish", "protocol"), 0
        )
        self.first_error: str | None = None
        self.close_codes: Counter[int] = Counter()
        # Messages: seq 0, 1, 2, ... in publish order; the probe's are not tracked.
        self.next_seq = 0
        self.tracked_from = sys.maxsize  # seqs below this are probes (set once probed)
        self.remaining: dict[int, int] = {}  # tracked seq -> deliveries still expected
        self.deadlines: deque[tuple[int, int]] = deque()  # (seq, complete-by ns), in order
        self.slot: asyncio.Future[None] | None = None  # the publisher waits for a free slot
        self.delivered = 0  # every delivery read, probes included
        self.timed_out = 0  # deliveries still expected when their message's time was up
        self.expired: dict[int, int] = {}  # seq -> deliveries still missing since then
        self.late = 0  # deliveries that came after their message's time was up
        self.probed = 0  # clients that got a probe
        # The latency phase: seqs from latency_from; per message, which clients got it.
        self.latency_from: int | None = None
        self.got: list[bytearray] = []
        self.latencies: list[int] = []  # ns
        self.duplicates = 0
        self.publish_failed: set[int] = set()

    def note_error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if self.first_error is None:
            self.first_error = message

    # --- clients ------------------------------------------------------------------------

    async def open_client(self, index: int) -> Client:
        request = handshake_request(HOST, self.port, ws_path(self.dialect, self.room, f"u{index}"))
        _, client = await self.loop.create_connection(
            lambda: Client(self, index, request), HOST, self.port
        )
        try:
            await asyncio.wait_for(asyncio.shield(client.ready), READY_TIMEOUT_S)
        except BaseException:
            client.close()
            raise
        return client

    async def connect_all(self) -> None:
        """Every client connected, spread evenly: at most ``ceil(clients / workers)`` on a
        worker (a client that lands on a full worker is closed and opened again)."""
        quota = math.ceil(self.client_count / self.workers)
        limit = max(self.client_count * (self.workers + 10), 2_000)
        gate = asyncio.Semaphore(64)  # connections being opened at once

        async def one(index: int) -> None:
            while True:
                self.attempts += 1
                if self.attempts > limit:
                    raise RuntimeError(
                        f"{self.attempts - 1} connection attempts for {self.client_count} "
                        f"clients: the workers do not take them evenly "
                        f"({dict(self.per_worker)}; first error: {self.first_error})"
                    )
                async with gate:
                    try:
                        client = await self.open_client(index)
                    except OSError as exc:
                        self.note_error("connect", f"connect: {type(exc).__name__}: {exc}")
                        await asyncio.sleep(0.05)
                        continue
                    except (ClientError, TimeoutError) as exc:
                        self.note_error("handshake", f"client {index}: {exc!r}")
                        await asyncio.sleep(0.05)
                        continue
                assert client.worker is not None
                if self.per_worker[client.worker] < quota:
                    self.per_worker[client.worker] += 1
                    self.clients.append(client)
                    return
                client.close()
                # Landed on a full worker: give the others a moment to reach accept(), or a
                # busy machine keeps handing every retry to the one worker that is awake.
                await asyncio.sleep(0.01)

        await asyncio.gather(*(one(index) for index in range(self.client_count)))
        if len(self.per_worker) != self.workers:
            raise RuntimeError(
                f"the clients reached {len(self.per_worker)} workers, expected {self.workers}: "
                f"{dict(self.per_worker)}"
            )

    def on_lost(self, client: Client, exc: Exception | None) -> None:
        if self.closing:
            return
        reason = f"{type(exc).__name__}: {exc}" if exc else "closed by the server"
        self.note_error("closed", f"client {client.index} lost ({reason})")

    def on_close_frame(self, client: Client, code: int) -> None:
        self.close_codes[code] += 1

    def deliver(self, client: Client, text: bytes, now: int) -> None:
        """One published message read by ``client`` at ``now`` (ns)."""
        self.delivered += 1
        seq_end = text.index(b" ")
        seq = int(text[:seq_end])
        if seq < self.tracked_from:
            if not client.probed:
                client.probed = True
                self.probed += 1
            return
        latency_from = self.latency_from
        if latency_from is not None and seq >= latency_from:
            # A repeat must not count towards the message's completion either.
            row = self.got[seq - latency_from]
            if row[client.index]:
                self.duplicates += 1
                return
            row[client.index] = 1
            stamp = int(text[seq_end + 1 : text.index(b" ", seq_end + 1)])
            self.latencies.append(now - stamp)
        remaining = self.remaining.get(seq)
        if remaining is not None:
            if remaining > 1:
                self.remaining[seq] = remaining - 1
            else:
                del self.remaining[seq]
                self.complete()
        elif self.expired.get(seq):
            self.expired[seq] -= 1  # late, not lost
            self.late += 1

    # --- publishing ---------------------------------------------------------------------

    async def open_publishers(self) -> None:
        for _ in range(self.publisher_count):
            _, publisher = await self.loop.create_connection(
                lambda: Publisher(self), HOST, self.port
            )
            self.publishers.add(publisher)

    def publisher_idle(self, publisher: Publisher) -> None:
        if self.queued:
            self._send(publisher, *self.queued.popleft())
        else:
            self.idle.append(publisher)

    def publisher_lost(self, publisher: Publisher, exc: Exception | None) -> None:
        self.publishers.discard(publisher)
        with contextlib.suppress(ValueError):
            self.idle.remove(publisher)
        if self.closing:
            return
        if publisher.seq is not None:  # an idle one the server let go is simply replaced
            self.note_error("publish", f"publish connection lost ({exc or 'closed'})")
            self.published(publisher.seq, 0)
        self.loop.create_task(self._reopen_publisher())

    async def _reopen_publisher(self) -> None:
        with contextlib.suppress(OSError):
            _, publisher = await self.loop.create_connection(
                lambda: Publisher(self), HOST, self.port
            )
            self.publishers.add(publisher)

    def _send(self, publisher: Publisher, seq: int, body: bytes) -> None:
        publisher.seq = seq
        assert publisher.transport is not None
        publisher.transport.write(self.head + body)

    def publish(self, stamp_ns: int, *, tracked: bool) -> int:
        """Publish the next message, stamped ``stamp_ns``; a tracked one is in flight until
        every client got it or its time is up."""
        seq = self.next_seq
        self.next_seq += 1
        if tracked:
            self.remaining[seq] = len(self.clients)
            self.deadlines.append((seq, time.monotonic_ns() + COMPLETE_WITHIN_NS))
        body = encode_message(seq, stamp_ns)
        if self.idle:
            self._send(self.idle.popleft(), seq, body)
        else:
            self.queued.append((seq, body))
        return seq

    def published(self, seq: int | None, status: int) -> None:
        if seq is None or status == 200:
            return
        self.note_error("publish", f"publish of message {seq}: status {status}")
        self.publish_failed.add(seq)
        if self.remaining.pop(seq, None) is not None:
            self.complete()

    def complete(self) -> None:
        slot = self.slot
        if slot is not None and not slot.done():
            slot.set_result(None)

    def expire(self) -> None:
        """Messages whose time is up are complete; their missing deliveries are lost."""
        now = time.monotonic_ns()
        deadlines = self.deadlines
        while deadlines and deadlines[0][1] <= now:
            seq, _ = deadlines.popleft()
            missing = self.remaining.pop(seq, None)
            if missing is not None:
                self.timed_out += missing
                self.expired[seq] = missing
                self.complete()

    async def _expire_often(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.expire()

    async def probe(self) -> None:
        """Publish untracked messages until every client got one."""
        deadline = time.monotonic() + SETUP_TIMEOUT_S
        while self.probed < len(self.clients):
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{len(self.clients) - self.probed} of {len(self.clients)} clients got no "
                    f"message in {SETUP_TIMEOUT_S:g} s of publishing"
                )
            self.publish(time.monotonic_ns(), tracked=False)
            await asyncio.sleep(PROBE_EVERY_S)
        self.tracked_from = self.next_seq

    async def saturate(self, seconds: float) -> int:
        """Publish with at most ``window`` messages in flight for ``seconds``; the number of
        messages published."""
        end = time.monotonic() + seconds
        published = 0
        while (left := end - time.monotonic()) > 0:
            if len(self.remaining) >= self.window:
                self.slot = self.loop.create_future()
                await asyncio.wait((self.slot,), timeout=left)
                continue
            self.publish(time.monotonic_ns(), tracked=True)
            published += 1
            if published % self.window == 0:
                await asyncio.sleep(0)  # let the responses and deliveries in
        return published

    async def drain(self, timeout: float) -> None:
        """Until every tracked message is complete (delivered or timed out)."""
        end = time.monotonic() + timeout
        while self.remaining and (left := end - time.monotonic()) > 0:
            self.slot = self.loop.create_future()
            await asyncio.wait((self.slot,), timeout=left)

    async def at_rate(self, rate: float, seconds: float) -> list[float]:
        """Publish ``rate`` messages per second for ``seconds``, each stamped with its due
        time; how late each publish left (s)."""
        count = max(1, round(rate * seconds))
        self.latency_from = self.next_seq
        self.got = [bytearray(len(self.clients)) for _ in range(count)]
        start = time.monotonic_ns() + 10_000_000
        lags: list[float] = []
        for i in range(count):
            due = start + round(i * 1e9 / rate)
            wait = (due - time.monotonic_ns()) / 1e9
            if wait > 0:
                await asyncio.sleep(wait)
            lags.append(max(0, time.monotonic_ns() - due) / 1e9)
            self.publish(due, tracked=True)
        return lags

    def latency_deliveries(self) -> dict[str, object]:
        """What the latency phase delivered: every client should have got every message
        whose publish succeeded; ``lost`` counts the deliveries that never came."""
        latency_from = self.latency_from
        assert latency_from is not None
        count = len(self.got)
        published_ok = [i for i in range(count) if latency_from + i not in self.publish_failed]
        received = sum(sum(self.got[i]) for i in published_ok)
        expected = len(published_ok) * len(self.clients)
        return {
            "published": count,
            "publish_failed": count - len(published_ok),
            "expected": expected,
            "received": received,
            "lost": expected - received,
            "duplicates": self.duplicates,
            "latency_ms": percentiles([ns / 1e9 for ns in self.latencies]),
        }

    # --- the run ------------------------------------------------------------------------

    def cpu_now(self) -> tuple[float, float, float, float]:
        """(wall s, server group CPU s, Redis CPU s, this process's CPU s)."""
        return (
            time.monotonic(),
            group_cpu_seconds(self.server_pgid) if self.server_pgid else 0.0,
            group_cpu_seconds(self.redis_pgid) if self.redis_pgid else 0.0,
            time.process_time(),
        )

    @staticmethod
    def cpu_between(
        before: tuple[float, float, float, float], after: tuple[float, float, float, float]
    ) -> dict[str, float]:
        wall = after[0] - before[0] or 1e-9
        return {
            name: round((after[i] - before[i]) / wall, 3)
            for i, name in ((1, "server"), (2, "redis"), (3, "client"))
        }

    async def run(self, *, warmup: float, duration: float, rate: float) -> dict[str, object]:
        expirer = self.loop.create_task(self._expire_often())
        try:
            started = time.monotonic()
            await asyncio.wait_for(self.connect_all(), SETUP_TIMEOUT_S)
            connect_s = time.monotonic() - started
            await self.open_publishers()
            await self.probe()
            # Saturation: warm-up, then measured.
            if warmup > 0:
                await self.saturate(warmup)
                await self.drain(5.0)
            saturation_from = self.next_seq
            before, delivered_before = self.cpu_now(), self.delivered
            published = await self.saturate(duration)
            after, delivered = self.cpu_now(), self.delivered - delivered_before
            saturation_to = self.next_seq
            elapsed = after[0] - before[0]
            await self.drain(5.0)
            saturation_cpu = self.cpu_between(before, after)
            # Latency at a fixed rate.
            clients_at_start = len(self.clients) - self.errors["closed"]
            before = self.cpu_now()
            lags = await self.at_rate(rate, duration)
            latency_cpu = self.cpu_between(before, self.cpu_now())
            await self.drain(COMPLETE_WITHIN_NS / 1e9 + 0.5)
            self.expire()
        finally:
            expirer.cancel()
            self.closing = True
            for client in self.clients:
                client.close()
            for publisher in list(self.publishers):
                if publisher.transport is not None:
                    publisher.transport.close()
            await asyncio.sleep(0.1)  # let the transports flush the close frames and close
        server_cpu = saturation_cpu["server"] + saturation_cpu["redis"]
        return {
            "dialect": self.dialect,
            "clients": len(self.clients),
            "clients_at_latency_start": clients_at_start,
            "workers": {str(pid): n for pid, n in sorted(self.per_worker.items())},
            "connect_attempts": self.attempts,
            "connect_s": round(connect_s, 2),
            "window": self.window,
            "publishers": self.publisher_count,
            "message_bytes": MESSAGE_BYTES,
            "saturation": {
                "duration_s": round(elapsed, 3),
                "published": published,
                "publishes_per_sec": round(published / elapsed, 1),
                "deliveries": delivered,
                "messages_per_sec": round(delivered / elapsed, 1),
                # Missing at the end of the run; late: came, but after 3 s.
                "lost": sum(
                    self.expired.get(seq, 0) for seq in range(saturation_from, saturation_to)
                ),
                "late": self.late,
                "cpu": saturation_cpu,
                # Server group + Redis CPU time per delivery: the servers' cost, whoever
                # limited the rate.
                "server_us_per_delivery": round(server_cpu * elapsed / delivered * 1e6, 3)
                if delivered
                else None,
                "client_us_per_delivery": round(
                    saturation_cpu["client"] * elapsed / delivered * 1e6, 3
                )
                if delivered
                else None,
            },
            "latency": {
                "rate": rate,
                "duration_s": duration,
                **self.latency_deliveries(),
                "dispatch_lag_ms": {
                    k: v for k, v in percentiles(lags).items() if k in ("p50", "p99", "max")
                },
                "cpu": latency_cpu,
            },
            "close_codes": {str(code): n for code, n in sorted(self.close_codes.items())},
            "errors": self.errors,
            "first_error": self.first_error,
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/fanout_load.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, required=True, help=f"server port on {HOST}")
    parser.add_argument("--dialect", choices=DIALECTS, required=True)
    parser.add_argument("--room", default="bench")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3, help="server workers to spread over")
    parser.add_argument("--publishers", type=int, default=4, help="publish connections")
    parser.add_argument("--window", type=int, default=16, help="messages in flight (saturation)")
    parser.add_argument("--rate", type=float, default=20.0, help="messages/s (latency phase)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of each phase")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured saturation first")
    parser.add_argument("--pgid", type=int, default=None, help="the server's process group")
    parser.add_argument("--redis-pgid", type=int, default=None, help="redis-server's group")
    parser.add_argument("--no-check", action="store_true", help="skip the one-publish check")
    args = parser.parse_args(argv)
    counts = (args.clients, args.workers, args.publishers, args.window)
    if min(counts) < 1 or args.rate <= 0 or args.duration <= 0 or args.warmup < 0:
        parser.error("--clients, --workers, --publishers, --window, --rate, --duration: > 0")
    if not args.no_check:
        problem = check_publish(args.port, args.dialect, args.room)
        if problem:
            print(f"fanout_load: check failed: {problem}", file=sys.stderr)
            return 1

    async def go() -> dict[str, object]:
        load = FanoutLoad(
            args.port,
            args.dialect,
            room=args.room,
            clients=args.clients,
            workers=args.workers,
            publishers=args.publishers,
            window=args.window,
            server_pgid=args.pgid,
            redis_pgid=args.redis_pgid,
        )
        return await load.run(warmup=args.warmup, duration=args.duration, rate=args.rate)

    gc.disable()  # no collector pauses in the client's figures (it makes no cycles to speak of)
    return loadgen.report("fanout_load", go(), (RuntimeError, OSError, TimeoutError))


if __name__ == "__main__":
    sys.exit(main())
