"""What one measured run gives, one type per load tool, each built from that tool's result line.

- :class:`ThroughputResult`: a wrk run (requests per second, latency under full load);
- :class:`WebSocketEchoResult`: a ``bench/ws_load.py`` run (echoed messages per second);
- :class:`LatencyResult`: a ``bench/rate_load.py`` run (latency at a fixed request rate);
- :class:`MemoryResult`: a ``bench/memory.py`` run (worker RSS per idle connection);
- :class:`FanoutResult`: a ``bench/fanout_load.py`` run (deliveries per second to a room's
  WebSockets at saturation, delivery latency and losses at a fixed publish rate);
- :class:`InstructionsResult`: a server under callgrind counted over a fixed number of
  requests (``bench/runners/instructions.py``): instructions per request.

Every one but the instruction count carries the :class:`CpuUsage` of its run (callgrind's
figure is the same whoever else uses the CPU), and every one names its figures for the summary
and the comparisons with :meth:`figure` (``requests_per_sec``, ``messages_per_sec``,
``achieved_rate``, ``kib_per_conn``, ``instructions_per_request``, the latency percentiles
``p50`` ... ``p999``, ``lost``). In the results JSON a run is ``dataclasses.asdict`` of its
result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CpuUsage:
    """CPU seconds used per second of a load tool's run (1.0 = one core)."""

    server: float | None  # the server's process group (None: not known)
    client: float  # the load tool: near 1.0 means the client may be the bottleneck
    server_cpus_busy: float | None  # the server CPUs' busy time, anyone's (None: not pinned)

    @property
    def foreign(self) -> float | None:
        """What other processes used of the server CPUs, when both figures are known."""
        if self.server_cpus_busy is None or self.server is None:
            return None
        return self.server_cpus_busy - self.server


@dataclass(frozen=True)
class ThroughputResult:
    """One wrk run: as many requests as the server answers on wrk's connections."""

    requests: int
    duration_s: float
    requests_per_sec: float
    bytes_per_response: float  # a server that sends fewer headers stands out
    errors: dict[str, int]  # connect, read, write, status (not 2xx/3xx), timeout
    latency_ms: dict[str, float]  # mean, stdev, max, p50, p90, p99, p999
    cpu: CpuUsage

    @classmethod
    def from_output(cls, data: Mapping[str, Any], cpu: CpuUsage) -> ThroughputResult:
        """From the JSON line the wrk script's ``done()`` prints."""
        requests = int(data["requests"])
        duration_s = data["duration_us"] / 1e6
        return cls(
            requests=requests,
            duration_s=round(duration_s, 3),
            requests_per_sec=round(requests / duration_s, 1) if duration_s else 0.0,
            bytes_per_response=round(data["bytes"] / requests, 1) if requests else 0.0,
            errors={k: int(v) for k, v in data["errors"].items()},
            latency_ms={k: round(v / 1000, 3) for k, v in data["latency_us"].items()},
            cpu=cpu,
        )

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def figure(self, name: str) -> float | None:
        if name == "requests_per_sec":
            return self.requests_per_sec
        return self.latency_ms.get(name)


@dataclass(frozen=True)
class WebSocketEchoResult:
    """One ``bench/ws_load.py`` run: echoes received on a window of messages in flight. No
    latency: with a window, per-message latency means nothing."""

    messages: int
    duration_s: float
    messages_per_sec: float
    frame_bytes: int  # one echo's server frame on the wire
    errors: dict[str, int]  # connect, handshake, lost (connections that failed)
    first_error: str | None
    cpu: CpuUsage

    @classmethod
    def from_output(
        cls, data: Mapping[str, Any], cpu: CpuUsage, *, frame_bytes: int
    ) -> WebSocketEchoResult:
        return cls(
            messages=int(data["messages"]),
            duration_s=float(data["duration_s"]),
            messages_per_sec=float(data["messages_per_sec"]),
            frame_bytes=frame_bytes,
            errors={k: int(v) for k, v in data["errors"].items()},
            first_error=data["first_error"],
            cpu=cpu,
        )

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def figure(self, name: str) -> float | None:
        return self.messages_per_sec if name == "messages_per_sec" else None


@dataclass(frozen=True)
class LatencyResult:
    """One ``bench/rate_load.py`` run: latency from each request's scheduled send time at a
    fixed rate. ``cpu.client`` is near 1.0 by design: rate_load spins between requests."""

    requests: int  # answered, of the requests scheduled in the measured window
    duration_s: float
    target_rate: float
    send_rate: float  # measured requests put on the wire within the window, per second
    achieved_rate: float  # responses to them per second
    fell_behind: bool  # send rate under 98% of the target: not latencies at that rate
    waited: int  # requests that found every connection busy
    latency_ms: dict[str, float]  # p50, p90, p99, p999, max, mean
    dispatch_lag_ms: dict[str, float]  # the client's own lateness: p50, p99, max
    connections: int
    errors: dict[str, int]  # connect, status, lost, protocol, timeout
    first_error: str | None
    cpu: CpuUsage

    @classmethod
    def from_output(cls, data: Mapping[str, Any], cpu: CpuUsage) -> LatencyResult:
        return cls(
            requests=int(data["requests"]),
            duration_s=float(data["duration_s"]),
            target_rate=float(data["target_rate"]),
            send_rate=float(data["send_rate"]),
            achieved_rate=float(data["achieved_rate"]),
            fell_behind=bool(data["fell_behind"]),
            waited=int(data["waited"]),
            latency_ms={k: float(v) for k, v in data["latency_ms"].items()},
            dispatch_lag_ms={k: float(v) for k, v in data["dispatch_lag_ms"].items()},
            connections=int(data["connections"]),
            errors={k: int(v) for k, v in data["errors"].items()},
            first_error=data["first_error"],
            cpu=cpu,
        )

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def figure(self, name: str) -> float | None:
        if name == "achieved_rate":
            return self.achieved_rate
        return self.latency_ms.get(name)


@dataclass(frozen=True)
class MemoryResult:
    """One ``bench/memory.py`` run on a fresh server: its worker's RSS before and while it
    holds ``held`` idle connections; ``kib_per_conn`` is the figure."""

    kib_per_conn: float  # (rss_after_kib - rss_before_kib) / open_at_measure
    rss_before_kib: int
    rss_after_kib: int
    connections: int  # asked for
    held: int  # opened and set up
    open_at_measure: int
    open_at_end: int
    probed: int
    probe_ok: int
    worker_pid: int
    group_rss_before_kib: int
    group_rss_after_kib: int
    settled: bool  # False: RSS still growing when read
    settle_s: float
    open_s: float
    measured_after_s: float
    held_s: float
    # not_opened (after retries), closed_by_server (before the end), probe (unanswered)
    errors: dict[str, int]
    setup_retries: int
    first_error: str | None
    server_argv: list[str]  # the fresh server's command line
    cpu: CpuUsage

    @classmethod
    def from_output(
        cls, data: Mapping[str, Any], cpu: CpuUsage, *, server_argv: list[str]
    ) -> MemoryResult:
        errors = data["errors"]
        return cls(
            kib_per_conn=float(data["kib_per_conn"]),
            rss_before_kib=int(data["rss_before_kib"]),
            rss_after_kib=int(data["rss_after_kib"]),
            connections=int(data["connections"]),
            held=int(data["held"]),
            open_at_measure=int(data["open_at_measure"]),
            open_at_end=int(data["open_at_end"]),
            probed=int(data["probed"]),
            probe_ok=int(data["probe_ok"]),
            worker_pid=int(data["worker_pid"]),
            group_rss_before_kib=int(data["group_rss_before_kib"]),
            group_rss_after_kib=int(data["group_rss_after_kib"]),
            settled=bool(data["settled"]),
            settle_s=float(data["settle_s"]),
            open_s=float(data["open_s"]),
            measured_after_s=float(data["measured_after_s"]),
            held_s=float(data["held_s"]),
            errors={
                "not_opened": int(data["connections"]) - int(data["held"]),
                "closed_by_server": int(errors["closed_by_server"]),
                "probe": int(errors["probe"]),
            },
            setup_retries=int(errors["retried"]),
            first_error=data["first_error"],
            server_argv=server_argv,
            cpu=cpu,
        )

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def figure(self, name: str) -> float | None:
        return self.kib_per_conn if name == "kib_per_conn" else None


@dataclass(frozen=True)
class FanoutResult:
    """One ``bench/fanout_load.py`` run: ``clients`` WebSockets in one room over the
    server's workers (``workers``: pid -> sockets).

    Saturation: ``messages_per_sec`` deliveries read per second with ``window`` messages in
    flight; ``saturation_cpu`` is what the server's process group, Redis and the client used
    per second meanwhile, and ``server_us_per_delivery`` the server's and Redis's CPU time per
    delivery (their cost, whoever set the rate). Latency phase: ``rate`` messages per second,
    ``latency_ms`` from each message's due time to its read, ``lost`` deliveries that never
    came (every client should get every message), ``duplicates``.
    """

    clients: int
    workers: dict[str, int]
    messages_per_sec: float
    publishes_per_sec: float
    saturation_lost: int  # deliveries that never came, of messages published at saturation
    saturation_late: int  # deliveries that came more than 3 s after their publish
    saturation_cpu: dict[str, float]  # server, redis, client
    server_us_per_delivery: float | None
    client_us_per_delivery: float | None
    window: int
    rate: float
    published: int  # in the latency phase
    expected: int
    received: int
    lost: int
    duplicates: int
    latency_ms: dict[str, float]  # p50, p90, p99, p999, max, mean
    dispatch_lag_ms: dict[str, float]
    latency_cpu: dict[str, float]
    close_codes: dict[str, int]  # close frames the clients got, by status code
    errors: dict[str, int]  # connect, handshake, closed, publish, protocol
    first_error: str | None
    cpu: CpuUsage  # the whole run, connecting included

    @classmethod
    def from_output(cls, data: Mapping[str, Any], cpu: CpuUsage) -> FanoutResult:
        saturation, latency = data["saturation"], data["latency"]
        return cls(
            clients=int(data["clients"]),
            workers={k: int(v) for k, v in data["workers"].items()},
            messages_per_sec=float(saturation["messages_per_sec"]),
            publishes_per_sec=float(saturation["publishes_per_sec"]),
            saturation_lost=int(saturation["lost"]),
            saturation_late=int(saturation["late"]),
            saturation_cpu={k: float(v) for k, v in saturation["cpu"].items()},
            server_us_per_delivery=saturation["server_us_per_delivery"],
            client_us_per_delivery=saturation["client_us_per_delivery"],
            window=int(data["window"]),
            rate=float(latency["rate"]),
            published=int(latency["published"]),
            expected=int(latency["expected"]),
            received=int(latency["received"]),
            lost=int(latency["lost"]),
            duplicates=int(latency["duplicates"]),
            latency_ms={k: float(v) for k, v in latency["latency_ms"].items()},
            dispatch_lag_ms={k: float(v) for k, v in latency["dispatch_lag_ms"].items()},
            latency_cpu={k: float(v) for k, v in latency["cpu"].items()},
            close_codes={k: int(v) for k, v in data["close_codes"].items()},
            errors={k: int(v) for k, v in data["errors"].items()},
            first_error=data["first_error"],
            cpu=cpu,
        )

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def figure(self, name: str) -> float | None:
        if name == "messages_per_sec":
            return self.messages_per_sec
        if name == "lost":
            return float(self.lost)
        if name == "server_us_per_delivery":
            return self.server_us_per_delivery
        return self.latency_ms.get(name)


@dataclass(frozen=True)
class InstructionsResult:
    """One server under callgrind, one process: after ``warmup_requests`` uncounted, the
    instructions it executed in two windows of ``requests`` answered on one keep-alive
    connection (``instructions``, in the same order). ``instructions_per_request`` is the
    slope between the two windows, ``fixed_instructions`` what is left at zero requests
    (``bench/instructions.py``). ``processes`` is how many processes of the server were
    counted (granian's master and worker: 2)."""

    instructions_per_request: float
    fixed_instructions: float
    requests: list[int]
    instructions: list[int]
    warmup_requests: int
    processes: int
    bad_status: int  # answers that were not 2xx
    window_s: float  # wall time of the two windows, under callgrind
    server_argv: list[str]  # valgrind's command line

    @property
    def error_count(self) -> int:
        return self.bad_status

    def figure(self, name: str) -> float | None:
        return self.instructions_per_request if name == "instructions_per_request" else None


Result = (
    ThroughputResult
    | WebSocketEchoResult
    | LatencyResult
    | MemoryResult
    | FanoutResult
    | InstructionsResult
)
