"""The PROXY protocol, versions 1 (text) and 2 (binary): bytes in, a parsed header out.

A load balancer that speaks it (HAProxy, AWS NLB, stunnel) sends one header before the first
byte of HTTP, carrying the address of the client it accepted. The format is HAProxy's
"proxy-protocol.txt" (sections 2.1 and 2.2). This module only parses; deciding whether a peer
may send such a header, and what to do with the address, belongs to whoever owns the socket.

Nothing here touches sockets or the event loop, so the tests feed it exact bytes.
"""

from __future__ import annotations

import enum
import ipaddress
import struct
from dataclasses import dataclass

from .errors import BadHttpMessage

__all__ = [
    "V1_PREFIX",
    "V2_SIGNATURE",
    "ParseStatus",
    "ProxyHeader",
    "ProxyProtocolError",
    "parse_proxy_header",
]

V1_PREFIX = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
# 2.1: "a receiver [...] only has to read up to 107 characters": the longest TCP6 line.
V1_MAX_LENGTH = 107
_V2_FIXED = 16  # signature, version/command, family/protocol, length
_V2_COMMANDS = {0x0: "LOCAL", 0x1: "PROXY"}
# 2.2: family (high nibble) and transport protocol (low nibble) of the original connection.
_V2_FAMILIES = {
    0x00: "UNKNOWN",
    0x11: "TCP4",
    0x12: "UDP4",
    0x21: "TCP6",
    0x22: "UDP6",
    0x31: "UNIX",
    0x32: "UNIX_DGRAM",
}
_V2_ADDRESS_SIZES = {1: 12, 2: 36, 3: 216}  # IPv4, IPv6, AF_UNIX address blocks
_MODES = frozenset({"v1", "v2", "auto"})

Address = tuple[str, int] | str | None


class ProxyProtocolError(BadHttpMessage):
    """A malformed PROXY protocol header (answered with 400, then the connection closes)."""


class ParseStatus(enum.Enum):
    """What :func:`parse_proxy_header` says when it has no header to return."""

    INCOMPLETE = "incomplete"  # the data may still become a header: read more
    ABSENT = "absent"  # the data does not start with a header the mode accepts


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """One parsed header.

    Attributes:
        version: 1 or 2.
        command: ``"PROXY"`` (relayed connection) or ``"LOCAL"`` (v2 only: the proxy's
            own connection, a health check; the addresses carry no meaning).
        family: ``"TCP4"``, ``"TCP6"``, ``"UNKNOWN"`` and, in v2 only, ``"UDP4"``,
            ``"UDP6"``, ``"UNIX"``, ``"UNIX_DGRAM"``.
        source, destination: ``(host, port)`` for IP families, a path for UNIX families,
            ``None`` when unknown.
        tlvs: v2 type-length-value extensions, ``(type, value)`` in order.
        length: how many bytes of the input the header took.
    """

    version: int
    command: str
    family: str
    source: Address
    destination: Address
    tlvs: tuple[tuple[int, bytes], ...]
    length: int

    @property
    def client(self) -> tuple[str, int] | None:
        """The relayed client's TCP address, or ``None`` when the header does not carry one
        (LOCAL, UNKNOWN, UDP and UNIX families): keep the connection's own peer then."""
        if self.command == "PROXY" and self.family in ("TCP4", "TCP6"):
            assert isinstance(self.source, tuple)
            return self.source
        return None


def parse_proxy_header(data: bytes, mode: str = "auto") -> ProxyHeader | ParseStatus:
    """Parse the PROXY header at the start of ``data``.

    Args:
        data: the bytes received so far on the connection.
        mode: ``"v1"``, ``"v2"`` or ``"auto"`` (either); a header of another version counts
            as absent.

    Returns:
        The header (its ``length`` says where HTTP starts), ``ParseStatus.INCOMPLETE`` when
        more bytes are needed to decide, or ``ParseStatus.ABSENT`` when ``data`` does not
        begin with a header (it is HTTP).

    Raises:
        ProxyProtocolError: the data begins like a header but is not a valid one.
        ValueError: an unknown ``mode``.
    """
    if mode not in _MODES:
        raise ValueError(f"PROXY protocol mode must be one of {sorted(_MODES)}, got {mode!r}")
    maybe_v1 = mode != "v2" and _starts_like(data, V1_PREFIX)
    maybe_v2 = mode != "v1" and _starts_like(data, V2_SIGNATURE)
    if maybe_v2 and len(data) >= len(V2_SIGNATURE):
        return _parse_v2(data)
    if maybe_v1 and len(data) >= len(V1_PREFIX):
        return _parse_v1(data)
    if maybe_v1 or maybe_v2:
        return ParseStatus.INCOMPLETE
    return ParseStatus.ABSENT


def _starts_like(data: bytes, prefix: bytes) -> bool:
    """``data`` begins with ``prefix``, or is a beginning of it."""
    size = min(len(data), len(prefix))
    return data[:size] == prefix[:size]


# -- version 1 -----------------------------------------------------------------------------


def _parse_v1(data: bytes) -> ProxyHeader | ParseStatus:
    end = data.find(b"\r\n", 0, V1_MAX_LENGTH)
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise ProxyProtocolError(f"PROXY v1 line longer than {V1_MAX_LENGTH} bytes")
        if b"\n" in data:
            raise ProxyProtocolError("PROXY v1 line not ended by CRLF")
        return ParseStatus.INCOMPLETE
    line = data[:end]
    if any(byte < 0x20 or byte > 0x7E for byte in line):
        raise ProxyProtocolError("PROXY v1 line has a control or non-ASCII byte")
    parts = line.decode("ascii").split(" ")
    length = end + 2
    if len(parts) >= 2 and parts[1] == "UNKNOWN":
        # 2.1: the rest of an UNKNOWN line is to be ignored.
        return ProxyHeader(1, "PROXY", "UNKNOWN", None, None, (), length)
    if len(parts) != 6:
        raise ProxyProtocolError("PROXY v1 line must have six fields")
    _, family, src, dst, sport, dport = parts
    if family not in ("TCP4", "TCP6"):
        raise ProxyProtocolError(f"PROXY v1 protocol {family!r} is not TCP4, TCP6 or UNKNOWN")
    version = 4 if family == "TCP4" else 6
    source = (_v1_address(src, version), _v1_port(sport))
    destination = (_v1_address(dst, version), _v1_port(dport))
    return ProxyHeader(1, "PROXY", family, source, destination, (), length)


def _v1_address(text: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not valid") from None
    if address.version != version:
        raise ProxyProtocolError(f"PROXY v1 address {text!r} is not IPv{version}")
    return str(address)


def _v1_port(text: str) -> int:
    # 2.1: ports are decimal 0-65535 without leading zeros.
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise ProxyProtocolError(f"PROXY v1 port {text!r} is not valid")
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError(f"PROXY v1 port {text!r} is out of range")
    return port


# -- version 2 -----------------------------------------------------------------------------


def _parse_v2(data: bytes) -> ProxyHeader | ParseStatus:
    if len(data) < _V2_FIXED:
        return ParseStatus.INCOMPLETE
    version_command, family_protocol, size = struct.unpack_from("!BBH", data, 12)
    if version_command >> 4 != 2:
        raise ProxyProtocolError(f"PROXY v2 version {version_command >> 4} is not 2")
    command = _V2_COMMANDS.get(version_command & 0x0F)
    if command is None:
        raise ProxyProtocolError(f"PROXY v2 command {version_command & 0x0F} is unknown")
    length = _V2_FIXED + size
    if command == "LOCAL":
        if len(data) < length:
            return ParseStatus.INCOMPLETE
        # 2.2: for LOCAL the receiver discards the whole block, family included, and uses
        # the real connection's endpoints.
        return ProxyHeader(2, command, "UNKNOWN", None, None, (), length)
    family = _V2_FAMILIES.get(family_protocol)
    if family is None:
        raise ProxyProtocolError(f"PROXY v2 family/protocol 0x{family_protocol:02x} is unknown")
    if len(data) < length:
        return ParseStatus.INCOMPLETE
    block = data[_V2_FIXED:length]
    address_size = _V2_ADDRESS_SIZES.get(family_protocol >> 4, 0)
    if len(block) < address_size:
        raise ProxyProtocolError(f"PROXY v2 address block shorter than {address_size} bytes")
    source, destination = _v2_addresses(family_protocol >> 4, block)
    tlvs = _parse_tlvs(block[address_size:])
    return ProxyHeader(2, command, family, source, destination, tlvs, length)


def _v2_addresses(family: int, block: bytes) -> tuple[Address, Address]:
    if family == 1:
        src, dst, sport, dport = struct.unpack_from("!4s4sHH", block)
        return (str(ipaddress.IPv4Address(src)), sport), (str(ipaddress.IPv4Address(dst)), dport)
    if family == 2:
        src, dst, sport, dport = struct.unpack_from("!16s16sHH", block)
        return (str(ipaddress.IPv6Address(src)), sport), (str(ipaddress.IPv6Address(dst)), dport)
    if family == 3:
        return _unix_path(block[:108]), _unix_path(block[108:216])
    return None, None


def _unix_path(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", "surrogateescape")


def _parse_tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    tlvs: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 3:
            raise ProxyProtocolError("PROXY v2 TLV header truncated")
        kind, size = struct.unpack_from("!BH", data, offset)
        offset += 3
        if len(data) - offset < size:
            raise ProxyProtocolError("PROXY v2 TLV value truncated")
        tlvs.append((kind, data[offset : offset + size]))
        offset += size
    return tuple(tlvs)
