"""``python -m runtime`` started for real in a directory of the test's own, with its output
in a file, and what the tests ask of it: answers, output lines, its child processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0  # seconds; two shared cores make a reload slow, never this slow

APP = """\
import asyncio

from runtime import web

VERSION = {version!r}


async def index(request: web.Request) -> web.Response:
    return web.Response(text=VERSION)


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("kaboom")


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(1.0)
    return web.Response(text=f"slow {{VERSION}}")


async def loop_debug(request: web.Request) -> web.Response:
    return web.Response(text=str(asyncio.get_running_loop().get_debug()))


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/", index)
    app.router.add_get("/boom", boom)
    app.router.add_get("/slow", slow)
    app.router.add_get("/loop-debug", loop_debug)
    return app
"""


def app_source(version: str) -> str:
    return APP.format(version=version)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def children_of(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, ppid = stat.rpartition(")")[2].split()[:2]
            if int(ppid) == pid and state != "Z":
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for a reaper does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class DevServer:
    """``python -m runtime app:create_app ARGS`` run in ``cwd`` on a free port."""

    def __init__(self, cwd: Path, *args: str, entry: str = "app:create_app") -> None:
        self.port = free_port()
        self.log = cwd / "server.log"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, "-m", "runtime", entry, "-H", "127.0.0.1"),
                    *("-P", str(self.port), "--shutdown-timeout", "5", *args),
                ],
                cwd=cwd,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def get(self, path: str = "/") -> tuple[int, str]:
        """One request on a new connection; waits for the server to listen."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port}{path}", timeout=WAIT
                ) as resp:
                    return resp.status, resp.read().decode()
            except urllib.error.HTTPError as exc:
                return exc.code, exc.read().decode()
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def wait_for_body(self, body: str) -> None:
        deadline = time.monotonic() + WAIT
        while (got := self.get()[1]) != body:
            assert time.monotonic() < deadline, f"still {got!r}\n{self.output()}"
            time.sleep(0.05)

    def wait_for_output(self, text: str, count: int = 1) -> str:
        deadline = time.monotonic() + WAIT
        while (out := self.output()).count(text) < count:
            assert time.monotonic() < deadline, f"no {text!r} in:\n{out}"
            assert self.proc.poll() is None, out
            time.sleep(0.05)
        return out

    def stop(self, sig: signal.Signals = signal.SIGINT) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=WAIT)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
