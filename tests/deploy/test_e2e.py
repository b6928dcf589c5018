"""End to end: a real nginx on a loopback port in front of gunicorn with GunicornWebWorker on
a unix socket, both configured from the rendered templates (the same commands as
docs/deploy.md, with temporary paths).

Clients connect from 127.0.0.2 so the address the application sees is visibly the client's,
taken from the X-Forwarded-For that nginx sets and the worker trusts (a unix-socket peer).
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.deploy import DeploySettings, render_file
from tests.deploy.apps.proxied import TICK_INTERVAL, TICKS
from tests.deploy.tools import (
    GUNICORN,
    ROOT,
    connectable,
    free_port,
    needs_nginx,
    nginx_cmd,
    nginx_main_conf,
    python_env,
    stop_process,
    wait_for,
)
from tests.support import parse_replies, recv_until_closed

try:
    from runtime.workers import GunicornWebWorker  # noqa: F401
except ImportError:  # pragma: no cover - the worker lands in another change
    HAVE_WORKER = False
else:
    HAVE_WORKER = True

pytestmark = [
    pytest.mark.slow,
    needs_nginx,
    pytest.mark.skipif(not HAVE_WORKER, reason="runtime.workers.GunicornWebWorker missing"),
]

CLIENT = "127.0.0.2"  # Linux routes all of 127.0.0.0/8 to loopback
APP = "tests.deploy.apps.proxied:create_app"
MAX_BODY = 16 * 2**20
STREAMING = "/streamed/"  # the stack's one --streaming-location
SECRET_NAME = "résumé 2024.txt"
SECRET = b"only for the authorised\n" * 4096


@dataclasses.dataclass
class Stack:
    port: int
    directory: Path
    settings: DeploySettings
    gunicorn: subprocess.Popen[bytes]
    nginx: subprocess.Popen[bytes]

    def log(self) -> str:
        parts = []
        for name in ("gunicorn.log", "nginx.out", "error.log"):
            path = self.directory / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def _start_nginx(directory: Path, settings: DeploySettings) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    site = directory / "site.conf"
    site.write_text(render_file("nginx", settings)[1])
    conf = nginx_main_conf(directory, site)
    with (directory / "nginx.out").open("wb") as out:
        return subprocess.Popen(nginx_cmd(conf, directory), stdout=out, stderr=subprocess.STDOUT)


def _port_of(settings: DeploySettings) -> int:
    return int(settings.listen[0].rpartition(":")[2])


def _wait_serving(port: int, procs: list[subprocess.Popen[bytes]], what: str) -> None:
    def ok() -> bool:
        for proc in procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{what}: a process exited with {proc.returncode}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            return get(port, "/ready")[0] == 200
        return False

    wait_for(ok, 20, what)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    directory = tmp_path_factory.mktemp("stack")
    for sub in ("static", "protected", "run"):
        (directory / sub).mkdir()
    (directory / "static" / "site.css").write_text("body { color: teal }\n")
    (directory / "protected" / SECRET_NAME).write_bytes(SECRET)
    port = free_port()
    settings = DeploySettings(
        "berth-e2e",
        app=APP,
        socket=str(directory / "app.sock"),
        listen=(f"127.0.0.1:{port}",),
        server_name="localhost",
        static_root=str(directory / "static"),
        accel_root=str(directory / "protected"),
        client_max_size=MAX_BODY,
        streaming_locations=(STREAMING,),
        runtime_dir=str(directory / "run"),
        workers=2,
        graceful_timeout=10,
    )
    config = directory / "gunicorn.conf.py"
    config.write_text(render_file("gunicorn", settings)[1])
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with (directory / "gunicorn.log").open("wb") as out:
            procs.append(
                subprocess.Popen(
                    [str(GUNICORN), "--config", str(config), "--no-control-socket"],
                    cwd=ROOT,
                    env=python_env(),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        wait_for(lambda: connectable(directory / "app.sock"), 20, "gunicorn's socket")
        procs.append(_start_nginx(directory, settings))
        s = Stack(port, directory, settings, procs[0], procs[1])
        try:
            _wait_serving(port, procs, "nginx + gunicorn")
        except Exception:
            print(s.log())
            raise
        yield s
    finally:
        for proc in reversed(procs):
            stop_process(proc)


# -- clients ----------------------------------------------------------------------------------


def connection(port: int, timeout: float = 10) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(
        "127.0.0.1", port, timeout=timeout, source_address=(CLIENT, 0)
    )


def get(
    port: int, path: str, headers: dict[str, str] | None = None
) -> tuple[int, http.client.HTTPMessage, bytes]:
    conn = connection(port)
    try:
        conn.request("GET", path, headers={"Host": f"localhost:{port}", **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def raw_socket(port: int) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(10)
    sock.bind((CLIENT, 0))
    sock.connect(("127.0.0.1", port))
    return sock


# -- the application sees the client ----------------------------------------------------------


def test_client_address_scheme_and_host_come_through(stack: Stack) -> None:
    status, _, body = get(
        stack.port,
        "/whoami?x=1",
        # A client's own forwarding headers: nginx replaces or the worker ignores them.
        {
            "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Ssl": "on",
            "X-Forwarded-Host": "evil.example",
        },
    )
    assert status == 200, stack.log()
    seen = json.loads(body)
    assert seen["remote"] == CLIENT
    assert seen["forwarded_for"] == CLIENT
    assert (seen["scheme"], seen["secure"]) == ("http", False)
    assert seen["host"] == f"localhost:{stack.port}"
    assert seen["forwarded_host"] == f"localhost:{stack.port}"
    assert seen["url"] == f"http://localhost:{stack.port}/whoami?x=1"
    assert re.fullmatch(r"[0-9a-f]{32}", seen["request_id"])
    # Upstream keep-alive: HTTP/1.1 with no Connection header at all.
    assert (seen["version"], seen["connection"]) == ("1.1", None)


def test_upstream_connections_are_reused(stack: Stack) -> None:
    seen = {
        (s["pid"], s["conn"])
        for s in (json.loads(get(stack.port, "/whoami")[2]) for _ in range(20))
    }
    # 20 requests on 20 client connections, a handful of kept-alive upstream connections.
    assert len(seen) < 10, seen


def test_readiness_endpoint_through_nginx(stack: Stack) -> None:
    status, headers, body = get(stack.port, "/ready")
    assert (status, body) == (200, b"ready\n")
    assert headers["Cache-Control"] == "no-store"


# -- bodies and streams -----------------------------------------------------------------------


def _upload_in_two_halves(port: int, path: str) -> tuple[dict[str, Any], float]:
    """POST 8 MiB, the second half 0.6 s after the first. Returns what the handler saw and
    when the client started sending the second half."""
    half = os.urandom(4 * 2**20)
    body = half + half[::-1]
    with raw_socket(port) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n".encode()
        )
        sock.sendall(body[: len(half)])
        time.sleep(0.6)
        second_half = time.time()
        sock.sendall(body[len(half) :])
        reply = parse_replies(recv_until_closed(sock))[0]  # the request said Connection: close
    assert reply.status == 200, reply.body
    seen: dict[str, Any] = json.loads(reply.body)
    assert seen["size"] == len(body)
    assert seen["sha256"] == hashlib.sha256(body).hexdigest()
    return seen, second_half


def test_large_upload_is_buffered_by_nginx(stack: Stack) -> None:
    """The default (proxy_request_buffering on): the handler starts only once nginx has the
    whole body, which it then reads at once, with the Content-Length the client sent."""
    seen, second_half = _upload_in_two_halves(stack.port, "/upload")
    assert seen["started"] >= second_half, seen
    assert seen["last"] - seen["first"] < 0.3, seen
    assert (seen["content_length"], seen["chunked"]) == (8 * 2**20, False)


def test_streaming_location_streams_the_upload_to_the_application(stack: Stack) -> None:
    """A --streaming-location: nginx passes the body on as it arrives, so the app reads the
    first half while the client is still waiting to send the second."""
    seen, second_half = _upload_in_two_halves(stack.port, f"{STREAMING}upload")
    assert seen["started"] < second_half, seen
    assert seen["last"] - seen["first"] > 0.4, seen


def test_body_over_client_max_size_is_refused_by_nginx(stack: Stack) -> None:
    with raw_socket(stack.port) as sock:
        sock.sendall(
            f"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {MAX_BODY + 1}\r\n"
            "\r\n".encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:  # nginx answers at once, without reading the body
            chunk = sock.recv(65536)
            assert chunk
            head += chunk
    assert head.startswith(b"HTTP/1.1 413 ")


def _tick_arrivals(port: int, path: str, headers: str = "") -> list[tuple[float, float]]:
    """(arrival time, server's send time) of each tick line of a streamed response."""
    received: list[tuple[float, bytes]] = []
    with raw_socket(port) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Connection: close\r\n\r\n".encode()
        )
        while chunk := sock.recv(65536):
            received.append((time.time(), chunk))
    # Replay the arrivals: when did each tick become readable by the client?
    arrivals: list[tuple[float, float]] = []
    data = b""
    for now, chunk in received:
        data += chunk
        for sent in re.findall(rb"tick \d+ ([\d.]+)\n", _readable_body(data))[len(arrivals) :]:
            arrivals.append((now, float(sent)))
    return arrivals


def _readable_body(data: bytes) -> bytes:
    """What a client can read of the body from a prefix of a chunked (maybe gzip) response."""
    head, sep, raw = data.partition(b"\r\n\r\n")
    body = b""
    while sep:
        size_line, sep, rest = raw.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16) if sep else 0
        body += rest[:size]
        if not size or len(rest) < size + 2:
            break
        raw = rest[size + 2 :]
    if b"content-encoding: gzip" in head.lower():
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body)
    return body


def test_streaming_response_arrives_unbuffered(stack: Stack) -> None:
    arrivals = _tick_arrivals(stack.port, "/stream")
    assert len(arrivals) == TICKS
    for arrived, sent in arrivals:
        assert arrived - sent < 0.45, arrivals  # not held back until the end (0.9 s)
    assert arrivals[-1][0] - arrivals[0][0] > (TICKS - 1) * TICK_INTERVAL * 0.8


def test_with_nginx_compression_only_unbuffered_streams_flow(stack: Stack, tmp_path: Path) -> None:
    """--compression nginx: gzip holds a buffered stream back until the end, while the
    X-Accel-Buffering: no response is flushed tick by tick (same gunicorn, second nginx)."""
    settings = dataclasses.replace(
        stack.settings, listen=(f"127.0.0.1:{free_port()}",), compression="nginx"
    )
    nginx = _start_nginx(tmp_path, settings)
    try:
        port = _port_of(settings)
        wait_for(lambda: connectable(port), 10, "second nginx")
        gzip = "Accept-Encoding: gzip\r\n"
        unbuffered = _tick_arrivals(port, "/stream", gzip)
        buffered = _tick_arrivals(port, "/buffered-stream", gzip)
    finally:
        stop_process(nginx)
    assert len(unbuffered) == len(buffered) == TICKS
    assert unbuffered[-1][0] - unbuffered[0][0] > (TICKS - 1) * TICK_INTERVAL * 0.8
    assert buffered[-1][0] - buffered[0][0] < 0.1, buffered  # all at once, at the end


# -- files ------------------------------------------------------------------------------------


def test_x_accel_redirect_serves_the_file(stack: Stack) -> None:
    quoted = urllib.parse.quote(SECRET_NAME)
    path = f"/download/{quoted}?as={urllib.parse.quote('résumé.txt')}"
    status, headers, body = get(stack.port, path)
    assert status == 200, stack.log()
    assert body == SECRET
    assert headers["Content-Type"] == "text/plain"  # nginx's, from the extension
    assert headers["Content-Disposition"].startswith('attachment; filename="r?sum?.txt"')
    assert "X-Accel-Redirect" not in headers
    # nginx serves it: Range works, and the file is not reachable directly.
    status, headers, body = get(stack.port, path, {"Range": "bytes=0-3"})
    assert (status, body) == (206, SECRET[:4])
    assert get(stack.port, f"/_protected/{quoted}")[0] == 404
    assert get(stack.port, f"/download/{quoted}?deny=1")[0] == 403


def test_static_files_are_served_by_nginx(stack: Stack) -> None:
    status, headers, body = get(stack.port, "/static/site.css")
    assert (status, body) == (200, b"body { color: teal }\n")
    assert headers["Content-Type"] == "text/css"
    assert "max-age=3600" in headers["Cache-Control"]


# -- WebSocket --------------------------------------------------------------------------------


def _ws_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + masked


def _ws_read(sock: socket.socket, buffered: bytes) -> tuple[int, bytes, bytes]:
    def need(n: int) -> None:
        nonlocal buffered
        while len(buffered) < n:
            chunk = sock.recv(65536)
            assert chunk, "connection closed"
            buffered += chunk

    need(2)
    opcode, length = buffered[0] & 0x0F, buffered[1] & 0x7F
    offset = 2
    if length == 126:
        need(4)
        (length,) = struct.unpack("!H", buffered[2:4])
        offset = 4
    need(offset + length)
    return opcode, buffered[offset : offset + length], buffered[offset + length :]


def test_websocket_echo_through_nginx(stack: Stack) -> None:
    """Through the buffered "/" location: request buffering does not touch WebSockets (the
    handshake has no body, and after the 101 nginx tunnels the frames both ways)."""
    key = base64.b64encode(os.urandom(16)).decode()
    with raw_socket(stack.port) as sock:
        sock.sendall(
            f"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, stack.log()
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        accept = base64.b64encode(
            hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
        )
        assert b"Sec-WebSocket-Accept: " + accept in head
        for text in ("hello", "through nginx"):
            sock.sendall(_ws_frame(0x1, text.encode()))
            opcode, payload, rest = _ws_read(sock, rest)
            assert (opcode, payload) == (0x1, f"echo: {text}".encode())
        sock.sendall(_ws_frame(0x8, struct.pack("!H", 1000)))
        opcode, payload, rest = _ws_read(sock, rest)
        assert opcode == 0x8 and payload[:2] == struct.pack("!H", 1000)


# -- reload and restart -----------------------------------------------------------------------


def _pids(port: int, count: int) -> set[int]:
    return {int(get(port, "/pid")[2]) for _ in range(count)}


def _under_load(port: int, action: Any, seconds: float = 3.0, clients: int = 6) -> list[int]:
    """Keep-alive clients (half GET, half POST) request for ``seconds``; ``action`` runs
    0.5 s in. Returns the statuses; raises on any failed request."""
    statuses: list[int] = []
    errors: list[str] = []
    deadline = time.monotonic() + seconds

    def client(post: bool) -> None:
        conn = connection(port)
        while time.monotonic() < deadline:
            try:
                if post:  # not idempotent: nginx could not retry it on another connection
                    conn.request("POST", "/upload", body=b"x" * 1000, headers={"Host": "localhost"})
                else:
                    conn.request("GET", "/pid", headers={"Host": "localhost"})
                resp = conn.getresponse()
                resp.read()
                statuses.append(resp.status)
            except (OSError, http.client.HTTPException) as exc:
                errors.append(repr(exc))
                conn.close()
                conn = connection(port)
        conn.close()

    threads = [threading.Thread(target=client, args=(i % 2 == 1,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        action()
    finally:
        for thread in threads:
            thread.join(seconds + 30)
    assert not errors, errors[:5]
    return statuses


@pytest.mark.timeout(60)
def test_hup_reload_under_load_fails_no_request(stack: Stack) -> None:
    """`systemctl reload` = SIGHUP to the master: new workers start, old ones drain. Several
    keep-alive clients keep sending GETs and POSTs meanwhile; none sees an error."""
    port = stack.port
    old = _pids(port, 10)
    statuses = _under_load(port, lambda: stack.gunicorn.send_signal(signal.SIGHUP))
    assert set(statuses) == {200}, (set(statuses), stack.log())
    assert len(statuses) > 100
    # The reload happened: new workers answer, the old ones are gone.
    wait_for(lambda: not (_pids(port, 10) & old), 15, "new workers only")
    assert "Hang up: Master" in (stack.directory / "gunicorn.log").read_text()
    assert stack.gunicorn.poll() is None


def _activated_gunicorn(
    listener: socket.socket, config: Path, log: Path, notify: Path
) -> subprocess.Popen[bytes]:
    fd = listener.fileno()
    env = {**python_env(), "NOTIFY_SOCKET": str(notify)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("sd_launch.py")),
                str(fd),
                str(GUNICORN),
                "--config",
                str(config),
                "--no-control-socket",
            ],
            cwd=ROOT,
            env=env,
            pass_fds=(fd,),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.timeout(60)
def test_socket_activated_restart_drops_no_request(stack: Stack, tmp_path: Path) -> None:
    """What {name}.socket + Type=notify give: the listening socket outlives gunicorn, so a
    full restart (stop, start) under load loses nothing; connections wait in the backlog.
    The test plays systemd: it owns the socket and the notify socket."""
    path = tmp_path / "activated.sock"
    (tmp_path / "run").mkdir()
    settings = dataclasses.replace(
        stack.settings,
        socket=str(path),
        listen=(f"127.0.0.1:{free_port()}",),
        runtime_dir=str(tmp_path / "run"),
    )
    config = tmp_path / "gunicorn.conf.py"
    config.write_text(render_file("gunicorn", settings)[1])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(settings.backlog)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(20)
    log = tmp_path / "gunicorn.log"
    procs = [_activated_gunicorn(listener, config, log, tmp_path / "notify")]
    try:
        # Type=notify: the master says READY=1 once it holds the socket.
        assert notify.recv(4096).startswith(b"READY=1"), log.read_text()
        procs.append(_start_nginx(tmp_path / "nginx", settings))
        port = _port_of(settings)
        _wait_serving(port, procs, "socket-activated gunicorn")
        old = _pids(port, 10)

        def restart() -> None:  # systemctl restart: TERM (KillMode=mixed), wait, start again
            stop_process(procs[0])
            assert procs[0].returncode == 0, log.read_text()
            procs[0] = _activated_gunicorn(listener, config, log, tmp_path / "notify")

        statuses = _under_load(port, restart, seconds=4.0)
        assert set(statuses) == {200}, (set(statuses), log.read_text())
        assert not (_pids(port, 10) & old)
        assert path.exists()  # gunicorn leaves systemd's socket in place
        assert "Listening at: unix:" in log.read_text()
    finally:
        for proc in reversed(procs):
            stop_process(proc)
        listener.close()
        notify.close()
