"""The fuzzer in CI (a few thousand cases), and tests of the fuzzer itself.

``BERTH_FUZZ_SEED`` and ``BERTH_FUZZ_CASES`` change the CI run; ``make fuzz`` is the long one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from runtime import web
from tests.fuzz.check import Outcome, judge, scan_responses
from tests.fuzz.mutate import MUTATORS, SEEDS, make_case
from tests.fuzz.runner import Report, Settings, fuzz, run_one
from tests.fuzz.target import Deadlines, LogCapture, Problem, make_app

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

SEED = int(os.environ.get("BERTH_FUZZ_SEED", "13"))
CASES = int(os.environ.get("BERTH_FUZZ_CASES", "5000"))

# Deadlines for the tests of the fuzzer, short so that a hang costs little.
FAST = Deadlines(head=0.3, body=0.3, keepalive=0.3, linger=0.3, rate_window=0.3, ws=0.2)


# fuzz() runs its own loops (the server in a thread, the clients in asyncio.run), as the
# `make fuzz` program does: the tests that call it stay synchronous.
@pytest.mark.slow
def test_server_survives_fuzzing(tmp_path: Path) -> None:
    settings = Settings(
        seed=SEED,
        cases=CASES,
        seconds=25,  # a loaded machine runs fewer cases rather than past the test timeout
        concurrency=128,
        out_dir=tmp_path,
        chase_seconds=10,
    )
    report = fuzz(settings)
    sys.stderr.write(report.format() + "\n")
    assert report.cases >= min(CASES, 1000), "too few cases ran in the time allowed"
    assert report.ok, report.format_failures()


# -- the fuzzer finds what it should -------------------------------------------------------


def _faulty(fault: Middleware) -> web.Application:
    app = make_app(FAST)
    app.middlewares.append(fault)
    return app


def _fuzz_faulty(fault: Middleware, tmp_path: Path, cases: int = 300) -> Report:
    settings = Settings(
        seed=1,
        cases=cases,
        concurrency=32,
        deadlines=FAST,
        slack=1.0,
        out_dir=tmp_path,
        chase_seconds=20,
        app_factory=lambda _: _faulty(fault),
    )
    return fuzz(settings)


@pytest.mark.slow
def test_fuzzer_catches_a_handler_that_raises(tmp_path: Path) -> None:
    @web.middleware
    async def fault(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "POST":
            raise ZeroDivisionError("injected")
        return await handler(request)

    report = _fuzz_faulty(fault, tmp_path)
    assert not report.ok
    kinds = report.by_kind()
    assert any(kind.startswith("answered 500") for kind in kinds), report.format_failures()
    # The ERROR record is pinned on one case, whose reproducer is written out.
    [logged] = [k for k in kinds if k.startswith("server log: ERROR runtime.server")]
    assert logged.endswith("[ZeroDivisionError]")
    failure = kinds[logged][0]
    assert b"POST" in failure.case.data.upper()
    assert failure.files and failure.files[0].read_bytes() == failure.case.data
    assert "--replay" in failure.files[1].read_text()


@pytest.mark.slow
def test_fuzzer_catches_a_hang(tmp_path: Path) -> None:
    @web.middleware
    async def fault(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == "/stream":
            await asyncio.sleep(3600)
        return await handler(request)

    report = _fuzz_faulty(fault, tmp_path, cases=150)
    hangs = report.by_kind().get("hang")
    assert hangs, report.format()
    assert all(b"/stream" in f.case.data for f in hangs)


# -- the parts -----------------------------------------------------------------------------


def test_cases_are_deterministic() -> None:
    for index in (0, 1, 77, 12345):
        case = make_case(7, index)
        assert case == make_case(7, index)
        assert b"".join(case.pieces) == case.data
    assert [make_case(7, i).data for i in range(50)] != [make_case(8, i).data for i in range(50)]


def test_every_mutator_runs_on_every_seed() -> None:
    rng = random.Random(0)
    for seed in (*SEEDS, SEEDS[0].__class__("empty", b"")):
        for name, mutate in MUTATORS.items():
            for _ in range(5):
                assert isinstance(mutate(rng, seed.data), bytes), (name, seed.name)


RESPONSES = (
    b"HTTP/1.1 100 Continue\r\n\r\n"
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"  # to a HEAD
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 31\r\n\r\nHTTP/1.1 500 is only quoted :-)"
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
)


def test_scan_responses() -> None:
    scan = scan_responses(RESPONSES)
    assert scan.statuses == [100, 200, 200, 200, 400, 101]
    assert scan.upgraded and not scan.problem
    assert scan.firsts[4] == b"HTTP/1.1 500 is only quoted :-)"
    assert scan_responses(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").problem
    assert scan_responses(b"HTTP/1.1 200 OK\r\nContent-Len").problem
    assert scan_responses(b"garbage\r\n\r\n").problem


def _outcome(response: bytes, closed: bool = True) -> Outcome:
    return Outcome(response, closed, False, 0.1, scan_responses(response))


def _kinds(request: bytes, status: int, closed: bool = True, pristine: bool = False) -> list[str]:
    response = b"HTTP/1.1 %d X\r\nContent-Length: 4\r\n\r\nwhy\n" % status if status else b""
    return [kind for kind, _ in judge(request, _outcome(response, closed), 5.0, pristine=pristine)]


def test_judge_5xx() -> None:
    get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert _kinds(get, 200) == [] and _kinds(get, 431) == []
    assert _kinds(get, 500) == ["answered 500: why"]
    # 505 only for a well-formed HTTP-version with a major version other than 1.
    assert _kinds(b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505) == []
    assert _kinds(b"GET / HTTP/0.9\r\n\r\n", 505) == []
    after_body = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}GET / HTTP/3.0\r\n"
    assert _kinds(after_body, 505) == []
    assert _kinds(b"GET  /  HTTP/9.9\r\nHost: a\r\n\r\n", 505) == []  # RFC 9112 3: runs of SP
    for line in (b"GET /\r\n", b"GET / HTTP/1.2\r\n", b"GET / HTTP/12.0\r\n", b"GET / HTTP/2\r\n"):
        assert _kinds(line + b"Host: a\r\n\r\n", 505) == ["answered 505: why"], line
    # 501 only when a transfer coding other than chunked was sent (RFC 9112 6.1).
    assert _kinds(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501) == []
    assert _kinds(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501) != []
    assert _kinds(get, 200, closed=False) == ["hang"]


def test_judge_valid_requests_sent_unchanged() -> None:
    get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    assert _kinds(get, 404, pristine=True) == []
    assert _kinds(get, 400, pristine=True) == ["valid request refused with 400"]
    assert _kinds(get, 400) == []  # a mutated request may well be refused
    assert _kinds(get, 0, pristine=True) == ["valid request closed without an answer"]


async def test_no_connection_is_a_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nobody listens on it once closed
    outcome = await run_one(make_case(1, 0), port, 1.0)
    assert outcome.error and outcome.labels() == ["connect-failed"]
    assert [kind for kind, _ in judge(b"", outcome, 1.0)] == ["no connection"]


def test_log_capture_keeps_errors_and_tracebacks() -> None:
    problems: list[Problem] = []
    capture = LogCapture(problems.append)
    logger = logging.getLogger("tests.fuzz.capture")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(capture)
    try:
        logger.info("fine %s", 1)
        logger.error("bad %s", 2)
        try:
            raise KeyError("x")
        except KeyError:
            logger.debug("quiet but broken", exc_info=True)
    finally:
        logger.removeHandler(capture)
    assert [p.kind for p in problems] == [
        "ERROR tests.fuzz.capture: bad %s",
        "DEBUG tests.fuzz.capture: quiet but broken [KeyError]",
    ]
    assert "Traceback" in problems[1].text
    assert capture.levels == {"INFO": 1, "ERROR": 1, "DEBUG": 1}
