"""Heartbeat, signals, graceful and quick stops, max_requests, the parent's death.

Checklist rows (docs/gunicorn-worker.md): 2-7, 9-15, 30, 34, 35.
"""

from __future__ import annotations

import http.client
import os
import signal
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.workers.harness import (
    HOOKS,
    UVLOOP_WORKER,
    WORKER,
    Launcher,
    Reply,
    connect,
    get,
    read_reply,
    wait_for,
)

pytestmark = pytest.mark.slow

NOISE = ("Traceback", "Task was destroyed", "Event loop is closed", "was sent", "WORKER TIMEOUT")


def in_background(fn: object, *args: object) -> Future[Reply]:
    pool = ThreadPoolExecutor(1)
    future: Future[Reply] = pool.submit(fn, *args)  # type: ignore[arg-type]
    pool.shutdown(wait=False)
    return future


def pid_of(address: object) -> int:
    return int(get(address, "/info").json()["pid"])  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.timeout(30)
def test_row2_row3_row5_heartbeat_beats_while_serving_and_while_draining(
    gunicorn: Launcher,
) -> None:
    # max_requests=1: the 4 s request is the worker's last, and its drain outlasts the 2 s
    # timeout. Workers that stop notifying while draining get SIGABRT there (aiohttp,
    # uvicorn and gunicorn asgi all lose the request, §5).
    draining = gunicorn("--timeout", "2", "--graceful-timeout", "10", "--max-requests", "1")
    idle = gunicorn("--timeout", "1")
    draining.start(), idle.start()
    draining.wait_ready()  # that request restarts the worker already
    idle_pid = pid_of(idle.wait_ready().address)
    wait_for(lambda: len(draining.worker_pids()) == 1, 10, "the next worker")
    draining.wait_ready()
    time.sleep(0.3)
    (last_worker,) = draining.worker_pids()
    slow = in_background(get, draining.address, "/sleep/4", None, 10)
    time.sleep(0.5)
    # Stop accepting first: the draining worker leaves this one to its successor.
    queued = in_background(get, draining.address, "/info", None, 15)
    reply = slow.result(10)
    assert reply.status == 200 and reply.text == f"slept {last_worker}"
    assert reply.headers["connection"] == "close"
    assert queued.result(10).json()["pid"] != last_worker
    assert pid_of(idle.address) == idle_pid  # idle through more than four timeouts
    for instance in (draining, idle):
        assert "WORKER TIMEOUT" not in instance.stderr
        assert "was sent" not in instance.stderr


def test_row4_drain_is_bounded_by_graceful_timeout(gunicorn: Launcher) -> None:
    instance = gunicorn("--graceful-timeout", "2").start().wait_ready()
    slow = in_background(get, instance.address, "/sleep/30", None, 10)
    time.sleep(0.3)
    began = time.monotonic()
    instance.signal(signal.SIGTERM)
    assert instance.wait(5) == 0
    elapsed = time.monotonic() - began
    assert 1.0 < elapsed < 2.0, elapsed  # cancelled before the arbiter's SIGKILL at 2 s
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        slow.result(5)
    assert "was sent SIGKILL" not in instance.stderr
    assert "Shutdown did not finish" not in instance.stderr


def test_row9_row10_row30_row34_row35_term_is_graceful_quit_is_quick(gunicorn: Launcher) -> None:
    term = gunicorn("-c", HOOKS, "--graceful-timeout", "10").start()
    quit_ = gunicorn("-c", HOOKS, "--graceful-timeout", "10").start()
    interrupt = gunicorn("-c", HOOKS, "--graceful-timeout", "10").start()
    for instance in (term, quit_, interrupt):
        instance.wait_ready()
    term_pid, quit_pid, int_pid = (pid_of(i.address) for i in (term, quit_, interrupt))
    slow_term = in_background(get, term.address, "/sleep/1.5", None, 10)
    slow_quit = in_background(get, quit_.address, "/sleep/1.5", None, 10)
    slow_int = in_background(get, interrupt.address, "/sleep/1.5", None, 10)
    time.sleep(0.3)
    began = time.monotonic()
    term.signal(signal.SIGTERM)
    quit_.signal(signal.SIGQUIT)
    os.kill(int_pid, signal.SIGINT)  # to the worker itself: the arbiter replaces it
    assert quit_.wait(5) == 0
    quit_elapsed = time.monotonic() - began
    assert term.wait(10) == 0
    term_elapsed = time.monotonic() - began

    reply = slow_term.result(1)
    assert reply.status == 200 and reply.headers["connection"] == "close"
    assert term_elapsed > 1.0
    for dropped in (slow_quit, slow_int):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            dropped.result(1)
    assert quit_elapsed < 1.5, quit_elapsed
    interrupt.wait_ready()
    assert pid_of(interrupt.address) != int_pid

    assert f"HOOK worker_int {quit_pid}" in quit_.stderr
    assert f"HOOK worker_int {int_pid}" in interrupt.stderr
    assert f"HOOK worker_int {term_pid}" not in term.stderr
    for instance, pid in ((term, term_pid), (quit_, quit_pid), (interrupt, int_pid)):
        err = instance.stderr
        assert f"HOOK post_worker_init {pid}" in err
        assert f"HOOK worker_exit {pid}" in err
        assert "exited with code" not in err  # status 0
        # The app left a task and an async generator open: the teardown ends them quietly.
        assert not [noise for noise in NOISE if noise in err], err
    err = term.stderr
    assert err.index(f"MARK on_shutdown pid={term_pid}") < err.index(
        f"MARK on_cleanup pid={term_pid}"
    )


def test_row8_websockets_get_1001_going_away_on_a_graceful_stop(gunicorn: Launcher) -> None:
    sync_client = pytest.importorskip("websockets.sync.client")
    from websockets.exceptions import ConnectionClosed

    server = gunicorn("--graceful-timeout", "10").start().wait_ready()
    host, port = server.address  # type: ignore[misc]
    with sync_client.connect(f"ws://{host}:{port}/ws", open_timeout=5) as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "ping"
        began = time.monotonic()
        server.signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    assert time.monotonic() - began < 5
    assert server.wait(10) == 0


def test_row6_row7_idle_keepalive_grace_and_connection_close(gunicorn: Launcher) -> None:
    instance = gunicorn("--graceful-timeout", "5", "--keep-alive", "30").start().wait_ready()
    late = connect(instance.address)  # answers once, then sends a request during the stop
    idle = connect(instance.address)  # answers once, then stays silent
    for conn in (late, idle):
        conn.request("GET", "/")
        reply = read_reply(conn)
        assert reply.status == 200 and "connection" not in reply.headers
    slow = in_background(get, instance.address, "/sleep/2", None, 10)
    time.sleep(0.3)
    instance.signal(signal.SIGTERM)
    time.sleep(0.3)  # inside the grace window: the request was already on its way
    late.request("GET", "/info")
    reply = read_reply(late)
    assert reply.status == 200 and reply.headers["connection"] == "close"
    began = time.monotonic()
    assert idle.sock is not None
    idle.sock.settimeout(5)
    assert idle.sock.recv(1) == b""  # closed by the server once the grace window ended
    assert time.monotonic() - began < 1.5
    in_flight = slow.result(10)
    assert in_flight.status == 200 and in_flight.headers["connection"] == "close"
    assert instance.wait(10) == 0
    late.close(), idle.close()


@pytest.mark.timeout(30)
def test_row11_row30_sigabrt_on_a_blocked_loop_logs_the_stack_and_calls_worker_abort(
    gunicorn: Launcher,
) -> None:
    instances = [
        gunicorn("-c", HOOKS, "--timeout", "2", worker=worker).start()
        for worker in (WORKER, UVLOOP_WORKER)
    ]
    pids = [pid_of(instance.wait_ready().address) for instance in instances]
    blocked = [in_background(get, i.address, "/block/30", None, 15) for i in instances]
    for instance, pid, request in zip(instances, pids, blocked, strict=True):
        # worker_abort, then the arbiter reaps it: exited on its own, not SIGKILLed.
        for line in (f"HOOK worker_abort {pid}", f"Worker (pid:{pid}) exited with code 1"):
            wait_for(lambda line=line, i=instance: line in i.stderr, 10, line)
        err = instance.stderr
        stack = err[err.index("the event loop was blocked at:") : err.index("HOOK worker_abort")]
        assert "in blocking_call" in stack and "time.sleep(seconds)" in stack
        assert "arbiter.py" not in stack  # only the code holding the loop
        assert "was sent SIGKILL" not in err
        assert "Traceback" not in err and "never retrieved" not in err
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            request.result(5)
        instance.wait_ready()
        assert pid_of(instance.address) != pid  # the arbiter replaced it


def test_row12_usr1_reopens_log_files_and_winch_is_ignored(
    gunicorn: Launcher, tmp_path: Path
) -> None:
    log = tmp_path / "access.log"
    instance = gunicorn("--access-logfile", str(log)).start().wait_ready()
    pid = pid_of(instance.address)
    rotated = tmp_path / "access.log.1"
    log.rename(rotated)  # what logrotate does before it signals
    os.kill(pid, signal.SIGUSR1)  # to the worker alone: the master reopens its own copy
    os.kill(pid, signal.SIGWINCH)
    wait_for(log.exists, 5, "the reopened log")
    get(instance.address, "/after-rotation")
    wait_for(lambda: "/after-rotation" in log.read_text(), 5, "the new line")
    assert "/after-rotation" not in rotated.read_text()
    assert pid_of(instance.address) == pid


def test_row13_subprocesses_get_their_exit_codes(gunicorn: Launcher) -> None:
    instance = gunicorn().start().wait_ready()
    assert get(instance.address, "/subprocess").text == "3"


def test_row14_a_worker_leaves_when_its_arbiter_dies(gunicorn: Launcher) -> None:
    instance = gunicorn().start().wait_ready()
    pid = pid_of(instance.address)
    instance.signal(signal.SIGKILL)
    instance.wait(5)
    wait_for(lambda: not alive(pid), 5, "the orphaned worker to exit")


@pytest.mark.timeout(40)
def test_row15_max_requests_exact_count_close_on_the_last_and_no_loss(
    gunicorn: Launcher,
) -> None:
    exact = gunicorn("--max-requests", "3").start()
    load = gunicorn("--max-requests", "5", "-w", "2", "--graceful-timeout", "3").start()
    exact.wait_ready()  # request 1 of the first worker
    conn = connect(exact.address)
    replies = []
    for _ in range(2):
        conn.request("GET", "/info")
        replies.append(read_reply(conn))
    conn.close()
    assert "connection" not in replies[0].headers  # request 2
    assert replies[1].headers["connection"] == "close"  # request 3: the last
    assert replies[0].json()["pid"] == replies[1].json()["pid"]
    wait_for(lambda: replies[1].json()["pid"] not in exact.worker_pids(), 10, "a restart")

    load.wait_ready()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: get(load.address, "/info", timeout=15), range(40)))
    assert [r.status for r in results] == [200] * 40
    served = Counter(r.json()["pid"] for r in results)
    # A worker stops accepting at its 5th request; connections it had already accepted
    # (at most the other 3 clients') are still answered, never dropped.
    assert max(served.values()) <= 5 + 3, served
    assert len(served) >= 40 // 8


def test_row9_hup_reload_lets_the_in_flight_request_finish(gunicorn: Launcher) -> None:
    instance = gunicorn("--graceful-timeout", "10").start().wait_ready()
    old = pid_of(instance.address)
    slow = in_background(get, instance.address, "/sleep/1.5", None, 10)
    time.sleep(0.3)
    instance.signal(signal.SIGHUP)
    wait_for(lambda: old not in instance.worker_pids(), 10, "the old worker to leave")
    reply = slow.result(5)
    assert reply.status == 200 and reply.text == f"slept {old}"
    assert pid_of(instance.address) != old
    assert "was sent" not in instance.stderr
