"""Fixed-rate (open-loop) HTTP load generator: latency percentiles at a given request rate.

``python bench/rate_load.py --port P [--path /] [--rate 5000] [--connections 32]
[--duration 10] [--warmup 2]``

wrk measures throughput with every connection as busy as it can be (closed loop); Debian's wrk
has no fixed-rate mode (wrk2's ``-R``). This tool sends requests on a fixed schedule instead:
request ``i`` is due at ``start + i / rate``, whatever happened to the requests before it.

* ``--connections`` keep-alive connections to 127.0.0.1, one request in flight on each (no
  pipelining). A due request goes out on an idle connection (the one idle longest); when every
  connection is busy it waits in a queue and goes out on the first one that frees up.
* Latency is measured from the request's *scheduled* time to the end of its response, so the
  wait for a free connection and any lateness of the client itself count (no coordinated
  omission). ``dispatch_lag_ms`` shows how late the client put requests on the wire when a
  connection was free: the client's own share of the figures.
* Requests due within 2 ms are waited for by spinning the event loop (a poll with a zero
  timeout per pass) instead of sleeping on its millisecond timers, so the client costs a whole
  core while it runs. It has one (pinned to the client CPU): its CPU use says nothing here;
  the send rate does.
* Responses are framed by Content-Length or chunked transfer-encoding; status codes other than
  ``--expect-status`` count as errors, and so do dropped connections (re-opened at once) and
  requests not answered within ``--drain`` seconds after the schedule ends.
* Requests scheduled during the first ``--warmup`` seconds are sent but not counted.

It prints one line ``BENCH_RESULT {json}``: ``target_rate``, ``send_rate`` (measured requests
put on the wire within the measured window, per second), ``achieved_rate`` (responses to them
per second), ``latency_ms`` (p50 p90 p99 p999 max mean), ``errors``, ``waited`` (requests that
found every connection busy), ``dispatch_lag_ms`` and ``fell_behind`` (send rate under 98% of
the target: the numbers are not latencies at that rate).

Standard library only (uvloop optional); the HTTP framing is in ``bench/http_wire.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import sys
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import cast

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import loadgen
from bench.http_wire import HOST, build_request, check, parse_response

SPIN_WITHIN = 0.002  # seconds: a request due sooner than this is waited for by spinning
FELL_BEHIND = 0.98  # send rate / target rate under which a run is flagged
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p99": 0.99, "p999": 0.999}

clock = time.perf_counter  # nanosecond clock; the loop's own (uvloop) moves in milliseconds


def percentiles(values: list[float]) -> dict[str, float]:
    """Nearest-rank percentiles, max and mean of seconds, in milliseconds (0 when empty)."""
    if not values:
        return {**dict.fromkeys(PERCENTILES, 0.0), "max": 0.0, "mean": 0.0}
    ordered = sorted(values)
    count = len(ordered)
    out = {
        name: round(ordered[max(0, math.ceil(q * count) - 1)] * 1000, 3)
        for name, q in PERCENTILES.items()
    }
    out["max"] = round(ordered[-1] * 1000, 3)
    out["mean"] = round(sum(ordered) / count * 1000, 3)
    return out


class Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight, responses framed."""

    def __init__(self, load: RateLoad) -> None:
        self.load = load
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.scheduled: float | None = None  # the in-flight request's scheduled time

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.load.on_idle(self, clock())

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        try:
            while (parsed := parse_response(buf, pos)) is not None:
                status, pos = parsed
                self.load.on_response(self, status)
        except ValueError as exc:
            self.load.note_error("protocol", str(exc))
            assert self.transport is not None
            self.transport.abort()
            return
        del buf[:pos]

    def connection_lost(self, exc: Exception | None) -> None:
        self.load.on_lost(self, exc)


class RateLoad:
    """The schedule, the connections, and what was measured."""

    def __init__(
        self,
        port: int,
        request: bytes,
        *,
        rate: float,
        connections: int,
        warmup: float,
        duration: float,
        expect_status: int,
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.port = port
        self.request = request
        self.rate = rate
        self.connections = connections
        self.warmup = warmup
        self.duration = duration
        self.expect_status = expect_status
        self.idle: deque[Connection] = deque()
        self.pending: deque[float] = deque()  # scheduled times of requests waiting for a conn
        self.open: set[Connection] = set()
        self.closing = False
        self.errors: dict[str, int] = {"connect": 0, "status": 0, "lost": 0, "protocol": 0}
        self.first_error: str | None = None
        self.latencies: list[float] = []  # seconds, measured requests only
        self.lags: list[float] = []  # seconds from scheduled to written, when a conn was idle
        self.waited = 0  # measured requests that found every connection busy
        self.sent_in_window = 0  # measured requests written before the window ended
        self.outstanding = 0  # measured requests not answered (nor lost) yet
        self.issued = 0
        self.total = 0  # requests in the whole schedule, warm-up included
        self.start = self.window_start = self.window_end = 0.0
        self.finished: asyncio.Future[None] = self.loop.create_future()

    def measured(self, scheduled: float) -> bool:
        return self.window_start <= scheduled < self.window_end

    def note_error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if self.first_error is None:
            self.first_error = message

    # --- connections --------------------------------------------------------------------

    async def connect(self) -> None:
        try:
            _, conn = await self.loop.create_connection(lambda: Connection(self), HOST, self.port)
        except OSError as exc:
            self.note_error("connect", f"connect: {type(exc).__name__}: {exc}")
            return
        self.open.add(conn)

    def on_lost(self, conn: Connection, exc: Exception | None) -> None:
        self.open.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if self.closing:
            return
        reason = f"{type(exc).__name__}: {exc}" if exc else "closed by the server"
        self.note_error("lost", f"connection lost ({reason})")
        if conn.scheduled is not None and self.measured(conn.scheduled):
            self.outstanding -= 1  # its request is lost with it: counted as an error only
            self._maybe_finished()
        conn.scheduled = None
        self.loop.create_task(self.connect())  # keep the number of connections

    # --- requests -----------------------------------------------------------------------

    def send(self, conn: Connection, scheduled: float, now: float) -> None:
        conn.scheduled = scheduled
        assert conn.transport is not None
        conn.transport.write(self.request)
        if self.measured(scheduled) and now < self.window_end:
            self.sent_in_window += 1

    def on_response(self, conn: Connection, status: int) -> None:
        now = clock()
        scheduled = conn.scheduled
        if scheduled is None:
            self.note_error("protocol", f"response {status} without a request")
            return
        conn.scheduled = None
        if self.measured(scheduled):
            self.outstanding -= 1
            if status == self.expect_status:
                self.latencies.append(now - scheduled)
            else:
                self.note_error("status", f"status {status}, expected {self.expect_status}")
        self.on_idle(conn, now)
        self._maybe_finished()

    def on_idle(self, conn: Connection, now: float) -> None:
        """A connection is free: the oldest waiting request goes out on it, if any."""
        if self.pending:
            self.send(conn, self.pending.popleft(), now)
        else:
            self.idle.append(conn)

    def _maybe_finished(self) -> None:
        done = self.issued_all and self.outstanding <= 0 and not self.pending
        if done and not self.finished.done():
            self.finished.set_result(None)

    @property
    def issued_all(self) -> bool:
        return self.issued >= self.total

    def tick(self) -> None:
        """Issue every request due by now; come back when the next one is due."""
        now = clock()
        start, rate, total = self.start, self.rate, self.total
        issued = self.issued
        due = start + issued / rate
        while due <= now and issued < total:
            measured = self.measured(due)
            if measured:
                self.outstanding += 1
            if self.idle:
                self.send(self.idle.popleft(), due, now)
                if measured:
                    self.lags.append(clock() - due)
            else:
                self.pending.append(due)
                if measured:
                    self.waited += 1
            issued += 1
            due = start + issued / rate
        self.issued = issued
        if issued >= total:
            self._maybe_finished()
            return
        wait = due - clock()
        if wait > SPIN_WITHIN:
            self.loop.call_later(wait - SPIN_WITHIN / 2, self.tick)
        else:
            self.loop.call_soon(self.tick)  # the next pass polls the sockets with no timeout

    async def run(self, drain: float) -> dict[str, object]:
        await asyncio.gather(*(self.connect() for _ in range(self.connections)))
        if not self.open:
            raise RuntimeError(f"no connection opened: {self.first_error}")
        self.start = clock() + 0.01
        self.window_start = self.start + self.warmup
        self.window_end = self.window_start + self.duration
        self.total = math.ceil((self.warmup + self.duration) * self.rate)
        self.loop.call_soon(self.tick)
        with contextlib.suppress(TimeoutError):  # requests still unanswered: counted below
            await asyncio.wait_for(
                asyncio.shield(self.finished), self.warmup + self.duration + drain
            )
        unanswered = self.outstanding
        self.closing = True
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.close()
        await asyncio.sleep(0.05)
        sent_rate = self.sent_in_window / self.duration
        return {
            "requests": len(self.latencies),
            "duration_s": self.duration,
            "connections": self.connections,
            "target_rate": self.rate,
            "send_rate": round(sent_rate, 1),
            "achieved_rate": round(len(self.latencies) / self.duration, 1),
            "fell_behind": sent_rate < FELL_BEHIND * self.rate,
            "latency_ms": percentiles(self.latencies),
            "dispatch_lag_ms": {
                k: v for k, v in percentiles(self.lags).items() if k in ("p50", "p99", "max")
            }
            if self.lags
            else {},  # every request waited for a connection
            "waited": self.waited,
            "errors": {**self.errors, "timeout": max(0, unanswered)},
            "first_error": self.first_error,
            "cpu_s": round(time.process_time(), 3),
        }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/rate_load.py",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--port", type=int, required=True, help=f"server port on {HOST}")
    parser.add_argument("--path", default="/")
    parser.add_argument("--method", default="GET")
    parser.add_argument("--rate", type=float, default=5000.0, help="requests per second")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds sent, not measured")
    parser.add_argument(
        "--drain", type=float, default=5.0, help="seconds to wait for answers after the schedule"
    )
    parser.add_argument("--expect-status", type=int, default=200)
    args = parser.parse_args(argv)
    if args.connections < 1 or args.rate <= 0 or args.duration <= 0 or args.warmup < 0:
        parser.error("--connections, --rate and --duration must be positive")
    problem = check(args.port, args.method, args.path, args.expect_status)
    if problem:
        print(f"rate_load: check failed: {problem}", file=sys.stderr)
        return 1
    request = build_request(args.method, args.path, args.port)

    async def go() -> dict[str, object]:
        load = RateLoad(
            args.port,
            request,
            rate=args.rate,
            connections=args.connections,
            warmup=args.warmup,
            duration=args.duration,
            expect_status=args.expect_status,
        )
        return await load.run(args.drain)

    gc.disable()  # no collector pauses in the client's figures (it makes no cycles to speak of)
    return loadgen.report("rate_load", go())


if __name__ == "__main__":
    sys.exit(main())
