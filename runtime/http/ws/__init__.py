"""WebSocket protocol (RFC 6455, RFC 7692): framing, handshake, permessage-deflate.

Pure state machines, no asyncio: bytes go in, messages and frames come out.
"""

from .close import build_close_payload, is_valid_close_code, parse_close_payload
from .deflate import DeflateParams, Deflater, Inflater, NegotiationError
from .handshake import (
    WS_GUID,
    ClientHandshake,
    HandshakeError,
    ServerHandshake,
    accept_key,
    check_response,
    client_request,
    server_handshake,
)
from .models import (
    WS_CLOSED_MESSAGE,
    WS_CLOSING_MESSAGE,
    WebSocketError,
    WSCloseCode,
    WSMessage,
    WSMsgType,
)
from .reader import DEFAULT_MAX_FRAGMENTS, DEFAULT_MAX_MSG_SIZE, FrameReader
from .utf8 import Utf8Decoder
from .writer import FrameWriter

__all__ = [
    "DEFAULT_MAX_FRAGMENTS",
    "DEFAULT_MAX_MSG_SIZE",
    "WS_CLOSED_MESSAGE",
    "WS_CLOSING_MESSAGE",
    "WS_GUID",
    "ClientHandshake",
    "DeflateParams",
    "Deflater",
    "FrameReader",
    "FrameWriter",
    "HandshakeError",
    "Inflater",
    "NegotiationError",
    "ServerHandshake",
    "Utf8Decoder",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WebSocketError",
    "accept_key",
    "build_close_payload",
    "check_response",
    "client_request",
    "is_valid_close_code",
    "parse_close_payload",
    "server_handshake",
]
