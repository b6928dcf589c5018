"""What a connection is configured with, and what it talks to.

``ProtocolConfig`` holds one server's connection settings; a ``Clock`` gives the connection
its time and timers (the event loop, or a manual clock in tests); a ``RequestService`` is the
application side that answers its requests (``web.Server``). The connection itself is
``runtime/server/protocol.py``; the limits and rates are explained in docs/hardening.md.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..http.errors import HttpProcessingError
from ..http.message import RequestMessage
from ..http.parser import Limits
from ..http.writer import ResponseWriter
from .streams import StreamReader

if TYPE_CHECKING:  # the connection passes itself to the service; it imports this module
    from .protocol import HttpProtocol

__all__ = ["Clock", "ProtocolConfig", "RequestService", "TimerHandle", "server_logger"]

server_logger = logging.getLogger("runtime.server")


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the protocol needs of time: an event loop, or a manual clock in tests."""

    def time(self) -> float: ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle: ...


@dataclass(slots=True)
class ProtocolConfig:
    """Per-server connection settings (aiohttp's names where it has them)."""

    limits: Limits = field(default_factory=Limits)
    keepalive_timeout: float = 75.0  # longer than nginx's upstream keepalive_timeout (60 s)
    head_timeout: float = 10.0  # whole request head, from its first byte (slowloris)
    body_timeout: float | None = 60.0  # each wait for more body bytes
    # Minimum data rates (bytes/s; 0 turns one off), judged over each ``rate_window``
    # seconds in which the server waits for request bytes it is ready to read: a head that
    # has begun, a body being received. 500 B/s is a tenth of a GPRS link, yet it cuts a
    # slowloris or slow-body client within one window (docs/hardening.md).
    min_head_rate: float = 500.0
    min_body_rate: float = 500.0
    rate_window: float = 5.0
    # How long the peer may keep our writes blocked (the write buffer past its high-water
    # mark) without reading anything; any progress restarts it. Then the connection is
    # aborted: a half-written response cannot be finished. nginx's send_timeout, and its
    # default (docs/hardening.md). None or 0: no limit.
    send_timeout: float | None = 60.0
    max_pipeline: int = 16  # requests read ahead of the one being answered
    handler_cancellation: bool = False
    server_header: str | None = "Berth"
    read_high_water: int = 2**16
    lingering_time: float = 2.0
    logger: logging.Logger = server_logger


class RequestService(Protocol):
    """The application side of a connection (``web.Server`` implements it)."""

    def connection_made(self, conn: HttpProtocol) -> None: ...

    def connection_lost(self, conn: HttpProtocol) -> None: ...

    async def handle_request(
        self,
        conn: HttpProtocol,
        message: RequestMessage,
        payload: StreamReader,
        writer: ResponseWriter,
    ) -> None: ...

    async def handle_error(
        self, conn: HttpProtocol, error: HttpProcessingError, writer: ResponseWriter
    ) -> None: ...
