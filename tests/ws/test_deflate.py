"""permessage-deflate (RFC 7692): the 7.2.3 examples, negotiation, and the size cap."""

from __future__ import annotations

import tracemalloc
import zlib

import pytest

from runtime.http.ws import DeflateParams, FrameReader, FrameWriter, WSMessage, WSMsgType
from runtime.http.ws.deflate import (
    NegotiationError,
    client_offer,
    negotiate,
    parse_extensions,
    parse_response,
)
from tests.ws.feeding import feed, mode_param
from tests.ws.helpers import masked
from tests.ws.test_frames import error_code

H = bytes.fromhex
HELLO = WSMessage(WSMsgType.TEXT, "Hello", "")


def client_reader(**params: bool | int) -> FrameReader:
    return FrameReader(is_client=True, deflate=DeflateParams(**params))  # type: ignore[arg-type]


# -- RFC 7692 7.2.3 examples, as the server sends them ------------------------------------


@mode_param
@pytest.mark.parametrize(
    "frames",
    [
        pytest.param("c107f248cdc9c90700", id="7.2.3.1-single-frame"),
        pytest.param("4103f248cd8004c9c90700", id="7.2.3.1-fragmented"),
        pytest.param("c10b0005 00faff48656c6c6f00".replace(" ", ""), id="7.2.3.3-stored-block"),
        pytest.param("c108f348cdc9c9070000", id="7.2.3.4-bfinal"),
        pytest.param("c10df248050000 00ffffcac9c90700".replace(" ", ""), id="7.2.3.5-two-blocks"),
    ],
)
def test_rfc7692_examples(frames: str, mode: str) -> None:
    assert feed(client_reader(), H(frames), mode) == [HELLO]


def test_rfc7692_empty_message() -> None:
    assert client_reader().feed(H("c10100")) == [WSMessage(WSMsgType.TEXT, "", "")]
    assert FrameWriter(deflate=DeflateParams()).message(WSMsgType.TEXT, b"") == H("c10100")


@mode_param
def test_rfc7692_sharing_the_window(mode: str) -> None:
    # 7.2.3.2: the second "Hello" refers back into the first message.
    data = H("c107f248cdc9c90700") + H("c105f200110000")
    assert feed(client_reader(), data, mode) == [HELLO, HELLO]


def test_writer_with_and_without_context_takeover() -> None:
    takeover = FrameWriter(deflate=DeflateParams())
    assert takeover.message(WSMsgType.TEXT, b"Hello") == H("c107f248cdc9c90700")
    assert takeover.message(WSMsgType.TEXT, b"Hello") == H("c105f200110000")
    fresh = FrameWriter(deflate=DeflateParams(server_no_context_takeover=True))
    assert fresh.message(WSMsgType.TEXT, b"Hello") == H("c107f248cdc9c90700")
    assert fresh.message(WSMsgType.TEXT, b"Hello") == H("c107f248cdc9c90700")
    assert fresh.message(WSMsgType.TEXT, b"Hello", compress=False) == H("810548656c6c6f")


@mode_param
@pytest.mark.parametrize("no_takeover", [False, True])
def test_client_to_server_round_trip(no_takeover: bool, mode: str) -> None:
    params = DeflateParams(client_no_context_takeover=no_takeover)
    writer = FrameWriter(is_client=True, deflate=params)
    texts = ["Hello", "Hello", "κόσμε" * 100, ""]
    data = b"".join(writer.message(WSMsgType.TEXT, t.encode()) for t in texts)
    data += writer.message(WSMsgType.BINARY, bytes(10000))
    expected = [WSMessage(WSMsgType.TEXT, t, "") for t in texts]
    expected.append(WSMessage(WSMsgType.BINARY, bytes(10000), ""))
    assert feed(FrameReader(deflate=params), data, mode) == expected


def test_uncompressed_message_on_a_deflate_connection() -> None:
    assert FrameReader(deflate=DeflateParams()).feed(masked(0x81, b"Hello")) == [HELLO]


# -- the size cap while inflating ---------------------------------------------------------


def test_deflate_bomb_is_refused_without_inflating_it() -> None:
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = c.compress(bytes(64 * 1024 * 1024)) + c.flush(zlib.Z_SYNC_FLUSH)
    payload = payload[:-4]
    assert len(payload) < 100_000
    reader = FrameReader(max_msg_size=1024 * 1024, deflate=DeflateParams())
    frame = masked(0xC2, payload)
    tracemalloc.start()
    try:
        msgs = reader.feed(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error_code(msgs) == 1009
    assert peak < 4 * 1024 * 1024  # never near the 64 MiB the bomb would inflate to


def test_inflated_size_limit_across_fragments() -> None:
    params = DeflateParams()
    payload = FrameWriter(deflate=params)._deflater.compress(bytes(3000))  # type: ignore[union-attr]
    half = len(payload) // 2
    data = masked(0x42, payload[:half]) + masked(0x80, payload[half:])
    assert error_code(FrameReader(max_msg_size=2999, deflate=params).feed(data)) == 1009
    msgs = FrameReader(max_msg_size=3000, deflate=params).feed(data)
    assert msgs == [WSMessage(WSMsgType.BINARY, bytes(3000), "")]


def test_invalid_deflate_data() -> None:
    reader = FrameReader(deflate=DeflateParams())
    assert error_code(reader.feed(masked(0xC1, b"\xff\xff\xff\xff"))) == 1007


# -- negotiation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offer", "answer"),
    [
        ("permessage-deflate", "permessage-deflate"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate"),
        (
            "permessage-deflate; server_no_context_takeover",
            "permessage-deflate; server_no_context_takeover",
        ),
        (
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover",
        ),
        (
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; server_max_window_bits=10",
        ),
        (
            'permessage-deflate; client_max_window_bits="12"',
            "permessage-deflate; client_max_window_bits=12",
        ),
        # server_max_window_bits=8 cannot be honoured with zlib: the next offer is taken.
        (
            "permessage-deflate; server_max_window_bits=8, permessage-deflate",
            "permessage-deflate",
        ),
        ("x-webkit-deflate-frame, permessage-deflate", "permessage-deflate"),
        (
            "permessage-deflate; unknown, permessage-deflate; client_no_context_takeover",
            "permessage-deflate; client_no_context_takeover",
        ),
        ("PerMessage-Deflate", "permessage-deflate"),
    ],
)
def test_server_negotiation(offer: str, answer: str) -> None:
    agreed = negotiate([offer])
    assert agreed is not None
    assert agreed[1] == answer


@pytest.mark.parametrize(
    "offer",
    [
        "",
        "x-webkit-deflate-frame",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=8",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; foo=bar",
        "permessage deflate",
    ],
)
def test_server_declines(offer: str) -> None:
    assert negotiate([offer]) is None


def test_server_preferences() -> None:
    agreed = negotiate(
        ["permessage-deflate; client_max_window_bits"],
        server_no_context_takeover=True,
        client_no_context_takeover=True,
        server_max_window_bits=12,
        client_max_window_bits=10,
    )
    assert agreed is not None
    params, header = agreed
    assert params == DeflateParams(True, True, 12, 10)
    assert header == (
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=12; client_max_window_bits=10"
    )
    # Without client_max_window_bits in the offer we must not answer with it.
    agreed = negotiate(["permessage-deflate"], client_max_window_bits=10)
    assert agreed is not None and agreed[1] == "permessage-deflate"


def test_offers_split_over_several_header_lines() -> None:
    agreed = negotiate(["foo", "permessage-deflate; server_max_window_bits=9"])
    assert agreed is not None and agreed[0].server_max_window_bits == 9


def test_parse_extensions() -> None:
    assert parse_extensions(['a; b=1, c;d="e" ,, f']) == [
        ("a", [("b", "1")]),
        ("c", [("d", "e")]),
        ("f", []),
    ]
    with pytest.raises(NegotiationError):
        parse_extensions(["a b"])


def test_client_offer_and_response() -> None:
    assert client_offer() == "permessage-deflate; client_max_window_bits"
    assert parse_response([]) is None
    assert parse_response(["permessage-deflate"]) == DeflateParams()
    assert parse_response(
        ["permessage-deflate; server_no_context_takeover; client_max_window_bits=10"]
    ) == DeflateParams(server_no_context_takeover=True, client_max_window_bits=10)
    for bad in [
        "x-other",
        "permessage-deflate, permessage-deflate",
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_max_window_bits=8",
        "permessage-deflate; bogus",
    ]:
        with pytest.raises(NegotiationError):
            parse_response([bad])
    with pytest.raises(NegotiationError):
        parse_response(["permessage-deflate"], server_no_context_takeover=True)
    with pytest.raises(NegotiationError):
        parse_response(["permessage-deflate; server_max_window_bits=12"], server_max_window_bits=10)
