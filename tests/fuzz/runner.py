"""Drive fuzz cases against a :class:`ServerThread` and keep the figures.

Each case opens a connection, sends its bytes (whole or in pieces), half-closes or not, and
reads until the server closes or the case's deadline passes. Cases run ``concurrency`` at a
time. A log record or loop error cannot be tied to a socket, so it is pinned on the cases in
flight when it happened; after the run those are replayed, halving the group each time, to
find the one case that reproduces it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from runtime import web
from tests.fuzz.check import Outcome, Reason, judge, scan_responses
from tests.fuzz.mutate import FuzzCase, make_case
from tests.fuzz.target import Deadlines, Problem, ServerThread, make_app

__all__ = ["Failure", "Report", "Settings", "fuzz", "run_one"]

HOST = "127.0.0.1"
# A log record may come a little after its connection closed (a handler still unwinding).
_LATE = 1.0
# At most this many distinct server problems are chased down to one case each.
_MAX_CHASES = 5
# Reproducer files written for each kind of failure (a common one may fail thousands).
_FILES_PER_KIND = 5


@dataclass(frozen=True)
class Settings:
    seed: int
    cases: int | None = None  # stop after this many cases...
    seconds: float | None = None  # ...or after this long, whichever comes first
    first: int = 0  # index of the first case
    concurrency: int = 128
    deadlines: Deadlines = field(default_factory=Deadlines)
    slack: float = 3.0  # added to the deadlines for a loaded machine
    out_dir: Path | None = None  # where failing cases are written
    chase_seconds: float = 120.0  # time to pin log records on cases, after the run
    app_factory: Callable[[Deadlines], web.Application] = make_app
    uvloop: bool = False  # serve on a uvloop loop (the client stays on asyncio's)
    progress: Callable[[str], None] | None = None  # a line every few seconds

    @property
    def bound(self) -> float:
        return self.deadlines.bound(self.slack)


@dataclass
class Failure:
    case: FuzzCase
    reasons: list[Reason]
    received: bytes = b""
    files: list[Path] = field(default_factory=list)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(kind for kind, _ in self.reasons)

    def describe(self) -> str:
        c = self.case
        lines = [
            f"case {c.index} of seed {c.seed} ({c.origin}; mutations: "
            f"{', '.join(c.mutations) or 'none'})",
            f"  pieces: {[len(p) for p in c.pieces]}, pause {c.pause} s, "
            f"half-close: {c.half_close}",
            f"  sent: {c.data[:600]!r}{' ...' if len(c.data) > 600 else ''}",
            f"  received: {self.received[:600]!r}{' ...' if len(self.received) > 600 else ''}",
            *(f"  FAIL: {kind}{': ' if detail else ''}{detail}" for kind, detail in self.reasons),
            f"  replay: python -m tests.fuzz --seed {c.seed} --replay {c.index}",
        ]
        lines += [f"  reproducer: {path}" for path in self.files]
        return "\n".join(lines)


@dataclass
class Report:
    settings: Settings
    cases: int = 0
    elapsed: float = 0.0
    histogram: Counter[str] = field(default_factory=Counter)
    mutations: Counter[str] = field(default_factory=Counter)
    log_levels: Counter[str] = field(default_factory=Counter)
    slowest: tuple[float, FuzzCase | None, list[str]] = (0.0, None, [])
    failures: list[Failure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # not pinned on one case

    @property
    def ok(self) -> bool:
        return not self.failures and not self.errors

    def by_kind(self) -> dict[str, list[Failure]]:
        groups: dict[str, list[Failure]] = {}
        for failure in self.failures:
            for kind in dict.fromkeys(failure.kinds):
                groups.setdefault(kind, []).append(failure)
        return groups

    def format_failures(self, examples: int = 2) -> str:
        """Failing cases grouped by kind, the first ``examples`` of each in full."""
        groups = self.by_kind()
        lines = [
            f"failures: {len(self.failures)} case(s) of {len(groups)} kind(s), "
            f"{len(self.errors)} other error(s)"
        ]
        for kind, failures in groups.items():
            indexes = [f.case.index for f in failures]
            lines.append(f"- {len(failures)} x {kind}")
            lines.append(f"  cases: {indexes[:20]}{' ...' if len(indexes) > 20 else ''}")
            lines += ["  " + f.describe().replace("\n", "\n  ") for f in failures[:examples]]
        lines += [f"- ERROR: {e}" for e in self.errors]
        return "\n".join(lines)

    def format(self) -> str:
        s = self.settings
        d = s.deadlines
        rate = self.cases / self.elapsed if self.elapsed else 0.0
        lines = [
            f"berth fuzz: seed {s.seed}, cases {s.first}..{s.first + self.cases - 1}: "
            f"{self.cases} cases in {self.elapsed:.1f} s ({rate:.0f} cases/s), "
            f"{s.concurrency} at a time, server on {'uvloop' if s.uvloop else 'asyncio'}",
            f"deadlines: head {d.head} s, body {d.body} s, keep-alive {d.keepalive} s, "
            f"linger {d.linger} s, rate window {d.rate_window} s, WebSocket {d.ws} s; "
            f"a case hangs after {s.bound:.1f} s",
            "statuses (one per response; a case without any counts how it ended):",
        ]
        for label, count in sorted(self.histogram.items(), key=_label_order):
            lines.append(f"  {label:>22} {count:8}")
        seconds, case, labels = self.slowest
        if case is not None:
            lines.append(
                f"slowest case: {case.index}, {seconds:.2f} s ({case.origin}; "
                f"{', '.join(case.mutations) or 'no mutation'}; half-close {case.half_close}; "
                f"{' '.join(labels)})"
            )
        lines.append(
            "mutations applied: "
            + ", ".join(f"{name} {n}" for name, n in sorted(self.mutations.items()))
        )
        lines.append(
            "server log records: "
            + (", ".join(f"{lvl} {n}" for lvl, n in sorted(self.log_levels.items())) or "none")
        )
        lines.append(f"seed: {s.seed}")
        lines.append("failures: none" if self.ok else self.format_failures())
        return "\n".join(lines)


def _label_order(item: tuple[str, int]) -> tuple[int, str]:
    label = item[0]
    return (0, label) if label.isdigit() else (1, label)


# -- one connection ------------------------------------------------------------------------


class _Client(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.received = bytearray()
        self.done: asyncio.Future[None] = loop.create_future()
        self.closed_at = 0.0
        self.reset = False

    def data_received(self, data: bytes) -> None:
        self.received += data

    def eof_received(self) -> bool:
        return False  # the server is done: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.reset = exc is not None
        self.closed_at = self.loop.time()
        if not self.done.done():
            self.done.set_result(None)


async def run_one(case: FuzzCase, port: int, bound: float) -> Outcome:
    """Send one case and read until the server closes, or ``bound`` seconds after sending."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        transport, client = await loop.create_connection(lambda: _Client(loop), HOST, port)
    except OSError as exc:  # the server stopped accepting, or its backlog overflowed
        return Outcome(b"", True, False, loop.time() - start, error=f"connect: {exc!r}")
    try:
        for i, piece in enumerate(case.pieces):
            if transport.is_closing():
                break  # the server has closed already; the rest has nowhere to go
            if i and case.pause:
                await asyncio.sleep(case.pause)
            transport.write(piece)
        if case.half_close and not transport.is_closing():
            with contextlib.suppress(OSError):  # the server may have reset it already
                transport.write_eof()
        try:
            await asyncio.wait_for(asyncio.shield(client.done), bound)
        except TimeoutError:
            pass
    finally:
        if not client.done.done():
            transport.abort()
    closed = client.done.done() and client.closed_at > 0
    elapsed = (client.closed_at if closed else loop.time()) - start
    received = bytes(client.received)
    return Outcome(received, closed, client.reset, elapsed, scan_responses(received))


# -- the run -------------------------------------------------------------------------------


class _Run:
    def __init__(self, settings: Settings, report: Report) -> None:
        self.settings = settings
        self.server: ServerThread
        self.report = report
        self.inflight: set[int] = set()
        self.recent: deque[tuple[float, int]] = deque()
        # (problem, the cases that may have caused it)
        self.problems: list[tuple[Problem, frozenset[int]]] = []
        self.counter = itertools.count(settings.first)
        self.written: Counter[str] = Counter()
        self.stop_at = 0.0

    # Called from the server's thread: snapshot the suspects now.
    def on_problem(self, problem: Problem) -> None:
        now = time.monotonic()
        suspects = set(self.inflight)
        suspects.update(i for t, i in list(self.recent) if now - t < _LATE)
        self.problems.append((problem, frozenset(suspects)))

    def _next_index(self) -> int | None:
        s = self.settings
        index = next(self.counter)
        if s.cases is not None and index >= s.first + s.cases:
            return None
        if s.seconds is not None and time.monotonic() >= self.stop_at:
            return None
        return index

    async def _worker(self) -> None:
        s = self.settings
        while (index := self._next_index()) is not None:
            case = make_case(s.seed, index)
            self.inflight.add(index)
            try:
                outcome = await run_one(case, self.server.port, s.bound)
            finally:
                self.inflight.discard(index)
                self.recent.append((time.monotonic(), index))
            self._record(case, outcome)

    def _record(self, case: FuzzCase, outcome: Outcome) -> None:
        report = self.report
        report.cases += 1
        labels = outcome.labels()
        report.histogram.update(labels)
        report.mutations.update(case.mutations)
        if outcome.elapsed > report.slowest[0]:
            report.slowest = (outcome.elapsed, case, labels)
        now = time.monotonic()
        while self.recent and now - self.recent[0][0] > _LATE:
            self.recent.popleft()
        reasons = judge(case.data, outcome, self.settings.bound, pristine=case.pristine)
        if reasons:
            self._fail(Failure(case, reasons, outcome.received))

    def _fail(self, failure: Failure) -> None:
        out = self.settings.out_dir
        if out is not None and any(self.written[kind] < _FILES_PER_KIND for kind in failure.kinds):
            self.written.update(failure.kinds)
            failure.files = write_reproducer(out, failure)
        self.report.failures.append(failure)

    async def _progress(self, started: float) -> None:
        say = self.settings.progress
        if say is None:
            return
        while True:
            await asyncio.sleep(10)
            r = self.report
            spent = time.monotonic() - started
            say(
                f"[{spent:5.0f} s] {r.cases} cases, {r.cases / spent:.0f}/s, "
                f"{len(r.failures)} failing, {len(self.problems)} server problem(s)"
            )

    async def run(self) -> None:
        s = self.settings
        asyncio.get_running_loop().set_exception_handler(self._client_error)
        started = time.monotonic()
        self.stop_at = started + (s.seconds or 0.0)
        progress = asyncio.create_task(self._progress(started))
        try:
            await asyncio.gather(*(self._worker() for _ in range(s.concurrency)))
        finally:
            progress.cancel()
        self.report.elapsed = time.monotonic() - started
        await asyncio.sleep(_LATE / 2)  # late log records
        await self._chase_problems()
        self.problems = []  # those the chase's replays caused again
        await self._after_run()

    def _client_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        # A bug of the fuzzer's own, not the server's; still a failed run.
        self.report.errors.append(f"fuzz client: {context.get('message')}: {context!r}")

    # -- pinning server problems on cases --------------------------------------------------

    async def _reproduces(self, indexes: Iterable[int], kind: str) -> bool:
        """Whether running these cases together logs a problem of this kind again."""
        before = len(self.problems)
        s = self.settings
        cases = [make_case(s.seed, i) for i in indexes]
        outcomes = await asyncio.gather(*(run_one(c, self.server.port, s.bound) for c in cases))
        del outcomes
        await asyncio.sleep(0.2)
        return any(p.kind == kind for p, _ in self.problems[before:])

    async def _chase_problems(self) -> None:
        pending = list(self.problems)
        if not pending:
            return
        self.problems = []
        # One chase per kind of problem, among the suspects of its first occurrence (about
        # ``concurrency`` cases; the union over all occurrences could be the whole run).
        distinct: dict[str, tuple[Problem, frozenset[int]]] = {}
        for problem, suspects in pending:
            distinct.setdefault(problem.kind, (problem, suspects))
        s = self.settings
        give_up = time.monotonic() + s.chase_seconds
        for n, (problem, suspects) in enumerate(distinct.values()):
            culprits: list[int] = []
            if n < _MAX_CHASES and time.monotonic() < give_up:
                culprits = await self._bisect(sorted(suspects), problem.kind, give_up)
            if len(culprits) == 1:
                case = make_case(s.seed, culprits[0])
                outcome = await run_one(case, self.server.port, s.bound)
                reason = (f"server log: {problem.kind}", problem.text)
                self._fail(Failure(case, [reason], outcome.received))
            else:
                shown = sorted(culprits or suspects)
                self.report.errors.append(
                    f"server {problem.text}\n  not pinned on one case; suspects "
                    f"(seed {s.seed}): {shown[:40]}{' ...' if len(shown) > 40 else ''}"
                )

    async def _bisect(self, group: list[int], kind: str, give_up: float) -> list[int]:
        if not group or not await self._reproduces(group, kind):
            return []
        while len(group) > 1 and time.monotonic() < give_up:
            half, rest = group[: len(group) // 2], group[len(group) // 2 :]
            if await self._reproduces(half, kind):
                group = half
            elif await self._reproduces(rest, kind):
                group = rest
            else:
                break  # it takes cases from both halves together
        return group

    # -- after the run ---------------------------------------------------------------------

    async def _after_run(self) -> None:
        report = self.report
        # Every client has closed: the server must let go of every connection.
        deadline = time.monotonic() + self.settings.bound
        while self.server.connections() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if left := self.server.connections():
            report.errors.append(f"the server still holds {left} connection(s) after the run")
        # And it still serves a normal request.
        request = (
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n"
            b"Connection: close\r\n\r\nhello"
        )
        case = FuzzCase(self.settings.seed, -1, "sanity", (), request, (request,), 0.0, False)
        outcome = await run_one(case, self.server.port, self.settings.bound)
        if outcome.scan.statuses != [200, 200] or not outcome.received.endswith(
            b"POST /echo read 5 bytes\n"
        ):
            report.errors.append(
                f"after the run the server did not serve a normal request: {outcome.received!r}"
            )
        for problem, _ in self.problems:
            report.errors.append(f"server problem during the checks after the run: {problem.text}")


def write_reproducer(out_dir: Path, failure: Failure) -> list[Path]:
    """``<name>.bin``: the bytes sent; ``<name>.txt``: how they were sent and what failed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    case = failure.case
    raw = out_dir / f"{case.name}.bin"
    raw.write_bytes(case.data)
    text = out_dir / f"{case.name}.txt"
    text.write_text(failure.describe() + "\n")
    return [raw, text]


def fuzz(settings: Settings) -> Report:
    """Start the server, run the cases, check the server afterwards; the figures."""
    report = Report(settings)
    run = _Run(settings, report)
    with ServerThread(
        settings.deadlines, run.on_problem, settings.app_factory, uvloop=settings.uvloop
    ) as server:
        run.server = server
        asyncio.run(run.run())
    report.log_levels = server.capture.levels
    return report


def main_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
