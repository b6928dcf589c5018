"""The instructions scenario (issue 19): the slope arithmetic, the fixed-count client against a
tiny local server, reading callgrind's dumps, its place among the scenarios and targets, and
(slow) one real count of the ceiling under valgrind."""

from __future__ import annotations

import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.callgrind import callgrind_argv, dump_path, ensure_valgrind, read_total
from bench.cells import Cell
from bench.cli import select
from bench.counted_load import CountedClient
from bench.instructions import Window, fixed_part, per_request
from bench.plan import Plan
from bench.processes import server_env
from bench.report import run_line
from bench.results import InstructionsResult
from bench.runners.instructions import run_instructions
from bench.scenarios import SCENARIOS, InstructionsScenario
from bench.servers import SERVERS
from bench.targets import COMPARISONS, evaluate
from tests.bench.settings import tiny_load

SCENARIO = next(s for s in SCENARIOS if isinstance(s, InstructionsScenario))


# -- the arithmetic ---------------------------------------------------------------------------


def test_the_figure_is_the_slope_between_the_windows_so_a_fixed_cost_drops_out() -> None:
    # 1,000 and 3,000 requests at 100,000 each, plus 5M that every window pays once.
    small = Window(requests=1000, instructions=100_000 * 1000 + 5_000_000)
    large = Window(requests=3000, instructions=100_000 * 3000 + 5_000_000)
    assert per_request(small, large) == 100_000
    assert fixed_part(small, large) == 5_000_000
    # The naive division would have said 105,000 for the small window.
    assert small.instructions / small.requests == 105_000


def test_the_windows_must_differ_in_size() -> None:
    with pytest.raises(ValueError, match="more requests"):
        per_request(Window(1000, 1), Window(1000, 2))
    with pytest.raises(ValueError, match="more requests"):
        per_request(Window(3000, 1), Window(1000, 2))


# -- the fixed-count client -------------------------------------------------------------------


class TinyServer:
    """A keep-alive HTTP/1.1 server on a thread that counts the requests it reads; every
    fifth answer is chunked, and some come in two writes, as a real server may send them."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.requests = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            buffer = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
                while b"\r\n\r\n" in buffer:
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    self.requests += 1
                    if self.requests % 5 == 0:
                        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                        conn.sendall(b"5\r\nHello\r\n0\r\n\r\n")
                    else:
                        status = b"404 Not Found" if self.requests == 7 else b"200 OK"
                        conn.sendall(b"HTTP/1.1 " + status + b"\r\nContent-Length: 5\r\n\r\nHello")

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def tiny_server() -> Iterator[TinyServer]:
    server = TinyServer()
    yield server
    server.close()


def test_the_client_sends_exactly_n_requests_and_reads_n_responses(
    tiny_server: TinyServer,
) -> None:
    with CountedClient(tiny_server.port, "/", timeout=5) as client:
        client.send(10)
        assert (client.sent, client.answered) == (10, 10)
        assert tiny_server.requests == 10  # one at a time: the server has seen every one
        client.send(33)
        assert (client.sent, client.answered) == (43, 43)
        assert tiny_server.requests == 43
        assert client.bad_status == 1  # the 7th answer was a 404


def test_the_client_fails_loudly_when_the_server_closes() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def close_after_accept() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.close()

    thread = threading.Thread(target=close_after_accept, daemon=True)
    thread.start()
    with CountedClient(port, timeout=5) as client, pytest.raises(RuntimeError, match="closed"):
        client.send(3)
    thread.join(5)
    listener.close()


# -- callgrind's side -------------------------------------------------------------------------


def test_a_dumps_total_is_read_from_its_totals_line(tmp_path: Path) -> None:
    dump = dump_path(tmp_path / "berth-1", 4242, 2)
    assert dump.name == "berth-1.4242.2"
    dump.write_text("# callgrind format\nevents: Ir\nsummary: 99670259\n\nfn=(1) f\n1 2\n")
    with pytest.raises(ValueError, match="no totals"):
        read_total(dump)  # still being written: the totals line comes last
    dump.write_text(dump.read_text() + "\ntotals: 99670259\n")
    assert read_total(dump) == 99_670_259


def test_the_server_runs_under_callgrind_with_collection_off_and_children_counted() -> None:
    argv = callgrind_argv("/usr/bin/valgrind", Path("/x/ceiling-1"), ["python", "-m", "app"])
    assert argv[0] == "/usr/bin/valgrind"
    assert {"--tool=callgrind", "--instr-atstart=no", "--trace-children=yes"} <= set(argv)
    assert "--callgrind-out-file=/x/ceiling-1.%p" in argv
    assert argv[-3:] == ["python", "-m", "app"]


# -- its place in the harness -----------------------------------------------------------------


def test_only_instructions_picks_the_one_process_servers() -> None:
    servers, scenarios = select("instructions", include_all=False)
    assert [s.name for s in scenarios] == ["instructions"]
    assert {s.name for s in servers} == {
        "berth",
        "berth-pure",
        "aiohttp-run-app",
        "granian-asgi",
        "ceiling",
        "ceiling-task",
    }
    # No gunicorn: its master would be a second process doing nothing for the requests.
    assert not any("gunicorn" in " ".join(s.argv) for s in servers)
    assert SCENARIO.baseline == "aiohttp-run-app"


def _result(per_request: float, bad_status: int = 0) -> InstructionsResult:
    return InstructionsResult(
        instructions_per_request=per_request,
        fixed_instructions=18_000.0,
        requests=[1000, 3000],
        instructions=[int(per_request * 1000), int(per_request * 3000)],
        warmup_requests=500,
        processes=1,
        bad_status=bad_status,
        window_s=2.8,
        server_argv=["valgrind"],
    )


def test_the_target_is_half_of_aiohttps_instructions_lower_is_better() -> None:
    (comparison,) = [
        c
        for c in COMPARISONS
        if c.scenario == "instructions" and (c.subject, c.baseline) == ("berth", "aiohttp-run-app")
    ]
    assert comparison.metric == "instructions_per_request"
    assert comparison.target == 0.5
    assert not comparison.higher_is_better

    def cells(berth: float, aiohttp: float) -> list[Cell]:
        return [
            Cell(server="berth", scenario=SCENARIO, runs=[_result(berth), _result(berth + 1)]),
            Cell(server="aiohttp-run-app", scenario=SCENARIO, runs=[_result(aiohttp)]),
        ]

    (missed,) = evaluate(cells(100_000, 153_000))
    assert (missed.ratio, missed.met) == (0.654, False)
    (met,) = evaluate(cells(70_000, 153_000))
    assert met.met is True
    assert met.to_json()["metric"] == "instructions_per_request"


def test_a_run_line_shows_the_figure_and_its_windows() -> None:
    line, problems = run_line("  [instructions 1/3] berth", _result(100_034.5), 1)
    assert "100,034 instructions/req" in line or "100,035 instructions/req" in line
    assert "1,000 req" in line and "3,000 req" in line
    assert problems == []
    _, problems = run_line("x", _result(100_000, bad_status=2), 1)
    assert problems == ["2 answers were not 2xx"]


# -- one real count (valgrind) ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
def test_the_ceiling_under_callgrind_counts_the_same_each_request(tmp_path: Path) -> None:
    load = tiny_load(instr_requests=200, instr_warmup=100)
    valgrind = ensure_valgrind()
    plan = Plan(
        load=load,
        wrk="wrk",
        python=Path(sys.executable),  # the project's venv has uvloop and httptools
        server_cpus=None,
        client_cpus=None,
        log_dir=tmp_path,
        script_dir=tmp_path,
        valgrind=valgrind,
    )
    ceiling = next(s for s in SERVERS if s.name == "ceiling")
    result = run_instructions(
        ceiling, plan=plan, valgrind=valgrind, scenario=SCENARIO, env=server_env(), run_number=1
    )
    assert result.requests == [200, 600]
    assert result.processes == 1 and result.bad_status == 0
    # A few thousand instructions a request (6.9k here): canned bytes, no framework.
    assert 1_000 < result.instructions_per_request < 50_000
    # The windows agree: what does not grow with the requests is small next to them.
    assert abs(result.fixed_instructions) < 0.05 * result.instructions[0]
    assert (tmp_path / "callgrind" / "ceiling-1").parent.is_dir()
