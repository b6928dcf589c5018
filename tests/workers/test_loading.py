"""Loading the application and listening: targets, boot failures, reload, socket kinds.

Checklist rows (docs/gunicorn-worker.md): 1, 16, 17, 18, 24, 31, 32, 33.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.workers.harness import APP, ROOT, UVLOOP_WORKER, Launcher, free_port, get, wait_for

pytestmark = pytest.mark.slow

TARGETS = [
    (f"{APP}:instance", "ok"),
    (f"{APP}:create_app", "ok"),
    (f"{APP}:create_app()", "ok"),  # called by gunicorn's importer
    (f"{APP}:create_app_async", "ok"),
    (f"{APP}:create_runner", "ok"),
    (f"{APP}:create_server_runner", "low-level ok"),
]


def test_row18_instance_sync_and_async_factories_with_and_without_preload(
    gunicorn: Launcher,
) -> None:
    started = [
        (gunicorn(*preload, target=target).start(), expected)
        for target, expected in TARGETS
        for preload in ((), ("--preload",))
    ]
    for instance, expected in started:
        instance.wait_ready()
        assert get(instance.address).text == expected, instance.target


def test_the_demo_app_runs_under_gunicorn(gunicorn: Launcher) -> None:
    instance = gunicorn(target="examples.demo:create_app").start().wait_ready()
    assert get(instance.address, "/").text == "Hello from Berth!\n"
    assert get(instance.address, "/hello/gunicorn").json() == {"hello": "gunicorn"}


def test_the_demo_metrics_count_every_workers_requests(gunicorn: Launcher, tmp_path: Path) -> None:
    # As make run serves it: two workers, the multiprocess directory, the demo's hooks.
    from prometheus_client.parser import text_string_to_metric_families

    stale = tmp_path / "prometheus" / "counter_1.db"
    stale.parent.mkdir()
    stale.write_bytes(b"left by an earlier run")  # on_starting must empty the directory
    instance = gunicorn(
        "-w", "2", "--config", "examples/gunicorn.conf.py", target="examples.demo:create_app"
    )
    instance.start(extra_env={"PROMETHEUS_MULTIPROC_DIR": str(stale.parent)}).wait_ready()
    assert not stale.exists()
    for i in range(40):
        assert get(instance.address, f"/hello/{i}").status == 200  # a fresh connection each
    for _ in range(4):  # whichever worker answers the scrape, the totals are the server's
        text = get(instance.address, "/metrics").text
        counts = [
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "http_server_request_duration_seconds_count"
            and sample.labels.get("http_route") == "/hello/{name}"
        ]
        assert sum(counts) == 40, text


def test_row17_a_failed_start_halts_the_arbiter_with_the_boot_error_code(
    gunicorn: Launcher,
) -> None:
    broken = [
        gunicorn(target=f"{APP}:broken_factory").start(),
        gunicorn("--preload", target=f"{APP}:broken_factory").start(),
        gunicorn(target=f"{APP}:not_an_app").start(),
        gunicorn(target=f"{APP}:broken_startup").start(),
    ]
    for instance in broken:
        assert instance.wait(15) == 3, instance.stderr  # gunicorn's WORKER_BOOT_ERROR
        assert "Worker failed to boot" in instance.stderr
    assert "factory failed on purpose" in broken[0].stderr
    assert "not an Application" in broken[2].stderr
    assert "database is down on purpose" in broken[3].stderr


def test_row1_uvloop_worker_runs_on_a_uvloop_loop(gunicorn: Launcher) -> None:
    plain = gunicorn().start()
    uv = gunicorn(worker=UVLOOP_WORKER).start()
    assert plain.wait_ready() and uv.wait_ready()
    assert get(plain.address, "/info").json()["loop"].startswith("asyncio")
    assert get(uv.address, "/info").json()["loop"] == "uvloop"


def _listen_backlogs(port: int) -> list[int]:
    """Send-Q of the listening sockets on ``port``: the backlog for a listener."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return [
        int(fields[2])
        for fields in (line.split() for line in out.splitlines())
        if fields and fields[3].endswith(f":{port}")
    ]


def test_row24_row31_every_listener_kind_and_the_backlog_are_kept(
    gunicorn: Launcher, tmp_path: Path
) -> None:
    port4, port6 = free_port(), free_port()
    unix = str(tmp_path / "g.sock")
    instance = gunicorn(
        "-b",
        f"127.0.0.1:{port4}",
        "-b",
        f"[::1]:{port6}",
        "-b",
        f"unix:{unix}",
        "--backlog",
        "300",
        "--access-logfile",
        "-",
    ).start()
    instance.wait_ready(address=("127.0.0.1", port4))
    assert get(("127.0.0.1", port4), "/info").json()["remote"] == "127.0.0.1"
    assert get(("::1", port6), "/info").json()["remote"] == "::1"
    assert get(unix, "/").text == "ok"  # a unix socket peer has no address
    assert _listen_backlogs(port4) == [300]  # aiohttp's worker shows 128 here, gunicorn asgi 100
    assert _listen_backlogs(port6) == [300]

    def lines() -> list[str]:
        return [line for line in instance.stdout.splitlines() if '"GET / HTTP/1.1"' in line]

    wait_for(lambda: len(lines()) == 2, 5, "the access lines")  # wait_ready's, then the unix one
    assert lines()[-1].startswith("- ")  # REMOTE_ADDR is unknown on a unix socket


def test_row33_reuse_port_each_worker_listens_on_its_own_socket(gunicorn: Launcher) -> None:
    instance = gunicorn("--reuse-port", "-w", "2").start().wait_ready()
    wait_for(lambda: len(_listen_backlogs(instance.port)) == 2, 10, "two listeners")
    pids = {get(instance.address, "/info").json()["pid"] for _ in range(20)}
    assert pids <= set(instance.worker_pids())


def test_row32_systemd_socket_activation(gunicorn: Launcher) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(50)
    port = listener.getsockname()[1]
    instance = gunicorn()
    instance.args = ("-w", "1")  # no -b: the sockets come from systemd
    # systemd hands the socket over as fd 3 with LISTEN_PID set to the service's pid, which
    # only the exec'd process knows: set it just before exec.
    shim = (
        "import os, sys; os.dup2(int(sys.argv[1]), 3); "
        "os.environ['LISTEN_PID'] = str(os.getpid()); os.environ['LISTEN_FDS'] = '1'; "
        "os.execv(sys.executable, [sys.executable, '-m', 'gunicorn', *sys.argv[2:]])"
    )
    args = [instance.target, "-k", instance.worker, "--no-control-socket", "-w", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    err = (instance.tmp / "systemd.err").open("wb")
    instance.proc = subprocess.Popen(
        [sys.executable, "-c", shim, str(listener.fileno()), *args],
        cwd=ROOT,
        env=env,
        pass_fds=(listener.fileno(),),
        stderr=err,
        start_new_session=True,
    )
    instance.name = "systemd"
    listener.close()
    err.close()
    instance.wait_ready(address=("127.0.0.1", port))
    assert get(("127.0.0.1", port), "/").text == "ok"
    assert f"Listening at: http://127.0.0.1:{port}" in instance.stderr
    assert _listen_backlogs(port) == [50]  # systemd's backlog: the worker never re-listens


APP_V1 = """
from runtime import web

async def index(request):
    return web.Response(text="version VERSION")

def create_app():
    app = web.Application()
    app.router.add_get("/", index)
    return app
"""


@pytest.mark.timeout(60)
def test_row16_reload_restarts_on_change_and_serves_a_syntax_error_page(
    gunicorn: Launcher, tmp_path: Path
) -> None:
    module = tmp_path / "reloadable_app.py"
    module.write_text(APP_V1.replace("VERSION", "1"))
    instance = gunicorn("--reload", target="reloadable_app:create_app").start().wait_ready()
    assert get(instance.address).text == "version 1"

    def serves(text: str) -> bool:
        try:
            return text in get(instance.address, timeout=2).text
        except OSError:
            return False

    time.sleep(1.1)  # the poll reloader compares mtimes at one-second resolution
    module.write_text(APP_V1.replace("VERSION", "2"))
    wait_for(lambda: serves("version 2"), 15, "the reloaded app")
    time.sleep(1.1)
    module.write_text(APP_V1.replace("VERSION", "3") + "\ndef broken(:\n")
    wait_for(lambda: serves("SyntaxError"), 15, "the error page")
    reply = get(instance.address)
    assert reply.status == 500 and "Application failed to load" in reply.text
    time.sleep(1.1)
    module.write_text(APP_V1.replace("VERSION", "4"))
    wait_for(lambda: serves("version 4"), 15, "the fixed app")
    assert instance.proc is not None and instance.proc.poll() is None
    instance.signal(signal.SIGTERM)
    assert instance.wait(10) == 0
