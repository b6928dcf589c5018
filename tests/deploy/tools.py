"""Real nginx and systemd-analyze for the deploy tests: config wrappers, runs, process care."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.deploy import DeploySettings, render_file

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
)
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
MIME_TYPES = Path("/etc/nginx/mime.types")

needs_nginx = pytest.mark.skipif(
    NGINX is None, reason="nginx is not installed (apt-get install nginx)"
)
needs_systemd_analyze = pytest.mark.skipif(
    SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed (apt-get install systemd)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_main_conf(prefix: Path, site: Path) -> Path:
    """A minimal nginx.conf around a rendered site: everything nginx writes stays in
    ``prefix`` (pid, temp files, logs), so it runs unprivileged and in parallel."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / name).mkdir(exist_ok=True)
    types = f"include {MIME_TYPES};" if MIME_TYPES.exists() else "types { text/plain txt; }"
    # As root, nginx's workers would switch to "nobody" and lose access to our temp files.
    user = "user root;\n" if os.geteuid() == 0 else ""
    text = f"""{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
worker_processes 1;
daemon off;
events {{ worker_connections 256; }}
http {{
    {types}
    default_type application/octet-stream;
    access_log {prefix}/access.log;
    sendfile on;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


def nginx_cmd(conf: Path, prefix: Path, *extra: str) -> list[str]:
    assert NGINX is not None
    # -e: the error log used before the configuration is read (nginx >= 1.19.5).
    return [NGINX, "-e", str(prefix / "startup.log"), "-p", str(prefix), "-c", str(conf), *extra]


def nginx_test(site_text: str, prefix: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a rendered site wrapped in :func:`nginx_main_conf`."""
    prefix.mkdir(parents=True, exist_ok=True)
    site = prefix / "site.conf"
    site.write_text(site_text)
    conf = nginx_main_conf(prefix, site)
    return subprocess.run(
        nginx_cmd(conf, prefix, "-t", "-q"), capture_output=True, text=True, timeout=30
    )


def systemd_verify(*units: Path) -> subprocess.CompletedProcess[str]:
    assert SYSTEMD_ANALYZE is not None
    return subprocess.run(
        [SYSTEMD_ANALYZE, "verify", "--man=no", *map(str, units)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def render_to(directory: Path, kind: str, settings: DeploySettings) -> Path:
    filename, text = render_file(kind, settings)
    path = directory / filename
    path.write_text(text)
    return path


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if callable(predicate) and predicate():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def connectable(path_or_port: Path | int) -> bool:
    family = socket.AF_UNIX if isinstance(path_or_port, Path) else socket.AF_INET
    address: str | tuple[str, int] = (
        str(path_or_port) if isinstance(path_or_port, Path) else ("127.0.0.1", path_or_port)
    )
    with socket.socket(family) as sock:
        try:
            sock.connect(address)
        except OSError:
            return False
        return True


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15
) -> None:
    """Stop a process we started, by its pid; SIGKILL if it does not go in time."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def python_env() -> dict[str, str]:
    """The environment for child processes: the repository importable, no stray sockets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "NOTIFY_SOCKET"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


GUNICORN = Path(sys.executable).with_name("gunicorn")
