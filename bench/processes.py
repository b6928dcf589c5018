"""Server processes: each started from its command line in its own process group, pinned to
the server CPUs, its output in a log file; ready once it answers HTTP; stopped as a whole
group (gunicorn's workers too).

Standard library only: this runs under whatever Python starts ``bench/run.py``; the servers
run under the bench venv's interpreter.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench.cpus import pin
from bench.hot_path import HotPathError, verify
from bench.paths import ROOT
from bench.report import log
from bench.servers import HOST, NO_EXTENSIONS, Server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file ("" if there is none)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def server_env() -> dict[str, str]:
    """The environment of every server: ours, with the repository root importable (the apps
    are ``bench.apps.*``) and unbuffered output for the logs. ``BERTH_NO_EXTENSIONS`` is not
    passed on: which hot path a Berth server runs is its name's business (``Server.env`` of
    the ``*-pure`` servers), not the shell's that started the run."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop(NO_EXTENSIONS, None)
    return env


def command(
    server: Server, python: Path, port: int, cpus: str | None, extra: Sequence[str] = ()
) -> list[str]:
    """The server's command line for ``port``, with ``extra`` options, pinned to ``cpus``."""
    fields = {"python": str(python), "bin": str(python.parent), "host": HOST, "port": str(port)}
    return pin(cpus, [*(part.format(**fields) for part in server.argv), *extra])


@dataclass
class ServerProcess:
    """A server started in its own process group; ``stop()`` ends the whole group."""

    server: Server
    argv: list[str]
    port: int
    log_path: Path
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    error: str | None = None
    ready_after: float | None = None
    # Berth's ``python -m runtime --version`` line in this environment (bench/hot_path.py).
    hot_path: str | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: killpg reaches gunicorn's workers too
        )

    @property
    def pgid(self) -> int | None:
        """The process group (start_new_session: the leader's pid), while it runs."""
        return self.proc.pid if self.alive() and self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def exit_description(self) -> str:
        code = self.proc.returncode if self.proc else None
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _answers(self) -> None:
        """One GET of the ready path; any HTTP response will do."""
        conn = http.client.HTTPConnection(HOST, self.port, timeout=1.0)
        try:
            conn.request("GET", self.server.ready_path)
            conn.getresponse().read()
        finally:
            conn.close()

    def wait_ready(self, timeout: float) -> bool:
        """Poll until any HTTP response on the ready path, the process dies, or timeout."""
        started = time.monotonic()
        deadline = started + timeout
        last_problem = "no answer"
        while time.monotonic() < deadline:
            if not self.alive():
                last_line = tail(self.log_path, 1)
                self.error = f"exited before becoming ready ({self.exit_description()})" + (
                    f": {last_line}" if last_line else ""
                )
                return False
            try:
                self._answers()
            except (OSError, http.client.HTTPException) as exc:
                last_problem = f"{type(exc).__name__}: {exc}"
                time.sleep(0.1)
                continue
            self.ready_after = time.monotonic() - started
            return True
        self.error = f"not ready within {timeout:g} s (last attempt: {last_problem})"
        return False

    def stop(self) -> None:
        if self.proc is None or self._stopped:
            return
        self._stopped = True
        pgid = self.proc.pid  # start_new_session: the leader's pid is the group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        # The leader may be gone while children of the group linger: sweep them too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None


def start_all(
    servers: Iterable[Server],
    *,
    python: Path,
    cpus: str | None,
    log_dir: Path,
    ready_timeout: float | None,
    stack: contextlib.ExitStack,
    redis_url: str | None = None,
) -> dict[str, ServerProcess]:
    """Start every server at once on a free port, then wait until each is ready; one that is
    not gets its ``error`` and the tail of its log printed, and is stopped. A Berth server
    whose interpreter would run the other hot path than its name says is not started at all
    (its ``error`` says why, bench/hot_path.py). ``stack`` stops them all at the end (also on
    an interruption). A server that needs Redis gets ``redis_url`` as ``REDIS_URL``."""
    env = server_env()
    processes: dict[str, ServerProcess] = {}
    for server in servers:
        port = free_port()
        process = ServerProcess(
            server=server,
            argv=command(server, python, port, cpus),
            port=port,
            log_path=log_dir / f"{server.name}.log",
            env={
                **env,
                **server.env,
                **({"REDIS_URL": redis_url} if server.redis and redis_url else {}),
            },
        )
        stack.callback(process.stop)
        processes[server.name] = process
        try:
            process.hot_path = verify(server, python, process.env)
        except HotPathError as exc:
            process.error = str(exc)
            log(f"  ERROR {server.name}: {process.error}")
            continue  # never started: its cells fail with this error
        mode = f" ({process.hot_path})" if process.hot_path else ""
        log(f"starting {server.name}{mode} on {HOST}:{port}: {' '.join(process.argv)}")
        process.start()
    for name, process in processes.items():
        if process.error:
            continue
        timeout = ready_timeout or process.server.ready_timeout
        if process.wait_ready(timeout):
            log(f"  {name} ready after {process.ready_after:.1f} s")
        else:
            log(f"  ERROR {name}: {process.error}; log {process.log_path}:")
            for line in tail(process.log_path).splitlines():
                log(f"    | {line}")
            process.stop()
    return processes
