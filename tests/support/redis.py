"""A real ``redis-server`` for the cluster tests: one process on a free loopback port.

No persistence (``--save "" --appendonly no``), its working directory and log in a temp
directory, its own session so a test can end it with one signal. It can be stopped and
started again on the same port (a Redis outage as the workers see it), or SIGKILLed. The
command helpers open a fresh connection per call, so they work across a restart and from
sync and async tests alike (a loopback round trip is short enough to block a test's loop).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio
import redis.asyncio.retry
import redis.retry
from redis.backoff import NoBackoff

REDIS_SERVER = shutil.which("redis-server") or next(
    (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)),
    None,
)

needs_redis = pytest.mark.skipif(
    REDIS_SERVER is None, reason="redis-server is not installed (apt-get install redis-server)"
)

# How often a fresh port is tried when another process took the one we picked.
_PORT_ATTEMPTS = 5


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` bound to ``binds`` (first one: the address of :attr:`url`).

    ``port`` is picked once, on the first :meth:`start`, and kept, so a restart after
    :meth:`stop` or :meth:`kill` listens where the clients left it. ``args`` are extra
    ``redis-server`` options, e.g. ``("--client-output-buffer-limit", "pubsub 1mb 1mb 0")``.
    """

    def __init__(
        self,
        tmp: Path,
        *,
        binds: Iterable[str] = ("127.0.0.1",),
        port: int | None = None,
        args: Iterable[str] = (),
    ) -> None:
        self.binds = tuple(binds)
        if not self.binds:
            raise ValueError("RedisServer needs at least one bind address")
        self.host = self.binds[0]
        self.port = port
        self.args = tuple(args)
        self.dir = tmp
        self.dir.mkdir(parents=True, exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    # -- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self.port is not None, "start() first"
        return f"redis://{self.host}:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.dir / "redis.log"

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> RedisServer:
        """Start (or start again, on the same port) and wait until it answers PING."""
        if self.running:
            raise RuntimeError("redis-server is already running")
        if self.port is not None:
            self._spawn()
            self._wait_ready(timeout)
            return self
        # First start: a port picked by binding port 0 may be taken by someone else before
        # redis binds it; then pick another.
        for attempt in range(_PORT_ATTEMPTS):
            self.port = _free_port(self.host)
            self._spawn()
            try:
                self._wait_ready(timeout)
                return self
            except AssertionError:
                if "Address already in use" not in self.log or attempt == _PORT_ATTEMPTS - 1:
                    raise
                self.port = None
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM and wait: Redis closes its clients' connections and exits."""
        self._signal_and_wait(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """SIGKILL: the connections just drop, as in a crash."""
        self._signal_and_wait(signal.SIGKILL, 10.0)

    def restart_after(self, seconds: float) -> None:
        """An outage of ``seconds``: stop, sleep, start again on the same port."""
        self.stop()
        time.sleep(seconds)
        self.start()

    def _spawn(self) -> None:
        assert REDIS_SERVER is not None, "redis-server is not installed"
        cmd = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", *self.binds,
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--dir", str(self.dir),
            "--logfile", str(self.log_path),
            *self.args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd,
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"redis-server exited with {self.proc.returncode}:\n{self.log[-2000:]}"
                )
            try:
                if self.command("PING") in (True, b"PONG", "PONG"):
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                self._signal_and_wait(signal.SIGKILL, 5.0)
                raise AssertionError(f"redis-server did not answer PING:\n{self.log[-2000:]}")
            time.sleep(0.02)

    def _signal_and_wait(self, signum: int, timeout: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            self.proc.wait(5)

    # -- commands ------------------------------------------------------------------------

    def client(self, **kwargs: Any) -> redis.Redis:
        """A sync redis-py client (the caller closes it); strings decoded."""
        assert self.port is not None, "start() first"
        kwargs.setdefault("socket_timeout", 5.0)
        kwargs.setdefault("decode_responses", True)
        # No retries: redis-py retries a refused connection with backoff by default, and a
        # test asking a stopped server wants the error at once.
        kwargs.setdefault("retry", redis.retry.Retry(NoBackoff(), 0))
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def async_client(self, **kwargs: Any) -> redis.asyncio.Redis:
        """An asyncio redis-py client (the caller closes it with ``aclose()``)."""
        assert self.port is not None, "start() first"
        kwargs.setdefault("socket_timeout", 5.0)
        kwargs.setdefault("decode_responses", True)
        kwargs.setdefault("retry", redis.asyncio.retry.Retry(NoBackoff(), 0))
        return redis.asyncio.Redis(host=self.host, port=self.port, **kwargs)

    def command(self, *args: Any) -> Any:
        """One command on a fresh connection: ``server.command("XLEN", "berth:control")``."""
        with self.client(socket_connect_timeout=2.0) as conn:
            return conn.execute_command(*args)

    def client_list(self) -> list[dict[str, str]]:
        """``CLIENT LIST`` parsed: one dict per connection (``id``, ``addr``, ``name``,
        ``sub``, ``ssub``, ``psub``, ``cmd``, ``flags``, ...), this helper's own left out."""
        with self.client() as conn:
            own = str(conn.client_id())
            return [c for c in conn.client_list() if c.get("id") != own]

    def subscribers(self) -> list[dict[str, str]]:
        """The connections in pub/sub mode (channel, pattern or shard subscriptions)."""
        return [c for c in self.client_list() if _subscriptions(c) > 0 or "P" in c["flags"]]

    def client_kill(self, *, addr: str | None = None, laddr: str | None = None) -> int:
        """``CLIENT KILL ADDR ...`` (or ``LADDR``): how many connections were cut."""
        args: list[str] = []
        if addr is not None:
            args += ["ADDR", addr]
        if laddr is not None:
            args += ["LADDR", laddr]
        if not args:
            raise ValueError("client_kill needs addr or laddr")
        return int(self.command("CLIENT", "KILL", *args))

    def kill_connections_of(self, pid_ports: Iterable[int]) -> int:
        """Cut every connection whose client port is in ``pid_ports`` (see
        :func:`local_ports_of`): a blip as one process sees it, the others unaffected."""
        ports = set(pid_ports)
        killed = 0
        for entry in self.client_list():
            host, _, port = entry["addr"].rpartition(":")
            if int(port) in ports:
                with contextlib.suppress(redis.ResponseError):
                    killed += self.client_kill(addr=f"{host}:{port}")
        return killed


def _subscriptions(entry: dict[str, str]) -> int:
    return sum(int(entry.get(key, "0")) for key in ("sub", "psub", "ssub"))


def local_ports_of(pid: int, remote_port: int) -> set[int]:
    """The local ports of ``pid``'s TCP connections to ``remote_port`` (from /proc): which
    of the Redis server's clients belong to one worker process."""
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports: set[int] = set()
    for table in ("tcp", "tcp6"):
        with contextlib.suppress(OSError):
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
            for line in lines:
                fields = line.split()
                local, remote, inode = fields[1], fields[2], fields[9]
                if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == remote_port:
                    ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports
