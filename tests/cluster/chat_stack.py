"""The reference chat (``examples/cluster_chat.py``) deployed for real on one machine.

Each "host" is a gunicorn master with ``GunicornWebWorker`` workers, started from a
gunicorn.conf.py rendered by ``runtime.deploy`` with ``--bind ADDRESS:PORT --redis-url URL``
(so the Redis URL reaches the workers the way it does in production: the rendered config,
not the test's environment). Hosts sit on their own loopback addresses (Linux routes all of
127.0.0.0/8 to ``lo``) and share nothing but one ``redis-server``. nginx in front is rendered
with ``--upstream`` once per host, as in docs/deploy.md section 8.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import signal
import socket
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

from runtime.deploy import DeploySettings, render_file
from tests.deploy.tools import (
    GUNICORN,
    ROOT,
    free_port,
    nginx_cmd,
    nginx_main_conf,
    python_env,
    stop_process,
    wait_for,
)

APP = "examples.cluster_chat:create_app"


@dataclasses.dataclass
class Host:
    """One gunicorn master (in its own session, so the whole host can be killed at once)."""

    address: str
    port: int
    directory: Path
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}"

    def worker_pids(self) -> set[int]:
        """The master's children, from /proc."""
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return {int(pid) for pid in path.read_text().split()}
        except OSError:
            return set()

    def log(self) -> str:
        path = self.directory / "gunicorn.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return f"--- {self.address} gunicorn.log\n{text[-6000:]}"

    def kill_all(self) -> None:
        """SIGKILL to the host's process group: the master and every worker, no cleanup."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)


@dataclasses.dataclass
class Stack:
    hosts: list[Host]
    nginx: subprocess.Popen[bytes]
    nginx_port: int
    directory: Path

    @property
    def url(self) -> str:
        """nginx, where the clients go."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def host_of(self, worker_pid: int) -> Host:
        for host in self.hosts:
            if worker_pid in host.worker_pids():
                return host
        raise AssertionError(f"pid {worker_pid} is no worker of any host")

    def log(self) -> str:
        parts = [host.log() for host in self.hosts]
        for name in ("error.log", "nginx.out"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- nginx {name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def shared_port(addresses: Sequence[str]) -> int:
    """A port free on every one of ``addresses`` (the hosts listen on the same number)."""
    for _ in range(20):
        with socket.socket() as first:
            first.bind((addresses[0], 0))
            port = int(first.getsockname()[1])
            try:
                for address in addresses[1:]:
                    with socket.socket() as other:
                        other.bind((address, port))
            except OSError:
                continue
            return port
    raise AssertionError(f"no port free on all of {addresses}")


def _get(base: str, path: str) -> int:
    host, _, port = base.removeprefix("http://").rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def _serving(base: str, procs: Sequence[subprocess.Popen[bytes]]) -> bool:
    for proc in procs:
        if proc.poll() is not None:
            raise RuntimeError(f"a process exited with {proc.returncode}")
    with contextlib.suppress(OSError, http.client.HTTPException):
        return _get(base, "/") == 200
    return False


def start_host(
    directory: Path, address: str, port: int, redis_url: str, *, workers: int, ttl: float
) -> Host:
    """A gunicorn master on ``address:port`` with ``workers`` workers, from rendered files."""
    directory.mkdir(parents=True)
    (directory / "run").mkdir()
    settings = DeploySettings(
        f"chat-{address.replace('.', '-')}",
        app=APP,
        bind=f"{address}:{port}",
        redis_url=redis_url,
        workers=workers,
        runtime_dir=str(directory / "run"),
        graceful_timeout=5,
        log_format="console",
    )
    config = directory / "gunicorn.conf.py"
    config.write_text(render_file("gunicorn", settings)[1])
    env = python_env()
    env.pop("REDIS_URL", None)  # the rendered config must provide it
    env.pop("WEB_CONCURRENCY", None)
    env["CLUSTER_PRESENCE_TTL"] = str(ttl)
    with (directory / "gunicorn.log").open("wb") as out:
        proc = subprocess.Popen(
            [str(GUNICORN), "--config", str(config), "--no-control-socket"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Host(address, port, directory, proc)


def _start_nginx(directory: Path, upstreams: Sequence[str]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    settings = DeploySettings(
        "chat",
        upstreams=tuple(upstreams),
        listen=(f"127.0.0.1:{port}",),
        server_name="localhost",
        static_root="",
        accel_root="",
    )
    site = directory / "site.conf"
    site.write_text(render_file("nginx", settings)[1])
    conf = nginx_main_conf(directory, site)
    with (directory / "nginx.out").open("wb") as out:
        proc = subprocess.Popen(nginx_cmd(conf, directory), stdout=out, stderr=subprocess.STDOUT)
    return proc, port


def _stop_host(host: Host) -> None:
    stop_process(host.proc, timeout=10)
    # Workers left behind by a master that died first.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(host.proc.pid, signal.SIGKILL)


@contextlib.contextmanager
def chat_stack(
    directory: Path,
    redis_url: str,
    addresses: Sequence[str],
    *,
    workers: int = 2,
    ttl: float = 15.0,
) -> Iterator[Stack]:
    """Hosts on ``addresses`` (one port number for all) behind one nginx; all stopped after."""
    port = shared_port(addresses)
    hosts: list[Host] = []
    nginx: subprocess.Popen[bytes] | None = None
    try:
        for address in addresses:
            host_dir = directory / f"host-{address}"
            hosts.append(start_host(host_dir, address, port, redis_url, workers=workers, ttl=ttl))
        nginx_dir = directory / "nginx"
        nginx_dir.mkdir()
        nginx, nginx_port = _start_nginx(nginx_dir, [f"{a}:{port}" for a in addresses])
        stack = Stack(hosts, nginx, nginx_port, nginx_dir)
        try:
            for host in hosts:
                wait_for(lambda h=host: _serving(h.url, [h.proc]), 30, f"gunicorn on {host.url}")
                wait_for(lambda h=host: len(h.worker_pids()) == workers, 30, "the workers")
            wait_for(lambda: _serving(stack.url, [nginx]), 20, "nginx")
        except Exception:
            print(stack.log())
            raise
        yield stack
    finally:
        if nginx is not None:
            stop_process(nginx)
        for host in hosts:
            _stop_host(host)
