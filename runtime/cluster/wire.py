"""How messages travel through Redis: bytes in, bytes out, no event loop.

A data message is one pub/sub payload: a kind byte (``t`` text, ``b`` binary) and the
message as is. Text stays UTF-8 from the publisher to every socket: the WebSocket frame
carries the same bytes (RFC 6455 5.6), so no worker decodes or re-encodes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from ..http.ws import WSMsgType

__all__ = ["ControlOp", "decode_data", "encode_data"]

_TEXT = b"t"
_BINARY = b"b"


def encode_data(data: str | bytes | bytearray | memoryview) -> bytes:
    """The pub/sub payload of a message."""
    if isinstance(data, str):
        return _TEXT + data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return _BINARY + bytes(data)
    raise TypeError(f"data must be str or bytes, not {type(data).__name__}")


def decode_data(raw: bytes) -> tuple[WSMsgType, bytes]:
    """The opcode and payload of a pub/sub payload.

    Raises:
        ValueError: a payload not written by :func:`encode_data` (another publisher on our
            channel): the listener drops and counts it.
    """
    kind = raw[:1]
    if kind == _TEXT:
        return WSMsgType.TEXT, raw[1:]
    if kind == _BINARY:
        return WSMsgType.BINARY, raw[1:]
    raise ValueError("not a cluster message")


@dataclass(frozen=True, slots=True)
class ControlOp:
    """One control operation, as a stream entry's fields.

    ``op`` is ``close`` or ``send``; ``id`` ties the workers' answers to the caller waiting
    on ``reply`` (its reply channel).
    """

    op: str
    id: str
    reply: bytes
    user: str
    code: int = 1000
    reason: str = ""
    data: bytes = b""  # for send: an encode_data() payload

    def fields(self) -> dict[bytes, bytes]:
        return {
            b"op": self.op.encode(),
            b"id": self.id.encode(),
            b"reply": self.reply,
            b"user": self.user.encode(),
            b"code": str(self.code).encode(),
            b"reason": self.reason.encode(),
            b"data": self.data,
        }

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, bytes]) -> ControlOp:
        """Raises ``KeyError``/``ValueError`` on an entry we did not write."""
        op = fields[b"op"].decode()
        if op not in ("close", "send"):
            raise ValueError(f"unknown control operation {op!r}")
        return cls(
            op=op,
            id=fields[b"id"].decode(),
            reply=fields[b"reply"],
            user=fields[b"user"].decode(),
            code=int(fields[b"code"]),
            reason=fields[b"reason"].decode(),
            data=fields.get(b"data", b""),
        )


def encode_reply(op_id: str, worker: str, count: int) -> bytes:
    """A worker's answer to an operation: how many of its sockets it acted on."""
    return json.dumps({"id": op_id, "worker": worker, "count": count}).encode()


def decode_reply(raw: bytes) -> tuple[str, str, int]:
    """Raises ``ValueError``/``KeyError``/``TypeError`` on a payload we did not write."""
    obj = json.loads(raw)
    return str(obj["id"]), str(obj["worker"]), int(obj["count"])
