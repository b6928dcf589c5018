"""Real gunicorn processes for the worker tests, and small HTTP clients to talk to them.

Every instance runs in a session of its own (``start_new_session``), so the fixture that
started it can end it and any worker it left behind with one ``killpg`` on its own id.
Each gets a free port (or a unix socket under the test's tmp_path) and
``--no-control-socket`` (gunicorn's default control socket path is shared per user).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from multidict import CIMultiDict

from tests.support import Reply, recv_until_closed

ROOT = Path(__file__).resolve().parents[2]
WORKER = "runtime.workers.GunicornWebWorker"
UVLOOP_WORKER = "runtime.workers.GunicornUVLoopWebWorker"
APP = "tests.workers.apps.app"
HOOKS = "python:tests.workers.apps.hooks"

Address = tuple[str, int] | str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def connect(address: Address, timeout: float = 5) -> http.client.HTTPConnection:
    if isinstance(address, str):
        return UnixHTTPConnection(address, timeout)
    return http.client.HTTPConnection(address[0], address[1], timeout=timeout)


def read_reply(conn: http.client.HTTPConnection) -> Reply:
    response = conn.getresponse()
    body = response.read()
    return Reply(response.status, CIMultiDict(response.getheaders()), body)


def get(
    address: Address, path: str = "/", headers: dict[str, str] | None = None, timeout: float = 5
) -> Reply:
    conn = connect(address, timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        return read_reply(conn)
    finally:
        conn.close()


def raw_exchange(address: Address, data: bytes, timeout: float = 5) -> bytes:
    """Send ``data`` and read until the server closes."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(data)
        return recv_until_closed(sock)


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


class Gunicorn:
    """One gunicorn master (``-w 1`` unless told otherwise) serving ``target``.

    Without ``-b`` it binds 127.0.0.1 on a free port; ``{port}`` in an argument stands for
    that port (``-b 127.0.0.1:{port} -b unix:/tmp/x.sock``).
    """

    def __init__(self, tmp: Path, target: str, args: tuple[str, ...], worker: str) -> None:
        self.port = free_port()
        self.address: Address = ("127.0.0.1", self.port)
        self.tmp = tmp
        self.target = target
        self.args = args
        self.worker = worker
        self.name = f"g{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, extra_env: dict[str, str] | None = None) -> Gunicorn:
        args = [arg.replace("{port}", str(self.port)) for arg in self.args]
        if "-b" not in args and not any(a.startswith("--bind") for a in args):
            args += ["-b", f"127.0.0.1:{self.port}"]
        if "-w" not in args:
            args += ["-w", "1"]
        for option, value in (("--graceful-timeout", "5"), ("--timeout", "10")):
            if option not in args:
                args += [option, value]
        cmd = [sys.executable, "-m", "gunicorn", self.target, "-k", self.worker]
        cmd += ["--no-control-socket", *args]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(self.tmp)])}
        env.update(extra_env or {})
        with (
            (self.tmp / f"{self.name}.out").open("wb") as out,
            (self.tmp / f"{self.name}.err").open("wb") as err,
        ):
            self.proc = subprocess.Popen(
                cmd, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
            )
        return self

    @property
    def stderr(self) -> str:
        return (self.tmp / f"{self.name}.err").read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return (self.tmp / f"{self.name}.out").read_text(errors="replace")

    def wait_ready(self, timeout: float = 15, address: Address | None = None) -> Gunicorn:
        """Poll until the server answers ``GET /`` (or fail with its stderr)."""
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"gunicorn exited with {self.proc.returncode}:\n{self.stderr}")
            try:
                get(address or self.address, "/", timeout=2)
                return self
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"gunicorn did not start:\n{self.stderr}") from None
                time.sleep(0.05)

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"gunicorn still running:\n{self.stderr}") from None

    def kill(self) -> None:
        """End this instance and whatever is left in its session (orphaned workers)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)

    def worker_pids(self) -> list[int]:
        """The master's children, from /proc (the workers)."""
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        try:
            return [int(pid) for pid in children.read_text().split()]
        except OSError:
            return []


class Launcher:
    """What the ``gunicorn`` fixture hands out: starts instances, kills them all at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.instances: list[Gunicorn] = []

    def __call__(
        self, *args: str, target: str = f"{APP}:create_app", worker: str = WORKER
    ) -> Gunicorn:
        instance = Gunicorn(self.tmp, target, args, worker)
        self.instances.append(instance)
        return instance

    def close(self) -> None:
        for instance in self.instances:
            instance.kill()


@contextlib.contextmanager
def launcher(tmp: Path) -> Iterator[Launcher]:
    launch = Launcher(tmp)
    try:
        yield launch
    finally:
        launch.close()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
