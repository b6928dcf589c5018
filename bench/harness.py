"""The mechanics: the peers' venv, wrk, server processes, one measured run.

Standard library only: this module runs under whatever Python starts ``bench/run.py``; the
servers run under the bench venv's interpreter.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench import loadgen, ws_wire
from bench.procfs import cpus_busy_seconds, group_cpu_seconds
from bench.suite import HOST, Scenario, Server

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
DEFAULT_VENV = BENCH_DIR / ".venv"
REQUIREMENTS = BENCH_DIR / "requirements.txt"
STAMP_NAME = ".bench-installed"

RESULT_MARKER = loadgen.RESULT_MARKER  # the wrk script's done() prints the same line
PEER_PACKAGES = (
    "aiohttp",
    "uvloop",
    "gunicorn",
    "uvicorn",
    "httptools",
    "starlette",
    "granian",
    "websockets",
    "berth",
)


class BenchError(Exception):
    """A setup problem that stops the whole run (no wrk, no venv)."""


def log(message: str) -> None:
    print(message, flush=True)


def capture(
    argv: Sequence[str], *, timeout: float, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (killed at ``timeout``), its output captured as text."""
    return subprocess.run(
        argv, check=False, capture_output=True, text=True, timeout=timeout, **kwargs
    )


# --- environment ------------------------------------------------------------------------------


def ensure_wrk() -> str:
    """Return wrk's path, installing Debian's package first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        raise BenchError("wrk is not installed and there is no apt-get to install it with")
    if os.geteuid() != 0:
        raise BenchError("wrk is not installed; install it with: sudo apt-get install wrk")
    log("wrk not found: installing it (apt-get install wrk) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        done = capture(cmd, env=env, timeout=600)
        if done.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    found = shutil.which("wrk")
    if not found:
        raise BenchError("apt-get installed wrk but it is not on PATH")
    return found


def wrk_version(wrk: str) -> str:
    output = capture([wrk, "--version"], timeout=10)
    lines = (output.stdout + output.stderr).strip().splitlines()
    return lines[0] if lines else ""


def _install_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(venv: Path, *, install: bool = True) -> Path:
    """Return the venv's python, creating the venv and installing the peers when needed.

    The peers are reinstalled when ``bench/requirements.txt`` or ``pyproject.toml`` changed
    since the last install. With ``install=False`` the venv is used as it is.
    """
    python = venv / "bin" / "python"
    if not install:
        if not python.exists():
            raise BenchError(f"{python} does not exist")
        return python
    stamp = venv / STAMP_NAME
    fingerprint = _install_fingerprint()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == fingerprint:
        return python
    if not python.exists():
        log(f"creating {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    log(f"installing the peers into {venv} (-r {REQUIREMENTS.name}, -e .) ...")
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    cmd += ["-r", str(REQUIREMENTS), "-e", str(ROOT)]
    done = capture(cmd, timeout=900)
    if done.returncode != 0:
        raise BenchError(f"pip install failed:\n{done.stdout}{done.stderr}")
    stamp.write_text(fingerprint + "\n")
    return python


def package_versions(python: Path) -> dict[str, str | None]:
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        out[name] = None\n"
        "print(json.dumps(out))\n"
    )
    done = capture([str(python), "-c", code, *PEER_PACKAGES], timeout=60)
    if done.returncode != 0:
        return {}
    versions: dict[str, str | None] = json.loads(done.stdout)
    version = capture(
        [str(python), "-c", "import platform; print(platform.python_version())"], timeout=60
    )
    versions["python"] = version.stdout.strip()
    return versions


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return ""


def git_describe() -> dict[str, Any]:
    """The commit measured (read-only git calls)."""

    def git(*args: str) -> str | None:
        try:
            done = capture(["git", *args], cwd=ROOT, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def parse_cpu_list(cpus: str) -> set[int]:
    """taskset's list syntax: ``0``, ``0,2``, ``0-3``."""
    out: set[int] = set()
    for part in cpus.split(","):
        low, _, high = part.strip().partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def pin(cpus: str | None, argv: Sequence[str]) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if cpus is not None else list(argv)


# --- servers ----------------------------------------------------------------------------------


def tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 2.0,
) -> tuple[int, bytes]:
    status, _, data = http_exchange(port, method, path, body=body, headers=headers, timeout=timeout)
    return status, data


def http_exchange(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 2.0,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """One request: the status, the response's headers and its body as sent."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, body=body or None, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.headers, response.read()
    finally:
        conn.close()


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
                http_request(self.port, "GET", self.server.ready_path, timeout=1.0)
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


def check_scenario(port: int, scenario: Scenario) -> str | None:
    """One request with http.client (one echoed message for WebSocket): what is wrong, or None."""
    if scenario.kind == "ws" or scenario.websocket:
        return ws_wire.check_echo(port, scenario.path, scenario.body)
    try:
        status, headers, body = http_exchange(
            port, scenario.method, scenario.path, body=scenario.body, headers=scenario.headers
        )
    except (OSError, http.client.HTTPException) as exc:
        return f"{scenario.method} {scenario.path}: {type(exc).__name__}: {exc}"
    request = f"{scenario.method} {scenario.path}"
    if status != scenario.expect_status:
        return f"{request}: status {status}, expected {scenario.expect_status}"
    for name, value in scenario.expect_headers.items():
        if headers.get(name) != value:
            return f"{request}: {name}: {headers.get(name)!r}, expected {value!r}"
    if headers.get("Content-Encoding", "").lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            return f"{request}: gzip body does not decompress: {exc}"
    if scenario.expect_body is not None and body != scenario.expect_body:
        return f"{request}: body {body[:80]!r}, expected {scenario.expect_body[:80]!r}"
    return None


# --- wrk --------------------------------------------------------------------------------------


def lua_string(data: bytes | str) -> str:
    """A Lua string literal for arbitrary bytes."""
    raw = data.encode() if isinstance(data, str) else data
    out = []
    for byte in raw:
        char = chr(byte)
        if char in '"\\' or not 0x20 <= byte < 0x7F:
            out.append(f"\\{byte:03d}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


_DONE_HOOK = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"stdev":%.1f,"max":%d,'
      .. '"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\\n',
    MARKER, summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
"""


def wrk_script(scenario: Scenario) -> str:
    """The Lua script for one scenario: its request, and a done() that prints JSON."""
    lines = [f"MARKER = {lua_string(RESULT_MARKER)}", f"wrk.method = {lua_string(scenario.method)}"]
    if scenario.body:
        lines.append(f"wrk.body = {lua_string(scenario.body)}")
    lines += [
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in scenario.headers.items()
    ]
    return "\n".join(lines) + "\n" + _DONE_HOOK


@dataclass
class WrkRun:
    requests: int
    duration_s: float
    requests_per_sec: float
    bytes_per_response: float
    errors: dict[str, int]
    latency_ms: dict[str, float]
    server_cpu: float | None  # CPU seconds the server used per second of the run (1.0 = one core)
    client_cpu: float  # the same for wrk: near 1.0 means the client may be the bottleneck
    server_cpus_busy: float | None  # busy CPU seconds per second on the server's CPUs, anyone's
    # What only some kinds measure: "rate" (target and send rate, fell_behind, ...) and
    # "memory" (kib_per_conn, RSS before/after, connections still open, ...).
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def _measured(
    argv: Sequence[str],
    what: str,
    *,
    timeout: float,
    server_pgid: int | None,
    server_cpus: str | None,
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """Run a load generator to completion; also the CPU it and the server used per second.

    The second value holds ``WrkRun``'s ``server_cpu``, ``client_cpu`` and
    ``server_cpus_busy``.
    """
    server_before = group_cpu_seconds(server_pgid) if server_pgid else 0.0
    server_set = parse_cpu_list(server_cpus) if server_cpus else set()
    busy_before = cpus_busy_seconds(server_set)
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall_before = time.monotonic()
    try:
        done = capture(argv, timeout=timeout, stdin=subprocess.DEVNULL, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"{what} did not finish within {timeout:g} s") from exc
    wall = time.monotonic() - wall_before
    server_cpu = (group_cpu_seconds(server_pgid) - server_before) / wall if server_pgid else None
    busy = (cpus_busy_seconds(server_set) - busy_before) / wall if server_set else None
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_seconds = (children.ru_utime - children_before.ru_utime) + (
        children.ru_stime - children_before.ru_stime
    )
    return done, {
        "server_cpu": round(server_cpu, 3) if server_cpu is not None else None,
        "client_cpu": round(client_seconds / wall, 3),
        "server_cpus_busy": round(busy, 3) if busy is not None else None,
    }


def _result_line(done: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    """The JSON of a load tool's ``BENCH_RESULT`` line; RuntimeError when there is none."""
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARKER):
            data: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return data
    output = (done.stdout + done.stderr).strip()
    raise RuntimeError(f"{what} exited {done.returncode} without a result:\n{output}")


def run_wrk(
    wrk: str,
    *,
    port: int,
    scenario: Scenario,
    script: Path,
    duration: int,
    connections: int,
    threads: int,
    cpus: str | None,
    server_pgid: int | None = None,
    server_cpus: str | None = None,
) -> WrkRun:
    """One wrk run, bounded by a subprocess timeout well past its own duration.

    Also measures the CPU the server's process group and wrk used over the run.
    """
    url = f"http://{HOST}:{port}{scenario.path}"
    argv = pin(
        cpus,
        [
            wrk,
            f"--threads={threads}",
            f"--connections={max(connections, threads)}",
            f"--duration={duration}s",
            "--timeout=5s",
            f"--script={script}",
            url,
        ],
    )
    done, usage = _measured(
        argv, "wrk", timeout=duration + 30, server_pgid=server_pgid, server_cpus=server_cpus
    )
    data = _result_line(done, "wrk")
    requests = int(data["requests"])
    duration_s = data["duration_us"] / 1e6
    return WrkRun(
        requests=requests,
        duration_s=round(duration_s, 3),
        requests_per_sec=round(requests / duration_s, 1) if duration_s else 0.0,
        bytes_per_response=round(data["bytes"] / requests, 1) if requests else 0.0,
        errors={k: int(v) for k, v in data["errors"].items()},
        latency_ms={k: round(v / 1000, 3) for k, v in data["latency_us"].items()},
        **usage,
    )


# --- WebSocket echo ---------------------------------------------------------------------------

WS_RAMP_S = 0.5  # seconds ws_load runs before counting: connections and upgrades, not measured


def run_ws_load(
    python: Path,
    *,
    port: int,
    scenario: Scenario,
    duration: int,
    connections: int,
    window: int,
    cpus: str | None,
    server_pgid: int | None = None,
    server_cpus: str | None = None,
) -> WrkRun:
    """One ``bench/ws_load.py`` run (WebSocket echo), measured like :func:`run_wrk`.

    The result reuses :class:`WrkRun`: ``requests`` are echoed messages, ``requests_per_sec``
    messages per second, ``bytes_per_response`` the echo frame's size; no latency.
    """
    argv = pin(
        cpus,
        [
            str(python),
            str(BENCH_DIR / "ws_load.py"),
            f"--port={port}",
            f"--path={scenario.path}",
            f"--connections={connections}",
            f"--window={window}",
            f"--duration={duration}",
            f"--warmup={WS_RAMP_S}",
            f"--message={scenario.body.decode()}",
        ],
    )
    done, usage = _measured(
        argv, "ws_load", timeout=duration + 30, server_pgid=server_pgid, server_cpus=server_cpus
    )
    data = _result_line(done, "ws_load")
    size = len(scenario.body)
    return WrkRun(
        requests=int(data["messages"]),
        duration_s=float(data["duration_s"]),
        requests_per_sec=float(data["messages_per_sec"]),
        bytes_per_response=float(size + (2 if size < 126 else 4 if size < 1 << 16 else 10)),
        errors={k: int(v) for k, v in data["errors"].items()},
        latency_ms={},
        **usage,
    )


# --- fixed-rate latency and memory per connection -----------------------------------------------

RATE_WARMUP_S = 1.0  # seconds rate_load sends before measuring (on top of the suite's warm-up)


def run_rate_load(
    python: Path,
    *,
    port: int,
    scenario: Scenario,
    duration: int,
    rate: float,
    connections: int,
    cpus: str | None,
    server_pgid: int | None = None,
    server_cpus: str | None = None,
) -> WrkRun:
    """One ``bench/rate_load.py`` run (fixed request rate), measured like :func:`run_wrk`.

    ``requests_per_sec`` is the achieved rate (responses per second to the requests scheduled
    in the measured window), ``latency_ms`` the percentiles from their scheduled send times;
    ``details`` holds the target and send rates, ``fell_behind``, ``waited`` (requests that
    found every connection busy) and ``dispatch_lag_ms`` (the client's own lateness).
    ``client_cpu`` is near 1.0 by design: rate_load spins between requests.
    """
    argv = pin(
        cpus,
        [
            str(python),
            str(BENCH_DIR / "rate_load.py"),
            f"--port={port}",
            f"--path={scenario.path}",
            f"--method={scenario.method}",
            f"--rate={rate}",
            f"--connections={connections}",
            f"--duration={duration}",
            f"--warmup={RATE_WARMUP_S}",
            f"--expect-status={scenario.expect_status}",
        ],
    )
    done, usage = _measured(
        argv, "rate_load", timeout=duration + 30, server_pgid=server_pgid, server_cpus=server_cpus
    )
    data = _result_line(done, "rate_load")
    return WrkRun(
        requests=int(data["requests"]),
        duration_s=float(data["duration_s"]),
        requests_per_sec=float(data["achieved_rate"]),
        bytes_per_response=0.0,  # not counted
        errors={k: int(v) for k, v in data["errors"].items()},
        latency_ms={k: float(v) for k, v in data["latency_ms"].items()},
        details={
            key: data[key]
            for key in (
                "target_rate",
                "send_rate",
                "fell_behind",
                "waited",
                "dispatch_lag_ms",
                "connections",
                "first_error",
            )
        },
        **usage,
    )


def run_memory(
    python: Path,
    *,
    port: int,
    scenario: Scenario,
    connections: int,
    cpus: str | None,
    server_pgid: int,
    server_cpus: str | None = None,
) -> WrkRun:
    """One ``bench/memory.py`` run: the server worker's RSS before and while it holds
    ``connections`` idle connections (keep-alive, or WebSockets when ``scenario.websocket``).

    The figure is ``details["kib_per_conn"]``; ``requests`` counts the connections held,
    ``duration_s`` how long they were held, ``requests_per_sec`` is 0. ``errors``: connections
    never opened (after retries), closed by the server before the end, or not answering the
    final probe.
    """
    argv = pin(
        cpus,
        [
            str(python),
            str(BENCH_DIR / "memory.py"),
            f"--port={port}",
            f"--pgid={server_pgid}",
            f"--mode={'ws' if scenario.websocket else 'keepalive'}",
            f"--path={scenario.path}",
            f"--connections={connections}",
            *([f"--message={scenario.body.decode()}"] if scenario.websocket else []),
        ],
    )
    done, usage = _measured(
        argv, "memory", timeout=120, server_pgid=server_pgid, server_cpus=server_cpus
    )
    data = _result_line(done, "memory")
    errors = data["errors"]
    return WrkRun(
        requests=int(data["held"]),
        duration_s=float(data["held_s"]),
        requests_per_sec=0.0,
        bytes_per_response=0.0,
        errors={
            "not_opened": int(data["connections"]) - int(data["held"]),
            "closed_by_server": int(errors["closed_by_server"]),
            "probe": int(errors["probe"]),
        },
        latency_ms={},
        details={
            key: data[key]
            for key in (
                "kib_per_conn",
                "rss_before_kib",
                "rss_after_kib",
                "connections",
                "held",
                "open_at_measure",
                "open_at_end",
                "probed",
                "probe_ok",
                "worker_pid",
                "group_rss_before_kib",
                "group_rss_after_kib",
                "settled",
                "settle_s",
                "open_s",
                "measured_after_s",
                "first_error",
            )
        }
        | {"setup_retries": int(errors["retried"])},
        **usage,
    )
