"""wrk: found (or installed from Debian's package), its version, the Lua script of a
throughput scenario, and one run of it (:class:`~bench.results.ThroughputResult`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bench.apt import ensure_installed
from bench.cpus import pin
from bench.loadgen import RESULT_MARKER
from bench.results import ThroughputResult
from bench.runners.load_tool import run_load_tool
from bench.scenarios import ThroughputScenario
from bench.servers import HOST


def ensure_wrk() -> str:
    """Return wrk's path, installing Debian's package first when it is missing."""
    return ensure_installed("wrk", "wrk")


def wrk_version(wrk: str) -> str:
    output = subprocess.run(
        [wrk, "--version"], check=False, capture_output=True, text=True, timeout=10
    )
    lines = (output.stdout + output.stderr).strip().splitlines()
    return lines[0] if lines else ""


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


def wrk_script(scenario: ThroughputScenario) -> str:
    """The Lua script for one scenario: its request, and a done() that prints JSON."""
    lines = [f"MARKER = {lua_string(RESULT_MARKER)}", f"wrk.method = {lua_string(scenario.method)}"]
    if scenario.body:
        lines.append(f"wrk.body = {lua_string(scenario.body)}")
    lines += [
        f"wrk.headers[{lua_string(name)}] = {lua_string(value)}"
        for name, value in scenario.headers.items()
    ]
    return "\n".join(lines) + "\n" + _DONE_HOOK


def run_wrk(
    wrk: str,
    *,
    port: int,
    scenario: ThroughputScenario,
    script: Path,
    duration: int,
    connections: int,
    threads: int,
    cpus: str | None,
    server_pgid: int | None = None,
    server_cpus: str | None = None,
) -> ThroughputResult:
    """One wrk run with the scenario's ``script``, bounded by a timeout well past its own
    duration."""
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
    data, cpu = run_load_tool(
        argv, "wrk", timeout=duration + 30, server_pgid=server_pgid, server_cpus=server_cpus
    )
    return ThroughputResult.from_output(data, cpu)
