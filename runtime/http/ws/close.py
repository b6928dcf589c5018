"""Close frame payloads: status codes and reasons (RFC 6455 5.5.1, 7.4)."""

from __future__ import annotations

from .models import WebSocketError, WSCloseCode

__all__ = ["build_close_payload", "is_valid_close_code", "parse_close_payload"]

# RFC 6455 7.4.1 and the IANA "WebSocket Close Code Number Registry": the codes an
# endpoint may put on the wire below 3000. 1004 is reserved, 1005 and 1006 must never be
# sent, 1015 is reserved for TLS failures, 1016-2999 are unassigned.
_ASSIGNED = frozenset({1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014})


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame.

    3000-3999 are registered by libraries and frameworks, 4000-4999 are private use
    (RFC 6455 7.4.2); everything else outside the assigned set is refused.
    """
    return code in _ASSIGNED or 3000 <= code <= 4999


def parse_close_payload(payload: bytes) -> tuple[int, str]:
    """Split a received Close frame's payload into code and reason.

    An empty payload carries no code: we report 1005 (RFC 6455 7.1.5).

    Raises:
        WebSocketError: 1002 for a one-byte payload or an invalid code, or a reason that is
            not UTF-8 (RFC 6455 5.5.1: "the body MUST be ... UTF-8-encoded data").
    """
    if not payload:
        return WSCloseCode.NO_STATUS_RECEIVED, ""
    if len(payload) == 1:
        raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, "Close frame with a 1-byte payload")
    code = int.from_bytes(payload[:2], "big")
    if not is_valid_close_code(code):
        raise WebSocketError(WSCloseCode.PROTOCOL_ERROR, f"Invalid close code {code}")
    try:
        reason = payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise WebSocketError(
            WSCloseCode.PROTOCOL_ERROR, "Close reason is not valid UTF-8"
        ) from None
    return code, reason


def build_close_payload(code: int | None, reason: bytes | str = b"") -> bytes:
    """The payload of a Close frame we send; ``code=None`` sends an empty one.

    Raises:
        ValueError: a code we may not send, a reason without a code, or a payload over the
            125 bytes a control frame can carry (RFC 6455 5.5).
    """
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    if code is None:
        if reason:
            raise ValueError("A close reason needs a close code")
        return b""
    if not is_valid_close_code(code):
        raise ValueError(f"Close code {code} cannot be sent")
    if len(reason) > 123:
        raise ValueError("Close reason longer than 123 bytes")
    return code.to_bytes(2, "big") + reason
