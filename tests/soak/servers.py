"""One real gunicorn master per run, its workers in /proc, and the process limits.

Each master runs in a session of its own (``start_new_session``) and is stopped through its
own pid (SIGTERM, then SIGKILL to its own process group only if it does not exit). Its output
goes to files in the run's log directory, shown when something goes wrong.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = Path(__file__).resolve().parent
HOST = "127.0.0.1"
SERVERS = ("berth", "aiohttp")

WORKER_CLASSES = {
    ("berth", False): "runtime.workers.GunicornWebWorker",
    ("berth", True): "runtime.workers.GunicornUVLoopWebWorker",
    ("aiohttp", False): "aiohttp.worker.GunicornWebWorker",
    ("aiohttp", True): "aiohttp.worker.GunicornUVLoopWebWorker",
}


class ServerError(Exception):
    """gunicorn did not come up (the message carries the end of its log)."""


def raise_fd_limit(wanted: int = 65536) -> int:
    """Raise this process's RLIMIT_NOFILE towards ``wanted`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- /proc ----------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The live child processes of ``pid``."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return sorted(int(p) for p in text.split())
    except (OSError, ValueError):
        pass
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state ppid ...
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return sorted(found)


def fd_count(pid: int) -> int | None:
    """Open descriptors of a process, None if it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


# --- gunicorn -------------------------------------------------------------------------------------


@dataclass
class Options:
    """The gunicorn command line of a run (the scenarios fill in what they need)."""

    workers: int = 2
    worker_connections: int = 1000
    keepalive: int | None = None  # gunicorn's default (2 s) when None
    graceful_timeout: int | None = None  # gunicorn's default (30 s) when None
    uvloop: bool = False
    berth_root: Path | None = None  # another checkout of Berth to serve with


class Gunicorn:
    """One gunicorn master serving ``soak_app:app`` with ``server``'s worker class."""

    def __init__(self, server: str, options: Options, log_dir: Path, tag: str = "") -> None:
        if server not in SERVERS:
            raise ValueError(f"unknown server {server!r}")
        self.server = server
        self.options = options
        self.port = free_port()
        self.name = f"{tag or 'run'}-{server}-{self.port}"
        self.log_path = log_dir / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def worker_class(self) -> str:
        return WORKER_CLASSES[(self.server, self.options.uvloop)]

    def command(self) -> list[str]:
        opts = self.options
        cmd = [sys.executable, "-m", "gunicorn", "soak_app:app", "-k", self.worker_class]
        cmd += ["-w", str(opts.workers), "-b", f"{HOST}:{self.port}", "--no-control-socket"]
        cmd += ["--worker-connections", str(opts.worker_connections)]
        if opts.keepalive is not None:
            cmd += ["--keep-alive", str(opts.keepalive)]
        if opts.graceful_timeout is not None:
            cmd += ["--graceful-timeout", str(opts.graceful_timeout)]
        return cmd

    def env(self) -> dict[str, str]:
        code_root = self.options.berth_root or ROOT
        path = [str(code_root), str(APP_DIR)]
        return {**os.environ, "SOAK_SERVER": self.server, "PYTHONPATH": os.pathsep.join(path)}

    def start(self, ready_timeout: float = 30.0) -> Gunicorn:
        """Start the master and wait until all its workers run and ``GET /`` answers."""
        # gunicorn puts its working directory first on sys.path: run it from the code's root
        # so ``runtime`` is imported from there.
        cwd = self.options.berth_root or ROOT
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                cwd=cwd,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            if len(self.worker_pids()) == self.options.workers and self._answers():
                time.sleep(0.5)  # the other worker may still be starting its loop
                return self
            time.sleep(0.1)
        self.stop()
        raise ServerError(f"{self.name} not ready after {ready_timeout:.0f} s:\n{self.tail()}")

    def _answers(self) -> bool:
        try:
            with socket.create_connection((HOST, self.port), timeout=2) as sock:
                sock.sendall(
                    f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
                )
                return sock.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        return children(self.pid) if self.proc is not None else []

    def send_signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """The master's exit code, or None if it still runs after ``timeout`` seconds."""
        assert self.proc is not None
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 40.0) -> int | None:
        """SIGTERM to the master; SIGKILL to its own process group if it is not gone in time."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            if self.wait(timeout) is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.wait(5)
        return self.proc.returncode

    def tail(self, lines: int = 25) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def runtime_origin(self) -> str:
        """Where the server imports its framework from (checks ``--berth-root``)."""
        module = "aiohttp" if self.server == "aiohttp" else "runtime"
        done = subprocess.run(
            [sys.executable, "-c", f"import {module}; print({module}.__file__)"],
            cwd=self.options.berth_root or ROOT,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout.strip() or done.stderr.strip()[-200:]

    def __enter__(self) -> Gunicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
