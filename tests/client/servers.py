"""Servers the client tests talk to: a handler for our low-level server, and a server we
did not write (the standard library's http.server, in a thread)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from runtime.web.json_responses import json_response
from runtime.web.request import BaseRequest
from runtime.web.response import Response, StreamResponse


def peer(request: BaseRequest) -> tuple[str, int]:
    transport = request.transport
    assert transport is not None
    name = transport.get_extra_info("peername")
    if not name:
        return "unix", 0  # a Unix socket's peer has no address
    host, port = name[:2]
    return host, port


async def app_handler(request: BaseRequest) -> StreamResponse:
    """One handler for every client test: what it does depends on the path."""
    path = request.path
    query = request.query
    if path == "/echo":
        body = await request.read()
        return json_response(
            {
                "method": request.method,
                "path_qs": request.path_qs,
                "headers": dict(request.headers),
                "body": body.decode("utf-8", "replace"),
                "peer": list(peer(request)),
            }
        )
    if path == "/big":
        response = StreamResponse()
        size = int(query.get("n", "1000000"))
        if "chunked" not in query:
            response.content_length = size
        await response.prepare(request)
        for _ in range(size // 10000):
            await response.write(b"x" * 10000)
        return response
    if path.startswith("/status/"):
        return Response(status=int(path.rsplit("/", 1)[1]), text="status")
    if path.startswith("/redirect/"):
        code = int(path.rsplit("/", 1)[1])
        return Response(status=code, headers={"Location": query.get("to", "/echo")})
    if path == "/loop":
        return Response(status=302, headers={"Location": "/loop"})
    if path == "/cookies/set":
        response = Response(text="set")
        response.headers.add("Set-Cookie", "session=abc; Path=/")
        response.headers.add("Set-Cookie", "other=1; Max-Age=60")
        return response
    if path == "/cookies/delete":
        return Response(text="deleted", headers={"Set-Cookie": "session=; Max-Age=0"})
    if path == "/slow":
        await asyncio.sleep(float(query.get("t", "1")))
        return Response(text="late")
    if path == "/slow-body":
        response = StreamResponse()
        response.content_length = 10
        await response.prepare(request)
        await response.write(b"12345")
        await asyncio.sleep(float(query.get("t", "1")))
        await response.write(b"67890")
        return response
    if path == "/json":
        return json_response({"ok": True})
    if path == "/empty":
        return Response(status=204)
    return Response(text="hello", headers={"X-Path": path})


class StdlibHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive by default; records the peer of every connection."""

    protocol_version = "HTTP/1.1"
    connections: list[tuple[str, int]]

    def setup(self) -> None:
        super().setup()
        self.server.connections.append(self.client_address)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/hello":
            self._send(200, b"hello from http.server")
        elif self.path == "/peer":
            self._send(200, json.dumps(list(self.client_address)).encode())
        elif self.path == "/until-close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"no length, ends with the connection")
            self.close_connection = True
        elif self.path == "/redirect":
            self._send(302, b"", {"Location": "/hello"})
        elif self.path == "/big":
            self._send(200, b"y" * 500_000)
        else:
            self._send(404, b"not found")

    def do_POST(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().strip(), 16)
                if not size:
                    self.rfile.readline()
                    break
                body += self.rfile.read(size)
                self.rfile.readline()
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(
            200,
            json.dumps({"body": body.decode(), "te": self.headers["Transfer-Encoding"]}).encode(),
        )


@contextmanager
def stdlib_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), StdlibHandler)
    server.daemon_threads = True
    server.connections = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
