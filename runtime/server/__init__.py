"""The connection layer (asyncio): one HTTP/1.1 connection's state machine, its settings, flow
control and the request body stream. It serves a ``RequestService`` and knows nothing of
applications (docs/architecture.md)."""

from .config import Clock, ProtocolConfig, RequestService
from .protocol import HttpProtocol
from .state import ConnState, TimerKind
from .streams import EMPTY_PAYLOAD, StreamReader

__all__ = [
    "EMPTY_PAYLOAD",
    "Clock",
    "ConnState",
    "HttpProtocol",
    "ProtocolConfig",
    "RequestService",
    "StreamReader",
    "TimerKind",
]
