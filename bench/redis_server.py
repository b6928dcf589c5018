"""A real ``redis-server`` for the scenarios whose servers need one (``fanout``): one process
on a free loopback port for the whole run, shared by every server that asks for it.

No persistence (``--save "" --appendonly no``): the fan-out pays for pub/sub and the cluster's
streams, never for a disk. Its own process group, pinned to the server CPUs (Redis is part of
the pipeline being measured), its output in the run's log folder, stopped with the servers.

Standard library only: this runs under whatever Python starts ``bench/run.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.apt import ensure_installed
from bench.cpus import pin
from bench.plan import BenchError
from bench.servers import HOST

READY_TIMEOUT_S = 10.0


def find_redis_server() -> str:
    """redis-server's path, installing Debian's package first when it is missing."""
    return ensure_installed("redis-server", "redis-server")


def ping(port: int, timeout: float = 1.0) -> bool:
    """Whether Redis answers ``PING`` on ``port`` with ``+PONG`` (RESP, inline command)."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@dataclass
class RedisServer:
    """One redis-server: ``start()``, ``url``, ``pgid``, ``stop()``."""

    executable: str
    port: int
    log_dir: Path
    cpus: str | None
    proc: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def pgid(self) -> int | None:
        """Its process group (its own session: the pid), while it runs."""
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def argv(self) -> list[str]:
        return pin(
            self.cpus,
            [
                self.executable,
                "--bind",
                HOST,
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.log_dir),
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                "--loglevel",
                "warning",
            ],
        )

    def start(self) -> None:
        """Start it and wait until it answers PING; BenchError when it does not."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log = (self.log_dir / "redis-server.log").open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if ping(self.port):
                return
            time.sleep(0.05)
        self.stop()
        raise BenchError(
            f"redis-server did not answer on {HOST}:{self.port}; see "
            f"{self.log_dir / 'redis-server.log'}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None
