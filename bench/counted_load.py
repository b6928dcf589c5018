"""A fixed-count HTTP/1.1 client for the ``instructions`` scenario: exactly ``n`` requests on
one keep-alive connection, one in flight at a time, every response read whole.

Why one connection and one request at a time: the figure is instructions per request, and it
must not depend on timing. With several connections in flight a server finds a varying
number of them ready per loop pass (more when it is slower, and under callgrind it is about
fifty times slower), so the per-pass costs would be shared out differently from run to run.
One request at a time takes every request through the same path: wake up, read, parse,
handle, write. That is the unbatched cost, an upper bound of what wrk's 64 connections see.

The client runs in the harness's own process (standard library only, blocking sockets): the
server under callgrind is the slow side by far, and the client's speed does not change the
count.
"""

from __future__ import annotations

import socket
from types import TracebackType

from bench.http_wire import HOST, build_request, parse_response


class CountedClient:
    """One keep-alive connection to ``HOST:port`` sending ``method path`` on demand.

    ``send(n)`` returns once ``n`` responses have been read; ``sent`` and ``answered`` count
    every request of the connection's life, ``bad_status`` the answers that were not 2xx.
    RuntimeError when the server closes the connection, answers garbage or times out.
    """

    def __init__(self, port: int, path: str = "/", *, timeout: float = 30.0) -> None:
        self._request = build_request("GET", path, port)
        self._sock = socket.create_connection((HOST, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buffer = bytearray()
        self.sent = 0
        self.answered = 0
        self.bad_status = 0

    def send(self, count: int) -> None:
        """Send ``count`` requests, each after the previous one's response was read."""
        for _ in range(count):
            self._sock.sendall(self._request)
            self.sent += 1
            status = self._read_response()
            self.answered += 1
            if not 200 <= status < 300:
                self.bad_status += 1

    def _read_response(self) -> int:
        while True:
            try:
                framed = parse_response(self._buffer)
            except ValueError as exc:
                raise RuntimeError(f"bad response after {self.answered}: {exc}") from None
            if framed is not None:
                status, end = framed
                del self._buffer[:end]
                return status
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError:
                raise RuntimeError(
                    f"no response within the timeout after {self.answered}"
                ) from None
            if not chunk:
                raise RuntimeError(f"the server closed the connection after {self.answered}")
            self._buffer += chunk

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> CountedClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
