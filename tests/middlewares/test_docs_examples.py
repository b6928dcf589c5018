"""Each middleware page's example, copied as a user would, runs under the gunicorn worker.

Issue 7's bar: "a user can copy each docs page's example into an app factory and it works
under the gunicorn worker". The first ``python`` block of each page is written to a module
and served by ``gunicorn -k runtime.workers.GunicornWebWorker``; one request shows the
middleware at work.
"""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = ROOT / "docs" / "middlewares"

# page -> (method, path, request headers, (header, expected value) or status)
CHECKS: dict[str, tuple[str, str, dict[str, str], tuple[str, str] | int]] = {
    # The example trusts nginx on 127.0.0.1, which always sends X-Forwarded-For.
    "access_logging": (
        "GET",
        "/healthz",
        {"X-Request-ID": "a" * 32, "X-Forwarded-For": "203.0.113.9"},
        ("X-Request-ID", "a" * 32),
    ),
    "compression": ("GET", "/report", {"Accept-Encoding": "br"}, ("Content-Encoding", "br")),
    "deprecation": ("GET", "/v1/items", {}, ("Deprecation", "@1790812800")),  # 2026-10-01
    "metrics": (
        "GET",
        "/metrics",
        {},
        ("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
    ),
    "proxy": ("GET", "/", {"Host": "evil.org"}, 400),
    "stash": ("GET", "/me", {"Cookie": "session=ada"}, 200),
    # A caller's trace continues here; the default providers are OpenTelemetry's no-ops.
    "tracing": (
        "GET",
        "/hello",
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
        200,
    ),
}

pytestmark = pytest.mark.slow


def first_example(page: Path) -> str:
    blocks = re.findall(r"```python\n(.*?)```", page.read_text(), re.S)
    assert blocks and "def create_app" in blocks[0], f"{page.name}: no app factory example"
    return str(blocks[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_every_page_is_checked() -> None:
    assert {p.stem for p in PAGES.glob("*.md")} == set(CHECKS)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_runs_under_the_gunicorn_worker(name: str, tmp_path: Path) -> None:
    module = f"example_{name}"
    (tmp_path / f"{module}.py").write_text(first_example(PAGES / f"{name}.md"))
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            f"{module}:create_app",
            "--worker-class",
            "runtime.workers.GunicornWebWorker",
            "--bind",
            f"127.0.0.1:{port}",
            "--no-control-socket",
            "--graceful-timeout",
            "3",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        method, path, headers, expected = CHECKS[name]
        deadline = time.monotonic() + 20
        while True:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                conn.request(method, path, headers=headers)
                response = conn.getresponse()
                response.read()
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "gunicorn did not answer"
                time.sleep(0.1)
            finally:
                conn.close()
        if isinstance(expected, int):
            assert response.status == expected
        else:
            # 410 Gone is the deprecation example's answer once its sunset date has passed.
            assert response.status < 400 or (name == "deprecation" and response.status == 410)
            header, value = expected
            assert response.getheader(header) == value
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            _, err = proc.communicate()
    assert "Traceback" not in err, err
