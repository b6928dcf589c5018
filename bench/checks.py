"""The check before measuring: one request (or one echoed WebSocket message) to a server,
compared with what the scenario expects, so a broken route fails loudly instead of being
benchmarked."""

from __future__ import annotations

import gzip
import http.client
import zlib
from collections.abc import Mapping

from bench import fanout_wire, ws_wire
from bench.scenarios import (
    FanoutScenario,
    InstructionsScenario,
    LatencyScenario,
    MemoryScenario,
    Scenario,
    ThroughputScenario,
    WebSocketEchoScenario,
)
from bench.servers import HOST


def exchange(
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


def check_http(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    expect_status: int = 200,
    expect_body: bytes | None = None,
    expect_headers: Mapping[str, str] | None = None,
) -> str | None:
    """One request with http.client: what is wrong with its answer, or None. A gzip body is
    un-gzipped before it is compared."""
    request = f"{method} {path}"
    try:
        status, got_headers, got_body = exchange(port, method, path, body=body, headers=headers)
    except (OSError, http.client.HTTPException) as exc:
        return f"{request}: {type(exc).__name__}: {exc}"
    if status != expect_status:
        return f"{request}: status {status}, expected {expect_status}"
    for name, value in (expect_headers or {}).items():
        if got_headers.get(name) != value:
            return f"{request}: {name}: {got_headers.get(name)!r}, expected {value!r}"
    if got_headers.get("Content-Encoding", "").lower() == "gzip":
        try:
            got_body = gzip.decompress(got_body)
        except (OSError, EOFError, zlib.error) as exc:
            return f"{request}: gzip body does not decompress: {exc}"
    if expect_body is not None and got_body != expect_body:
        return f"{request}: body {got_body[:80]!r}, expected {expect_body[:80]!r}"
    return None


def check_scenario(port: int, scenario: Scenario, server: str) -> str | None:
    """What is wrong with ``server``'s answer to ``scenario``, or None."""
    match scenario:
        case ThroughputScenario():
            return check_http(
                port,
                scenario.method,
                scenario.path,
                body=scenario.body,
                headers=scenario.headers,
                expect_status=scenario.expect_status,
                expect_body=scenario.expect_body,
                expect_headers=scenario.expect_headers,
            )
        case LatencyScenario():
            return check_http(
                port,
                scenario.method,
                scenario.path,
                expect_status=scenario.expect_status,
                expect_body=scenario.expect_body,
            )
        case WebSocketEchoScenario():
            return ws_wire.check_echo(port, scenario.path, scenario.message)
        case MemoryScenario(mode="ws"):
            return ws_wire.check_echo(port, scenario.path, scenario.message)
        case MemoryScenario() | InstructionsScenario():
            return check_http(port, "GET", scenario.path, expect_body=scenario.expect_body)
        case FanoutScenario():
            # One socket joins the room and gets one published message back.
            return fanout_wire.check_publish(port, scenario.dialects[server], scenario.room)
