"""The frame reader and writer with exact bytes (RFC 6455 5), fed whole and in pieces."""

from __future__ import annotations

import pytest

from runtime.http.ws import (
    FrameReader,
    FrameWriter,
    WebSocketError,
    WSCloseCode,
    WSMessage,
    WSMsgType,
)
from runtime.http.ws.reader import unmask
from tests.ws.feeding import feed, mode_param
from tests.ws.helpers import MASK, masked

H = bytes.fromhex


def server_reader(**kwargs: object) -> FrameReader:
    return FrameReader(**kwargs)  # type: ignore[arg-type]


def client_reader(**kwargs: object) -> FrameReader:
    return FrameReader(is_client=True, **kwargs)  # type: ignore[arg-type]


def error_code(messages: list[WSMessage]) -> int:
    assert messages, "expected an ERROR message"
    last = messages[-1]
    assert last.type is WSMsgType.ERROR, messages
    assert isinstance(last.data, WebSocketError)
    return last.data.code


# -- RFC 6455 5.7 examples ----------------------------------------------------------------


@mode_param
def test_rfc_single_frame_unmasked_text(mode: str) -> None:
    assert feed(client_reader(), H("810548656c6c6f"), mode) == [
        WSMessage(WSMsgType.TEXT, "Hello", "")
    ]


@mode_param
def test_rfc_single_frame_masked_text(mode: str) -> None:
    assert feed(server_reader(), H("818537fa213d7f9f4d5158"), mode) == [
        WSMessage(WSMsgType.TEXT, "Hello", "")
    ]


@mode_param
def test_rfc_fragmented_unmasked_text(mode: str) -> None:
    assert feed(client_reader(), H("010348656c") + H("80026c6f"), mode) == [
        WSMessage(WSMsgType.TEXT, "Hello", "")
    ]


@mode_param
def test_rfc_ping_and_masked_pong(mode: str) -> None:
    assert feed(client_reader(), H("890548656c6c6f"), mode) == [
        WSMessage(WSMsgType.PING, b"Hello", "")
    ]
    assert feed(server_reader(), H("8a8537fa213d7f9f4d5158"), mode) == [
        WSMessage(WSMsgType.PONG, b"Hello", "")
    ]


@mode_param
def test_rfc_256_bytes_and_64k_binary(mode: str) -> None:
    small = bytes(range(256))
    big = bytes(i % 251 for i in range(65536))
    data = H("827e0100") + small + H("827f0000000000010000") + big
    assert feed(client_reader(), data, mode) == [
        WSMessage(WSMsgType.BINARY, small, ""),
        WSMessage(WSMsgType.BINARY, big, ""),
    ]


def test_writer_produces_rfc_examples() -> None:
    server = FrameWriter()
    client = FrameWriter(is_client=True, mask_key=lambda: MASK)
    assert server.message(WSMsgType.TEXT, b"Hello") == H("810548656c6c6f")
    assert client.message(WSMsgType.TEXT, b"Hello") == H("818537fa213d7f9f4d5158")
    assert server.frame(WSMsgType.TEXT, b"Hel", fin=False) + server.frame(
        WSMsgType.CONTINUATION, b"lo"
    ) == H("010348656c80026c6f")
    assert server.ping(b"Hello") == H("890548656c6c6f")
    assert client.pong(b"Hello") == H("8a8537fa213d7f9f4d5158")
    assert server.message(WSMsgType.BINARY, bytes(256))[:4] == H("827e0100")
    assert server.message(WSMsgType.BINARY, bytes(65536))[:10] == H("827f0000000000010000")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_length_encodings_round_trip(size: int) -> None:
    payload = bytes(i % 256 for i in range(size))
    frame = FrameWriter(is_client=True).message(WSMsgType.BINARY, payload)
    assert feed(server_reader(), frame, "random-1") == [WSMessage(WSMsgType.BINARY, payload, "")]
    header = {0: 2, 1: 2, 125: 2, 126: 4, 127: 4, 65535: 4}.get(size, 10)
    assert len(frame) == header + 4 + size


def test_unmask_at_offsets() -> None:
    data = bytes(range(50))
    whole = unmask(data, MASK)
    assert unmask(data[:7], MASK) + unmask(data[7:], MASK, 7) == whole
    assert unmask(whole, MASK) == data


# -- masking ------------------------------------------------------------------------------


def test_server_refuses_unmasked_frame() -> None:
    # RFC 6455 5.1: a server closes the connection on an unmasked frame.
    assert error_code(feed(server_reader(), H("810548656c6c6f"))) == 1002


def test_client_refuses_masked_frame() -> None:
    assert error_code(feed(client_reader(), H("818537fa213d7f9f4d5158"))) == 1002


def test_reader_ignores_input_after_failure() -> None:
    reader = server_reader()
    assert error_code(reader.feed(H("810548656c6c6f"))) == 1002
    assert reader.failed
    assert reader.feed(H("818537fa213d7f9f4d5158")) == []


# -- lengths ------------------------------------------------------------------------------


def test_64bit_length_with_msb_set_is_refused_at_the_header() -> None:
    head = bytes([0x82, 0x80 | 127]) + (1 << 63 | 5).to_bytes(8, "big") + MASK
    assert error_code(server_reader().feed(head)) == 1002


@mode_param
def test_non_minimal_lengths_are_accepted(mode: str) -> None:
    data = masked(0x81, b"Hello", length=bytes([0x80 | 126]) + (5).to_bytes(2, "big"))
    data += masked(0x81, b"Hello", length=bytes([0x80 | 127]) + (5).to_bytes(8, "big"))
    assert feed(server_reader(), data, mode) == [WSMessage(WSMsgType.TEXT, "Hello", "")] * 2


# -- opcodes, RSV, control frames, fragmentation ------------------------------------------


@pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_unknown_opcodes_are_refused(opcode: int) -> None:
    assert error_code(server_reader().feed(masked(0x80 | opcode, b""))) == 1002


@pytest.mark.parametrize("rsv", [0x40, 0x20, 0x10, 0x70])
def test_rsv_bits_without_extension_are_refused(rsv: int) -> None:
    assert error_code(server_reader().feed(masked(0x81 | rsv, b"Hello"))) == 1002


def test_rsv1_allowed_only_on_first_data_frame_with_deflate() -> None:
    from runtime.http.ws import DeflateParams

    reader = FrameReader(deflate=DeflateParams())
    assert error_code(reader.feed(masked(0xC9, b""))) == 1002  # compressed ping
    reader = FrameReader(deflate=DeflateParams())
    assert error_code(reader.feed(masked(0x41, b"\x00") + masked(0xC0, b"\x00"))) == 1002
    reader = FrameReader(deflate=DeflateParams())
    assert error_code(reader.feed(masked(0xA1, b"Hello"))) == 1002  # RSV2 still refused


def test_control_frame_over_125_bytes_is_refused_before_its_payload() -> None:
    head = bytes([0x89, 0x80 | 126]) + (126).to_bytes(2, "big")
    assert error_code(server_reader().feed(head)) == 1002


def test_fragmented_control_frame_is_refused() -> None:
    assert error_code(server_reader().feed(masked(0x09, b"ping"))) == 1002


@mode_param
def test_control_frames_interleave_with_fragments(mode: str) -> None:
    data = masked(0x01, b"Hel") + masked(0x89, b"p") + masked(0x00, b"l") + masked(0x80, b"o")
    assert feed(server_reader(), data, mode) == [
        WSMessage(WSMsgType.PING, b"p", ""),
        WSMessage(WSMsgType.TEXT, "Hello", ""),
    ]


def test_continuation_without_message_is_refused() -> None:
    assert error_code(server_reader().feed(masked(0x80, b"x"))) == 1002


def test_new_message_inside_fragmented_one_is_refused() -> None:
    assert error_code(server_reader().feed(masked(0x01, b"a") + masked(0x81, b"b"))) == 1002


@mode_param
def test_empty_fragments(mode: str) -> None:
    data = masked(0x01, b"") + masked(0x00, b"") + masked(0x80, b"")
    assert feed(server_reader(), data, mode) == [WSMessage(WSMsgType.TEXT, "", "")]


# -- limits -------------------------------------------------------------------------------


def test_huge_announced_length_is_refused_at_the_header() -> None:
    # A header announcing 1 GiB: refused before a single payload byte arrives.
    head = bytes([0x82, 0x80 | 127]) + (1 << 30).to_bytes(8, "big") + MASK
    assert error_code(server_reader().feed(head)) == 1009


def test_message_limit_counts_fragments_at_their_headers() -> None:
    reader = server_reader(max_msg_size=10)
    assert reader.feed(masked(0x02, b"123456")) == []
    head = bytes([0x80, 0x80 | 5]) + MASK  # 6 + 5 > 10, refused before its payload
    assert error_code(reader.feed(head)) == 1009


def test_message_at_the_limit_passes() -> None:
    reader = server_reader(max_msg_size=10)
    assert reader.feed(masked(0x02, b"12345") + masked(0x80, b"67890")) == [
        WSMessage(WSMsgType.BINARY, b"1234567890", "")
    ]


def test_fragment_count_cap() -> None:
    reader = server_reader(max_fragments=3)
    data = masked(0x01, b"a") + masked(0x00, b"b") + masked(0x80, b"c")
    assert reader.feed(data) == [WSMessage(WSMsgType.TEXT, "abc", "")]
    data = masked(0x01, b"a") + masked(0x00, b"b") + masked(0x00, b"c") + masked(0x80, b"d")
    assert error_code(reader.feed(data)) == 1009


def test_zero_limit_means_unlimited() -> None:
    payload = bytes(5 * 1024 * 1024)
    frame = FrameWriter(is_client=True).message(WSMsgType.BINARY, payload)
    assert server_reader(max_msg_size=0).feed(frame) == [WSMessage(WSMsgType.BINARY, payload, "")]
    assert error_code(server_reader().feed(frame[:14])) == 1009


# -- UTF-8 --------------------------------------------------------------------------------


@mode_param
def test_multibyte_sequence_split_across_fragments(mode: str) -> None:
    text = "κόσμε"
    raw = text.encode()
    data = masked(0x01, raw[:3]) + masked(0x00, raw[3:7]) + masked(0x80, raw[7:])
    assert feed(server_reader(), data, mode) == [WSMessage(WSMsgType.TEXT, text, "")]


def test_invalid_utf8_fails_fast_across_fragments() -> None:
    reader = server_reader()
    assert reader.feed(masked(0x01, "κόσμε".encode())) == []
    # The second fragment starts a surrogate (ED A0 ..): invalid before the message ends.
    assert error_code(reader.feed(masked(0x00, b"\xed\xa0\x80"))) == 1007


def test_invalid_utf8_fails_fast_inside_a_frame() -> None:
    reader = server_reader()
    frame = masked(0x81, b"abc\xff" + b"x" * 100)
    # Only the header and the first 4 payload bytes have arrived: already refused.
    assert error_code(reader.feed(frame[:10])) == 1007


def test_text_ending_inside_a_sequence_is_refused() -> None:
    assert error_code(server_reader().feed(masked(0x81, "κ".encode()[:1]))) == 1007


@pytest.mark.parametrize("decode_text", [True, False])
def test_text_in_one_piece_and_in_several(decode_text: bool) -> None:
    # A whole message in one read is checked and decoded at once; one that comes in
    # pieces goes through the incremental decoder: both give the same message.
    text = "κόσμε " * 20
    data = text.encode()
    expected = text if decode_text else data
    whole = server_reader(decode_text=decode_text).feed(masked(0x81, data))
    assert [(m.type, m.data) for m in whole] == [(WSMsgType.TEXT, expected)]
    frame = masked(0x81, data)
    reader = server_reader(decode_text=decode_text)
    pieces = [m for at in range(0, len(frame), 7) for m in reader.feed(frame[at : at + 7])]
    assert [(m.type, m.data) for m in pieces] == [(WSMsgType.TEXT, expected)]
    fragments = server_reader(decode_text=decode_text)
    assert fragments.feed(masked(0x01, b"") + masked(0x80, data)) == whole  # empty first


@pytest.mark.parametrize("decode_text", [True, False])
def test_invalid_utf8_in_one_piece_is_refused(decode_text: bool) -> None:
    reader = server_reader(decode_text=decode_text)
    assert error_code(reader.feed(masked(0x81, b"ok \xc0\xaf"))) == 1007
    assert server_reader(decode_text=decode_text).feed(masked(0x81, b""))[0].data in ("", b"")


# -- close frames -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999]
)
def test_valid_close_codes(code: int) -> None:
    msgs = server_reader().feed(masked(0x88, code.to_bytes(2, "big") + b"bye"))
    assert msgs == [WSMessage(WSMsgType.CLOSE, code, "bye")]


@pytest.mark.parametrize(
    "code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535]
)
def test_invalid_close_codes(code: int) -> None:
    assert error_code(server_reader().feed(masked(0x88, code.to_bytes(2, "big")))) == 1002


def test_close_payload_edge_cases() -> None:
    assert server_reader().feed(masked(0x88, b"")) == [
        WSMessage(WSMsgType.CLOSE, WSCloseCode.NO_STATUS_RECEIVED, "")
    ]
    assert error_code(server_reader().feed(masked(0x88, b"\x03"))) == 1002
    assert error_code(server_reader().feed(masked(0x88, b"\x03\xe8\xff"))) == 1002


def test_writer_refuses_bad_control_payloads() -> None:
    writer = FrameWriter()
    with pytest.raises(ValueError):
        writer.ping(bytes(126))
    with pytest.raises(ValueError):
        writer.close(1006)
    with pytest.raises(ValueError):
        writer.close(1000, b"x" * 124)
    assert writer.close(None) == H("8800")
    assert writer.close(1000, "bye") == H("880503e8627965")
