"""Request buffering on a real nginx: slow clients wait on nginx, not on the application.

nginx runs from the rendered config in front of a recording upstream in this process (plain
TCP, one thread per connection), which notes when each connection was accepted and when each
byte of the request arrived, and answers with what it saw. The clock is this process's
``time.monotonic()`` on both sides, so the tests compare the client's sends with the
upstream's arrivals directly. test_e2e.py checks the same with gunicorn and the real worker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.deploy import DeploySettings, render_file
from tests.deploy.tools import (
    connectable,
    free_port,
    needs_nginx,
    nginx_cmd,
    nginx_main_conf,
    stop_process,
    wait_for,
)
from tests.support import parse_replies, recv_until_closed

pytestmark = [pytest.mark.slow, needs_nginx, pytest.mark.timeout(30)]

STREAMING = "/stream/"
BUFFER = 4096  # client_body_buffer_size: the 20 KiB bodies below go to a temp file
BODY_TIMEOUT = 1
HEADER_TIMEOUT = 1
PIECES = 10
INTERVAL = 0.2  # between pieces: the slow client takes ~2 s to send its body


class _Reader:
    """Reads a connection and remembers when each byte came: (time, bytes so far) per recv."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn
        self.data = b""
        self.pos = 0
        self.arrivals: list[tuple[float, int]] = []

    def _more(self) -> None:
        chunk = self.conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-request")
        self.data += chunk
        self.arrivals.append((time.monotonic(), len(self.data)))

    def until(self, marker: bytes) -> bytes:
        while (end := self.data.find(marker, self.pos)) < 0:
            self._more()
        out, self.pos = self.data[self.pos : end], end + len(marker)
        return out

    def exactly(self, size: int) -> bytes:
        while len(self.data) < self.pos + size:
            self._more()
        out, self.pos = self.data[self.pos : self.pos + size], self.pos + size
        return out

    def arrived(self, offset: int) -> float:
        """When the byte at ``offset`` came."""
        return next(t for t, total in self.arrivals if total > offset)


class Upstream:
    """The application stand-in: counts connections, answers each request with a report."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.lock = threading.Lock()
        self.accepted = 0
        self.open = 0
        self.heads = 0  # request heads received so far
        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            accepted = time.monotonic()
            with self.lock:
                self.accepted += 1
                self.open += 1
            threading.Thread(target=self._serve, args=(conn, accepted), daemon=True).start()

    def _serve(self, conn: socket.socket, accepted: float) -> None:
        try:
            with conn:
                conn.settimeout(10)
                report = self._read_request(_Reader(conn), accepted)
                body = json.dumps(report).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
                )
        except Exception as exc:  # reported by the test through `errors`
            self.errors.append(repr(exc))
        finally:
            with self.lock:
                self.open -= 1

    def _read_request(self, reader: _Reader, accepted: float) -> dict[str, object]:
        lines = reader.until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        head_at = reader.arrived(reader.pos - 1)
        with self.lock:
            self.heads += 1
        headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        start = reader.pos
        if headers.get("transfer-encoding") == "chunked":
            body = b""
            while size := int(reader.until(b"\r\n").split(b";")[0], 16):
                body += reader.exactly(size)
                reader.until(b"\r\n")
            reader.until(b"\r\n")  # no trailers from nginx
        else:
            body = reader.exactly(int(headers.get("content-length", "0")))
        return {
            "request_line": lines[0],
            "headers": headers,
            "accepted": accepted,
            "head_at": head_at,
            "first": reader.arrived(start) if reader.pos > start else None,
            "last": reader.arrived(reader.pos - 1),
            "size": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }

    def close(self) -> None:
        self.listener.close()


@dataclasses.dataclass
class Proxy:
    port: int
    directory: Path
    upstream: Upstream

    def error_log(self) -> str:
        return self._read("error.log")

    def access_log(self) -> str:
        return self._read("access.log")

    def _read(self, name: str) -> str:
        path = self.directory / name
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    directory = tmp_path_factory.mktemp("buffering")
    upstream = Upstream()
    port = free_port()
    settings = DeploySettings(
        "berth-buffering",
        upstreams=(f"127.0.0.1:{upstream.port}",),
        listen=(f"127.0.0.1:{port}",),
        server_name="localhost",
        static_root="",
        accel_root="",
        streaming_locations=(STREAMING,),
        client_body_buffer_size=BUFFER,
        client_body_timeout=BODY_TIMEOUT,
        client_header_timeout=HEADER_TIMEOUT,
    )
    site = directory / "site.conf"
    site.write_text(render_file("nginx", settings)[1])
    conf = nginx_main_conf(directory, site)
    with (directory / "nginx.out").open("wb") as out:
        nginx = subprocess.Popen(nginx_cmd(conf, directory), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: connectable(port), 10, "nginx")
        yield Proxy(port, directory, upstream)
    finally:
        stop_process(nginx)
        upstream.close()
    assert not upstream.errors, upstream.errors


# -- a slow client ----------------------------------------------------------------------------


@dataclasses.dataclass
class Upload:
    last_piece: float  # when the client began to send its last piece
    connections_while_sending: list[int]  # upstream connections open after each piece
    heads_while_sending: list[int]  # request heads the upstream had after each piece
    report: dict[str, Any]  # what the upstream saw


def slow_upload(proxy: Proxy, path: str, body: bytes, *, chunked: bool = False) -> Upload:
    """POST ``body`` in PIECES pieces, INTERVAL apart, watching the upstream meanwhile."""
    upstream = proxy.upstream
    # The upstream closes every connection after its answer, a moment after the client of
    # the previous test has it: start from none open.
    wait_for(lambda: upstream.open == 0, 5, "the upstream's connections to close")
    with upstream.lock:
        base_heads = upstream.heads
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    size = -(-len(body) // PIECES)
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    if chunked:
        pieces = [b"%x\r\n%s\r\n" % (len(p), p) for p in pieces]
        pieces[-1] += b"0\r\n\r\n"
    connections, heads = [], []
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: localhost\r\n{framing}\r\n"
            "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n".encode()
        )
        for index, piece in enumerate(pieces):
            if index:
                time.sleep(INTERVAL / 2)
            # Before the send: nginx may have the piece and pass the request on before
            # sendall() returns.
            last_piece = time.monotonic()
            sock.sendall(piece)
            if index < len(pieces) - 1:
                time.sleep(INTERVAL / 2)  # give nginx a moment to pass the piece on
                with upstream.lock:
                    connections.append(upstream.open)
                    heads.append(upstream.heads - base_heads)
        reply = parse_replies(recv_until_closed(sock))[0]  # the request said Connection: close
    assert reply.status == 200, (reply.status, reply.body, proxy.error_log()[-2000:])
    report = json.loads(reply.body)
    assert report["size"] == len(body)
    assert report["sha256"] == hashlib.sha256(body).hexdigest()
    return Upload(last_piece, connections, heads, report)


def test_slow_upload_reaches_the_upstream_only_when_complete(proxy: Proxy) -> None:
    """The default location: while the client dribbles its body (~2 s), the upstream has no
    connection for it; then the request arrives whole, at once, with its Content-Length."""
    body = os.urandom(20 * 1024)
    upload = slow_upload(proxy, "/upload", body)
    assert set(upload.connections_while_sending) == {0}, upload
    assert set(upload.heads_while_sending) == {0}, upload
    report = upload.report
    assert report["accepted"] >= upload.last_piece
    assert report["last"] - report["head_at"] < 0.2, report
    headers = report["headers"]
    assert headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in headers
    # HTTP/1.1 keep-alive to the application, as everywhere else.
    assert report["request_line"] == "POST /upload HTTP/1.1"
    assert "connection" not in headers
    # Past client_body_buffer_size, nginx kept the body in a temp file, not in memory.
    assert "a client request body is buffered to a temporary file" in proxy.error_log()


def test_slow_chunked_upload_is_buffered_and_gets_a_content_length(proxy: Proxy) -> None:
    """A chunked body is buffered the same way and reaches the application with a
    Content-Length instead, so the application never sees a chunked upload here."""
    body = os.urandom(20 * 1024)
    upload = slow_upload(proxy, "/upload", body, chunked=True)
    assert set(upload.connections_while_sending) == {0}, upload
    assert upload.report["accepted"] >= upload.last_piece
    headers = upload.report["headers"]
    assert headers["content-length"] == str(len(body))
    assert "transfer-encoding" not in headers


def test_streaming_location_passes_the_body_on_as_it_arrives(proxy: Proxy) -> None:
    """--streaming-location: the opposite. The upstream has the request and the first
    pieces while the client is still sending, and holds the connection until the end."""
    body = os.urandom(20 * 1024)
    upload = slow_upload(proxy, f"{STREAMING}upload", body)
    assert upload.heads_while_sending[0] == 1, upload
    assert set(upload.connections_while_sending) == {1}, upload
    report = upload.report
    assert report["first"] < upload.last_piece - 1.0, report
    assert report["last"] - report["first"] > 1.0, report
    headers = report["headers"]
    assert headers["content-length"] == str(len(body))
    # The nested location inherits the parent's proxy headers and HTTP version.
    assert report["request_line"] == f"POST {STREAMING}upload HTTP/1.1"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert "connection" not in headers


def test_streaming_location_passes_chunked_bodies_chunked(proxy: Proxy) -> None:
    """Only over HTTP/1.1 to the upstream (proxy_http_version 1.1, inherited from "/"):
    with 1.0, nginx buffers a chunked body whatever proxy_request_buffering says."""
    body = os.urandom(20 * 1024)
    upload = slow_upload(proxy, f"{STREAMING}upload", body, chunked=True)
    assert set(upload.connections_while_sending) == {1}, upload
    report = upload.report
    assert report["first"] < upload.last_piece - 1.0, report
    headers = report["headers"]
    assert headers["transfer-encoding"] == "chunked"
    assert "content-length" not in headers


# -- clients that stop sending ----------------------------------------------------------------


def _closed_within(sock: socket.socket, seconds: float) -> tuple[float, bytes]:
    """How long until nginx closed the connection, and what it sent before."""
    start = time.monotonic()
    sock.settimeout(seconds)
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return time.monotonic() - start, data


def test_stalled_body_is_dropped_by_nginx_alone(proxy: Proxy) -> None:
    """A client that stops mid-body is dropped after client_body_timeout; the upstream never
    hears of it."""
    upstream = proxy.upstream
    accepted = upstream.accepted
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(
            b"POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10
        )
        waited, data = _closed_within(sock, BODY_TIMEOUT + 3)
    assert BODY_TIMEOUT * 0.8 < waited < BODY_TIMEOUT + 2, (waited, data)
    assert data == b""  # no response: nginx closes and logs a 408
    assert upstream.accepted == accepted
    wait_for(lambda: '"POST /upload HTTP/1.1" 408 0' in proxy.access_log(), 2, "the 408")


def test_stalled_head_is_dropped_by_nginx_alone(proxy: Proxy) -> None:
    upstream = proxy.upstream
    accepted = upstream.accepted
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(b"GET /slowloris HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        waited, data = _closed_within(sock, HEADER_TIMEOUT + 3)
    assert HEADER_TIMEOUT * 0.8 < waited < HEADER_TIMEOUT + 2, (waited, data)
    assert data == b""
    assert upstream.accepted == accepted
