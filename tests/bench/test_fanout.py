"""The fanout benchmark (issue 17, item 9): its wire formats, its loss accounting, its place
in the harness, and ``bench/fanout_load.py`` against the real chats under gunicorn ``-w 3`` on
a real ``redis-server``.

The load client and the harness are standard library only, so the Berth side runs from the
project's venv; python-socketio's side needs the bench venv (``make bench`` creates it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.cells import Cell
from bench.cli import select
from bench.fanout_load import Client, FanoutLoad
from bench.fanout_wire import (
    MESSAGE_BYTES,
    decode_message,
    encode_message,
    message_text,
    reply_to,
    worker_of,
)
from bench.loadgen import RESULT_MARKER
from bench.redis_server import RedisServer as BenchRedis
from bench.redis_server import ping
from bench.results import CpuUsage, FanoutResult
from bench.scenarios import FanoutScenario
from bench.targets import evaluate
from tests.support.redis import REDIS_SERVER, RedisServer
from tests.workers.harness import Gunicorn, free_port, get, launcher, wait_for

ROOT = Path(__file__).resolve().parents[2]


# -- the wire ---------------------------------------------------------------------------------


def test_a_message_carries_its_sequence_number_and_stamp_in_a_fixed_size() -> None:
    text = encode_message(1234, 987654321012345678)
    assert len(text) == MESSAGE_BYTES
    assert decode_message(text) == (1234, 987654321012345678)
    with pytest.raises(ValueError, match="does not fit"):
        encode_message(1, 2, size=3)


def test_the_socketio_dialect_answers_pings_and_finds_the_worker_and_the_message() -> None:
    # Engine.IO v4: the OPEN packet is answered with the Socket.IO CONNECT, PING with PONG.
    assert reply_to("socketio", b'0{"sid":"x","pingInterval":25000}') == b"40"
    assert reply_to("socketio", b"2") == b"3"
    assert reply_to("socketio", b'40{"sid":"y"}') is None
    assert reply_to("berth", b"2") is None
    assert worker_of("socketio", b'42["worker",4242]') == 4242
    assert worker_of("socketio", b'40{"sid":"y"}') is None
    assert message_text("socketio", b'42["m","7 8 xx"]') == b"7 8 xx"
    assert message_text("socketio", b'42["worker",1]') is None


def test_the_berth_dialect_reads_the_worker_message_first() -> None:
    assert worker_of("berth", b'{"worker": 99}') == 99
    assert worker_of("berth", b"7 8 xx") is None
    assert message_text("berth", b'{"worker": 99}') is None
    assert message_text("berth", b"7 8 xx") == b"7 8 xx"


# -- the accounting ---------------------------------------------------------------------------


async def test_the_latency_phase_counts_every_missing_and_every_repeated_delivery() -> None:
    load = FanoutLoad(
        1,
        "berth",
        room="r",
        clients=3,
        workers=1,
        publishers=1,
        window=1,
        server_pgid=None,
        redis_pgid=None,
    )
    clients = [Client(load, index, b"") for index in range(3)]
    load.clients = clients
    load.tracked_from = 0
    load.latency_from = 10
    load.got = [bytearray(3) for _ in range(2)]  # messages 10 and 11
    load.remaining = {10: 3, 11: 3}
    for client in clients:
        load.deliver(client, encode_message(10, 1_000), 3_000)
    load.deliver(clients[0], encode_message(11, 2_000), 2_500)
    load.deliver(clients[0], encode_message(11, 2_000), 2_600)  # again
    summary = load.latency_deliveries()
    assert summary["expected"] == 6
    assert summary["received"] == 4
    assert summary["lost"] == 2
    assert summary["duplicates"] == 1
    assert load.remaining == {11: 2}
    # 2,000 ns for each of message 10's three deliveries, 500 ns for message 11's one.
    assert sorted(load.latencies) == [500, 2_000, 2_000, 2_000]


async def test_a_delivery_after_its_messages_time_is_up_is_late_not_lost() -> None:
    load = FanoutLoad(
        1,
        "berth",
        room="r",
        clients=2,
        workers=1,
        publishers=1,
        window=1,
        server_pgid=None,
        redis_pgid=None,
    )
    clients = [Client(load, index, b"") for index in range(2)]
    load.clients = clients
    load.tracked_from = 0
    load.remaining = {5: 2}
    load.deadlines.append((5, 0))  # its time is up already
    load.expire()
    assert load.remaining == {}
    assert (load.timed_out, load.expired) == (2, {5: 2})
    load.deliver(clients[1], encode_message(5, 1), 2)
    assert (load.late, load.expired) == (1, {5: 1})  # one still missing: lost


# -- the harness ------------------------------------------------------------------------------


def _result(messages_per_sec: float, p99: float, us_per_delivery: float) -> FanoutResult:
    latency = {"p50": p99 / 2, "p90": p99, "p99": p99, "p999": p99, "max": p99, "mean": p99}
    return FanoutResult(
        clients=1000,
        workers={"1": 334, "2": 333, "3": 333},
        messages_per_sec=messages_per_sec,
        publishes_per_sec=messages_per_sec / 1000,
        saturation_lost=0,
        saturation_late=0,
        saturation_cpu={"server": 1.0, "redis": 0.01, "client": 0.5},
        server_us_per_delivery=us_per_delivery,
        client_us_per_delivery=5.0,
        window=16,
        rate=5.0,
        published=50,
        expected=50_000,
        received=50_000,
        lost=0,
        duplicates=0,
        latency_ms=latency,
        dispatch_lag_ms={"p50": 0.1, "p99": 0.2, "max": 0.3},
        latency_cpu={"server": 0.2, "redis": 0.0, "client": 0.1},
        close_codes={},
        errors={},
        first_error=None,
        cpu=CpuUsage(server=1.0, client=0.5, server_cpus_busy=1.0),
    )


def test_fanout_runs_berths_cluster_against_python_socketio_on_both_figures() -> None:
    servers, scenarios = select("fanout", include_all=False)
    assert {s.name for s in servers} == {"berth-cluster", "socketio-cluster"}
    assert all(s.redis for s in servers)
    (scenario,) = scenarios
    assert isinstance(scenario, FanoutScenario)
    assert scenario.dialects["socketio-cluster"] == "socketio"
    cells = [
        Cell(server="berth-cluster", scenario=scenario, runs=[_result(90_000, 30.0, 5.0)]),
        Cell(server="socketio-cluster", scenario=scenario, runs=[_result(30_000, 40.0, 10.0)]),
    ]
    verdicts = {o.comparison.metric: (o.ratio, o.met) for o in evaluate(cells)}
    # More deliveries per second is better; a lower p99 and less CPU per delivery are better.
    assert verdicts == {
        "messages_per_sec": (3.0, True),
        "p99": (0.75, True),
        "server_us_per_delivery": (0.5, True),
    }


# -- for real ---------------------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path / "redis").start()
    try:
        yield server
    finally:
        server.kill()


def _fanout_load(python: Path | str, port: int, dialect: str, pgid: int) -> dict[str, Any]:
    done = subprocess.run(
        [
            str(python),
            str(ROOT / "bench" / "fanout_load.py"),
            f"--port={port}",
            f"--dialect={dialect}",
            "--clients=30",
            "--workers=3",
            "--duration=1",
            "--warmup=0.5",
            "--rate=20",
            f"--pgid={pgid}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(lines[0][len(RESULT_MARKER) :])
    return result


def _assert_every_client_got_everything(result: dict[str, Any]) -> None:
    # Spread evenly over the three workers, nothing lost, nothing failed.
    assert sorted(result["workers"].values()) == [10, 10, 10]
    latency = result["latency"]
    assert latency["published"] == 20
    assert latency["expected"] == latency["received"] == 20 * 30
    assert latency["lost"] == latency["duplicates"] == 0
    assert latency["latency_ms"]["p99"] > 0
    saturation = result["saturation"]
    assert saturation["deliveries"] > 0 and saturation["lost"] == 0
    assert saturation["cpu"]["server"] > 0  # the server's process group was measured
    assert set(result["errors"].values()) == {0}, result["first_error"]
    assert result["close_codes"] == {}


def _start(gunicorn: Gunicorn, env: dict[str, str]) -> Gunicorn:
    gunicorn.start(extra_env=env)
    gunicorn.wait_ready()
    wait_for(lambda: len(gunicorn.worker_pids()) == 3, 20, "gunicorn's three workers")
    return gunicorn


@pytest.mark.slow
def test_fanout_load_measures_berths_cluster_chat_on_three_workers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    with launcher(tmp_path) as launch:
        chat = _start(
            launch("-w", "3", target="examples.cluster_chat:create_app"),
            {"REDIS_URL": redis_server.url},
        )
        _assert_every_client_got_everything(
            _fanout_load(sys.executable, chat.port, "berth", chat.pid)
        )


@pytest.mark.slow
def test_fanout_load_measures_python_socketio_on_three_workers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # The peer runs from the project's own environment (python-socketio is a test
    # dependency, aiohttp too), so this runs everywhere the suite runs, not only where
    # `make bench` has built bench/.venv.
    port = free_port()
    with (tmp_path / "gunicorn.err").open("wb") as err:
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"),
                "-w",
                "3",
                "-k",
                "aiohttp.GunicornUVLoopWebWorker",
                "--no-control-socket",
                "-b",
                f"127.0.0.1:{port}",
                "bench.apps.socketio_chat:create_app",
            ],
            cwd=ROOT,
            env={**os.environ, "REDIS_URL": redis_server.url, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
    try:
        wait_for(lambda: _answers(port), 20, "the Socket.IO chat")
        result = _fanout_load(sys.executable, port, "socketio", proc.pid)
        _assert_every_client_got_everything(result)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(5)


def _answers(port: int) -> bool:
    try:
        get(("127.0.0.1", port), "/", timeout=1)
    except OSError:
        return False
    return True


@pytest.mark.slow
def test_the_bench_runs_its_own_redis_server_without_persistence(tmp_path: Path) -> None:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = BenchRedis(REDIS_SERVER, free_port(), tmp_path, None)
    server.start()
    try:
        assert ping(server.port)
        assert server.pgid is not None
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop()
    assert not ping(server.port)
    # --save "": a shutdown writes no snapshot into its folder.
    assert not (tmp_path / "dump.rdb").exists()
