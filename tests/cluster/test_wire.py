"""The cluster's wire formats: bytes in, bytes out."""

from __future__ import annotations

import pytest

from runtime.cluster.wire import (
    ControlOp,
    decode_data,
    decode_reply,
    encode_data,
    encode_reply,
)
from runtime.http.ws import WSMsgType


def test_text_stays_utf8_from_publisher_to_frame() -> None:
    raw = encode_data("héllo")
    assert raw == b"t" + "héllo".encode()
    assert decode_data(raw) == (WSMsgType.TEXT, "héllo".encode())


@pytest.mark.parametrize("data", [b"\x00\xff", bytearray(b"ab"), memoryview(b"cd")])
def test_binary_messages_round_trip(data: bytes | bytearray | memoryview) -> None:
    assert decode_data(encode_data(data)) == (WSMsgType.BINARY, bytes(data))


def test_foreign_payloads_are_refused() -> None:
    with pytest.raises(ValueError):
        decode_data(b"{json from someone else}")
    with pytest.raises(ValueError):
        decode_data(b"")
    with pytest.raises(TypeError):
        encode_data(42)  # type: ignore[arg-type]


def test_control_ops_round_trip_through_stream_fields() -> None:
    op = ControlOp(op="close", id="abc", reply=b"p:reply:w1", user="ålice", code=4001, reason="bye")
    assert ControlOp.from_fields(op.fields()) == op
    send = ControlOp(op="send", id="d", reply=b"r", user="u", data=encode_data("hi"))
    assert ControlOp.from_fields(send.fields()) == send


def test_unknown_control_ops_are_refused() -> None:
    fields = ControlOp(op="close", id="a", reply=b"r", user="u").fields()
    fields[b"op"] = b"reboot"
    with pytest.raises(ValueError):
        ControlOp.from_fields(fields)
    del fields[b"op"]
    with pytest.raises(KeyError):
        ControlOp.from_fields(fields)


def test_replies_round_trip() -> None:
    assert decode_reply(encode_reply("id1", "host:1:ab", 3)) == ("id1", "host:1:ab", 3)
    with pytest.raises(ValueError):
        decode_reply(b"not json")
