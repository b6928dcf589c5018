"""The listening socket, bound once by the supervisor and shared by every child server, so
connections wait in the kernel's queue while one server hands over to the next."""

from __future__ import annotations

import contextlib
import os
import socket
import stat

__all__ = ["bind", "display_name", "release"]

BACKLOG = 128  # run_app's default


def bind(host: str | None, port: int | None, path: str | None) -> socket.socket:
    """A listening socket: on the Unix socket ``path``, or on ``host`` (all interfaces
    when None, IPv6 and IPv4 together where the system can) and ``port`` (8080 when None).

    Raises:
        OSError: the address is taken or cannot be bound.
    """
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.stat(path).st_mode):  # a stale socket of an earlier run
                os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        sock.listen(BACKLOG)
    elif host is None and socket.has_dualstack_ipv6():
        sock = socket.create_server(
            ("", port or 8080), family=socket.AF_INET6, backlog=BACKLOG, dualstack_ipv6=True
        )
    else:
        infos = socket.getaddrinfo(
            host or "0.0.0.0", port or 8080, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, *_, address = infos[0]
        sock = socket.create_server(address, family=family, backlog=BACKLOG)
    return sock


def display_name(sock: socket.socket) -> str:
    """The socket's address as run_app shows it: ``http://host:port`` or ``http://unix:path:``."""
    if sock.family == socket.AF_UNIX:
        return f"http://unix:{sock.getsockname()}:"
    host, port = sock.getsockname()[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def release(sock: socket.socket) -> None:
    """Close the socket, and remove its file if it is a Unix socket."""
    path = sock.getsockname() if sock.family == socket.AF_UNIX else None
    sock.close()
    if isinstance(path, str) and path:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
