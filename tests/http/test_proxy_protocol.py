"""The PROXY protocol parser with exact bytes: whole, every prefix, and what follows it."""

from __future__ import annotations

import random
import struct

import pytest

from runtime.http.proxy_protocol import (
    V1_PREFIX,
    V2_SIGNATURE,
    ParseStatus,
    ProxyHeader,
    ProxyProtocolError,
    parse_proxy_header,
)

HTTP = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"


def v2(command: int, family: int, block: bytes, version: int = 2) -> bytes:
    return (
        V2_SIGNATURE
        + bytes([version << 4 | command, family])
        + struct.pack("!H", len(block))
        + block
    )


V2_TCP4 = v2(1, 0x11, bytes([203, 0, 113, 9, 10, 0, 0, 1]) + struct.pack("!HH", 56324, 443))
V2_TCP6 = v2(
    1,
    0x21,
    bytes.fromhex("20010db8000000000000000000000001")
    + bytes.fromhex("20010db8000000000000000000000002")
    + struct.pack("!HH", 1, 65535),
)

VALID = [
    (
        b"PROXY TCP4 203.0.113.9 10.0.0.1 56324 443\r\n",
        ProxyHeader(1, "PROXY", "TCP4", ("203.0.113.9", 56324), ("10.0.0.1", 443), (), 43),
    ),
    (
        b"PROXY TCP6 2001:db8::1 2001:db8::2 0 65535\r\n",
        ProxyHeader(1, "PROXY", "TCP6", ("2001:db8::1", 0), ("2001:db8::2", 65535), (), 44),
    ),
    (b"PROXY UNKNOWN\r\n", ProxyHeader(1, "PROXY", "UNKNOWN", None, None, (), 15)),
    (
        b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
        ProxyHeader(1, "PROXY", "UNKNOWN", None, None, (), 35),
    ),
    (
        V2_TCP4,
        ProxyHeader(2, "PROXY", "TCP4", ("203.0.113.9", 56324), ("10.0.0.1", 443), (), 28),
    ),
    (
        V2_TCP6,
        ProxyHeader(2, "PROXY", "TCP6", ("2001:db8::1", 1), ("2001:db8::2", 65535), (), 52),
    ),
    (v2(0, 0x00, b""), ProxyHeader(2, "LOCAL", "UNKNOWN", None, None, (), 16)),
    # LOCAL: the family and the block are discarded, whatever they say.
    (v2(0, 0x99, b"junk"), ProxyHeader(2, "LOCAL", "UNKNOWN", None, None, (), 20)),
    (v2(1, 0x00, b""), ProxyHeader(2, "PROXY", "UNKNOWN", None, None, (), 16)),
]


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_valid_headers_whole_and_followed_by_http(data: bytes, expected: ProxyHeader) -> None:
    assert parse_proxy_header(data) == expected
    header = parse_proxy_header(data + HTTP)
    assert header == expected
    assert isinstance(header, ProxyHeader)
    assert (data + HTTP)[header.length :] == HTTP


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_every_proper_prefix_is_incomplete(data: bytes, expected: ProxyHeader) -> None:
    for size in range(len(data)):
        assert parse_proxy_header(data[:size]) is ParseStatus.INCOMPLETE, size


@pytest.mark.parametrize(("data", "expected"), VALID)
def test_random_chunks_accumulated(data: bytes, expected: ProxyHeader) -> None:
    rng = random.Random(len(data))
    buffer = b""
    stream = data + HTTP
    result: ProxyHeader | ParseStatus = ParseStatus.INCOMPLETE
    while result is ParseStatus.INCOMPLETE:
        buffer += stream[len(buffer) : len(buffer) + rng.randint(1, 7)]
        result = parse_proxy_header(buffer)
    assert result == expected


def test_client_is_the_tcp_source_only() -> None:
    tcp = parse_proxy_header(V2_TCP4)
    assert isinstance(tcp, ProxyHeader)
    assert tcp.client == ("203.0.113.9", 56324)
    for data in (b"PROXY UNKNOWN\r\n", v2(0, 0x11, V2_TCP4[16:]), v2(1, 0x12, V2_TCP4[16:])):
        header = parse_proxy_header(data)
        assert isinstance(header, ProxyHeader)
        assert header.client is None


def test_v2_udp_and_unix_families_are_reported() -> None:
    udp = parse_proxy_header(v2(1, 0x12, V2_TCP4[16:]))
    assert isinstance(udp, ProxyHeader)
    assert (udp.family, udp.source) == ("UDP4", ("203.0.113.9", 56324))
    paths = b"/run/a.sock".ljust(108, b"\x00") + b"/run/b.sock".ljust(108, b"\x00")
    unix = parse_proxy_header(v2(1, 0x31, paths))
    assert isinstance(unix, ProxyHeader)
    assert (unix.family, unix.source, unix.destination) == ("UNIX", "/run/a.sock", "/run/b.sock")


def test_v2_tlvs_follow_the_addresses() -> None:
    tlvs = b"\x01\x00\x02h2" + b"\x04\x00\x00" + b"\x20\x00\x01\x07"
    header = parse_proxy_header(v2(1, 0x11, V2_TCP4[16:] + tlvs))
    assert isinstance(header, ProxyHeader)
    assert header.tlvs == ((0x01, b"h2"), (0x04, b""), (0x20, b"\x07"))


@pytest.mark.parametrize(
    "data", [HTTP, b"G", b"\r\n\r\n\x00X", b"PROXX", b"proxy ", b"\x16\x03\x01"]
)
def test_http_and_tls_are_absent(data: bytes) -> None:
    assert parse_proxy_header(data) is ParseStatus.ABSENT


def test_mode_restricts_the_version() -> None:
    v1 = b"PROXY UNKNOWN\r\n"
    assert parse_proxy_header(v1, "v2") is ParseStatus.ABSENT
    assert parse_proxy_header(V2_TCP4, "v1") is ParseStatus.ABSENT
    assert parse_proxy_header(b"\r\n", "v1") is ParseStatus.ABSENT
    assert parse_proxy_header(b"PRO", "v2") is ParseStatus.ABSENT
    assert isinstance(parse_proxy_header(v1, "v1"), ProxyHeader)
    assert isinstance(parse_proxy_header(V2_TCP4, "v2"), ProxyHeader)
    assert parse_proxy_header(b"", "v1") is ParseStatus.INCOMPLETE
    with pytest.raises(ValueError, match="mode"):
        parse_proxy_header(v1, "off")


INVALID = [
    b"PROXY TCP4 203.0.113.9 10.0.0.1 56324\r\n",  # five fields
    b"PROXY TCP4 203.0.113.9 10.0.0.1 56324 443 x\r\n",  # seven
    b"PROXY TCP4  203.0.113.9 10.0.0.1 1 2\r\n",  # double space
    b"PROXY UDP4 203.0.113.9 10.0.0.1 1 2\r\n",
    b"PROXY TCP4 2001:db8::1 10.0.0.1 1 2\r\n",  # family mismatch
    b"PROXY TCP6 203.0.113.9 2001:db8::2 1 2\r\n",
    b"PROXY TCP4 203.0.113.256 10.0.0.1 1 2\r\n",
    b"PROXY TCP4 203.0.113.09 10.0.0.1 1 2\r\n",  # leading zero in an octet
    b"PROXY TCP4 203.0.113.9 10.0.0.1 01 2\r\n",  # leading zero in a port
    b"PROXY TCP4 203.0.113.9 10.0.0.1 65536 2\r\n",
    b"PROXY TCP4 203.0.113.9 10.0.0.1 -1 2\r\n",
    b"PROXY TCP4 203.0.113.9 10.0.0.1 \xd9\xa1 2\r\n",  # non-ASCII digit
    b"PROXY TCP4 203.0.113.9 10.0.0.1 1 2\n",  # bare LF
    b"PROXY TCP4 203.0.113.9\t10.0.0.1 1 2\r\n",
    b"PROXY " + b"A" * 101,  # no CRLF within 107 bytes
    v2(1, 0x11, V2_TCP4[16:], version=1),
    v2(2, 0x11, V2_TCP4[16:]),  # command 2
    v2(1, 0x13, V2_TCP4[16:]),  # transport protocol 3
    v2(1, 0x41, V2_TCP4[16:]),  # family 4
    v2(1, 0x11, V2_TCP4[16:27]),  # IPv4 block one byte short
    v2(1, 0x21, V2_TCP4[16:]),  # an IPv4-sized block for IPv6
    v2(1, 0x11, V2_TCP4[16:] + b"\x01\x00"),  # TLV header cut
    v2(1, 0x11, V2_TCP4[16:] + b"\x01\x00\x05abc"),  # TLV value cut
]


@pytest.mark.parametrize("data", INVALID)
def test_invalid_headers_raise_400(data: bytes) -> None:
    with pytest.raises(ProxyProtocolError) as info:
        parse_proxy_header(data + HTTP if not data.startswith(b"PROXY " + b"A") else data)
    assert info.value.status == 400


def test_prefixes_and_constants() -> None:
    assert V1_PREFIX == b"PROXY "
    assert V2_SIGNATURE == bytes.fromhex("0d0a0d0a000d0a515549540a")
