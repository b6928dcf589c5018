"""``python -m runtime``: loading entry points, serving, stopping gracefully, failing clearly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(entry: str, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "runtime", entry, "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def get(port: int, path: str = "/") -> bytes:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                return bytes(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.parametrize(
    "entry",
    [
        "tests.apps.cli_apps:instance",
        "tests.apps.cli_apps:sync_factory",
        "tests.apps.cli_apps:async_factory",
    ],
)
def test_serves_instances_and_factories_then_stops_on_sigint(entry: str) -> None:
    port = free_port()
    proc = start(entry, port)
    try:
        assert get(port) == b"hello"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert f"Running on http://127.0.0.1:{port}" in out


def test_sigterm_is_graceful_too() -> None:
    port = free_port()
    proc = start("tests.apps.cli_apps:instance", port)
    try:
        get(port)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0


@pytest.mark.parametrize(
    ("entry", "code", "message"),
    [
        ("tests.apps.cli_apps", 2, "Expected 'package.module:app_or_factory'"),
        ("tests.apps.missing:app", 2, "No module named 'tests.apps.missing'"),
        ("tests.apps.cli_apps:nothing", 2, "has no attribute 'nothing'"),
        ("tests.apps.cli_apps:not_an_app", 3, "not an Application"),
        ("tests.apps.cli_apps:broken_startup", 3, "database is down"),
    ],
)
def test_failures_exit_with_a_clear_message(entry: str, code: int, message: str) -> None:
    proc = start(entry, free_port())
    try:
        _, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == code
    assert message in err
