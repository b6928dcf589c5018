"""WebSocket message types, close codes, the message tuple and the protocol error.

The names and values are aiohttp's (``WSMsgType``, ``WSCloseCode``, ``WSMessage``) so that
handlers written for ``aiohttp.web`` compare and unpack messages the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import IntEnum
from typing import Any, NamedTuple

__all__ = [
    "WS_CLOSED_MESSAGE",
    "WS_CLOSING_MESSAGE",
    "WSCloseCode",
    "WSMessage",
    "WSMsgType",
    "WebSocketError",
]


class WSCloseCode(IntEnum):
    """Close status codes (RFC 6455 7.4.1 and the IANA registry)."""

    OK = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1005 and 1006 are never sent on the wire (RFC 6455 7.4.1); they report what happened.
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_TEXT = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014


class WSMsgType(IntEnum):
    """Frame opcodes (RFC 6455 5.2) plus the three states aiohttp reports as messages."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA
    CLOSING = 0x100
    CLOSED = 0x101
    ERROR = 0x102

    # aiohttp 3.x's lower-case aliases, still seen in older handlers.
    text = TEXT
    binary = BINARY
    ping = PING
    pong = PONG
    close = CLOSE
    closing = CLOSING
    closed = CLOSED
    error = ERROR


class WSMessage(NamedTuple):
    """One received message.

    ``data`` is ``str`` for TEXT, ``bytes`` for BINARY, PING and PONG, the close code
    (``int``) for CLOSE and the exception for ERROR. ``extra`` is the close reason for
    CLOSE and ``""`` otherwise (``None`` for the CLOSING, CLOSED and ERROR states).
    """

    type: WSMsgType
    data: Any
    extra: str | None

    def json(self, *, loads: Callable[[Any], Any] = json.loads) -> Any:
        """Decode ``data`` as JSON (TEXT or BINARY messages).

        Args:
            loads: the JSON decoder.

        Returns:
            The decoded value.
        """
        return loads(self.data)


WS_CLOSED_MESSAGE = WSMessage(WSMsgType.CLOSED, None, None)
WS_CLOSING_MESSAGE = WSMessage(WSMsgType.CLOSING, None, None)


class WebSocketError(Exception):
    """A protocol violation by the peer; ``code`` is the close code to fail with."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        super().__init__(code, message)

    def __str__(self) -> str:
        return str(self.args[1])
