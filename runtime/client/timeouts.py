"""``ClientTimeout``: how long a request may take, in total and step by step."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_TIMEOUT", "ClientTimeout"]


@dataclass(frozen=True, slots=True)
class ClientTimeout:
    """Timeouts in seconds; ``None`` (or 0) switches one off.

    Attributes:
        total: the whole request, from acquiring a connection to the last body byte
            (raises ``asyncio.TimeoutError``).
        connect: acquiring a connection, waiting for a free pool slot included
            (raises :class:`ConnectionTimeoutError`).
        sock_read: the longest wait for the next bytes of the response
            (raises :class:`SocketTimeoutError`).
        sock_connect: opening one socket: the TCP and TLS handshakes
            (raises :class:`ConnectionTimeoutError`).
    """

    total: float | None = None
    connect: float | None = None
    sock_read: float | None = None
    sock_connect: float | None = None


DEFAULT_TIMEOUT = ClientTimeout(total=300, sock_connect=30)
"""The session default, as aiohttp's: five minutes in all, 30 s to open a socket."""
