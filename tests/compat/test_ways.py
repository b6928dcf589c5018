"""The three ways into the aiohttp compatibility mode, each serving the untouched aiohttp
application (tests/compat/apps/ported.py) through real processes and real HTTP: a call at
the top of the app module, python -m runtime --aiohttp-compat (once and with --reload), and
gunicorn's -k runtime.workers.GunicornAiohttpCompatWorker (with and without --preload)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.harness import Address, free_port, get, launcher

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PORTED = "tests.compat.apps.ported:create_app"
COMPAT_WORKER = "runtime.workers.GunicornAiohttpCompatWorker"


def assert_served_by_berth(address: Address) -> None:
    """The pages of the ported application, answered by Berth's objects."""
    reply = get(address, "/")
    assert reply.status == 200
    assert reply.body == b"runtime.web.request aiohttp.client"  # the client stays aiohttp's
    reply = get(address, "/view")
    assert reply.body == b"<h1>view</h1><p>root of berth at /view</p>"
    reply = get(address, "/sub/page")
    assert reply.body == b"<h1>root</h1><p>sub of berth at /sub/page</p>"
    reply = get(address, "/refuse")
    assert reply.status == 405
    assert reply.headers["Allow"] == "POST"


@contextlib.contextmanager
def python_m_runtime(*args: str) -> Iterator[tuple[subprocess.Popen[str], Address]]:
    port = free_port()
    command = [sys.executable, "-m", "runtime", *args, "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        yield proc, ("127.0.0.1", port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)


def wait_ready(proc: subprocess.Popen[str], address: Address, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"exited with {proc.returncode}: {proc.communicate()[1]}")
        try:
            get(address, "/", timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_the_app_module_installs_it() -> None:
    with python_m_runtime("tests.compat.apps.self_installing:create_app") as (proc, address):
        wait_ready(proc, address)
        assert_served_by_berth(address)


def test_python_m_runtime_aiohttp_compat() -> None:
    with python_m_runtime("--aiohttp-compat", PORTED) as (proc, address):
        wait_ready(proc, address)
        assert_served_by_berth(address)


def test_python_m_runtime_aiohttp_compat_with_reload(tmp_path: Path) -> None:
    args = ("--aiohttp-compat", "--reload", "--reload-dir", str(tmp_path), PORTED)
    with python_m_runtime(*args) as (proc, address):
        wait_ready(proc, address)
        assert_served_by_berth(address)


def test_without_the_mode_the_error_names_it() -> None:
    with python_m_runtime(PORTED) as (proc, _):
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 3
    assert "aiohttp's Application: serve it in the aiohttp compatibility mode" in err
    assert "--aiohttp-compat" in err


@pytest.mark.parametrize("preload", [False, True], ids=["per-worker", "preload"])
def test_gunicorn_compat_worker(tmp_path: Path, preload: bool) -> None:
    args = ("--preload",) if preload else ()
    with launcher(tmp_path) as launch:
        instance = launch(*args, target=PORTED, worker=COMPAT_WORKER).start().wait_ready()
        assert_served_by_berth(instance.address)
