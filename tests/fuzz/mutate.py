"""Seeded mutations of HTTP/1.1 requests: seed and index in, one case's bytes out.

The seeds are the valid cases of the request corpus (``tests/http/requests/valid``) and a
few of our own (pipelining, WebSocket upgrades, 100-continue, the target app's routes).
Every case draws from its own ``random.Random`` seeded with the run's seed and the case's
index, so one case can be rebuilt alone: ``make_case(seed, index)`` is the reproducer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.http.corpus import CORPUS_DIR, load_case

__all__ = ["MUTATORS", "ROUTES", "SEEDS", "FuzzCase", "Seed", "load_seeds", "make_case"]


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    # Bytes after an upgrade request: HTTP only if the server declines it, and then they
    # are rightly refused, so even the unchanged seed may get a 400.
    tail: bool = False


@dataclass(frozen=True)
class FuzzCase:
    """One case: the bytes, how they go on the wire, and how they were made."""

    seed: int
    index: int
    origin: str  # the seed request's name
    mutations: tuple[str, ...]
    data: bytes
    pieces: tuple[bytes, ...]  # b"".join(pieces) == data
    pause: float  # seconds between pieces
    half_close: bool  # shut our write side down after the last piece
    pristine: bool = False  # a valid seed, unchanged: it must be answered, not refused
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"seed{self.seed}-case{self.index}"


# The target app's routes (tests/fuzz/target.py); corpus seeds get one of them now and then.
ROUTES = (
    b"/",
    b"/echo",
    b"/echo?q=1&r=%20",
    b"/stream",
    b"/ws",
    b"/form",
    b"/inspect?a=1&b=%zz&c=%C3%A9&d",
    b"/anything/else",
    b"http://example.com/echo",
    b"*",
)

_WS_HEAD = (
    b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
# A masked TEXT frame "Hello", a masked PING, a masked CLOSE 1000 (RFC 6455 5.7).
_WS_TEXT = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
_WS_PING = b"\x89\x80\x01\x02\x03\x04"
_WS_CLOSE = b"\x88\x82\x01\x02\x03\x04\x02\xea"

_MULTIPART = (
    b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue a\r\n'
    b'--XyZ\r\nContent-Disposition: form-data; name="f"; filename="f.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nfile body\r\n"
    b"--XyZ\r\nContent-Disposition: form-data; name=\"g\"; filename*=UTF-8''caf%C3%A9.txt\r\n"
    b"Content-Type: text/plain; charset=latin-1\r\n\r\n\xe9t\xe9\r\n"
    b'--XyZ\r\nContent-Disposition: form-data; name="b"\r\n\r\n\r\n--XyZ--\r\n'
)

_OWN_SEEDS = {
    "get_root": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "head_root": b"HEAD / HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "head_stream": b"HEAD /stream HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "get_stream": b"GET /stream HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
    "get_stream_http10": b"GET /stream HTTP/1.0\r\n\r\n",
    "post_echo": (
        b"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Type: text/plain\r\n"
        b"Content-Length: 11\r\n\r\nhello world"
    ),
    "post_echo_chunked": (
        b"POST /echo HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n"
        b'Trailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n6;q="a b"\r\n world\r\n0\r\n'
        b"X-Sum: 11\r\n\r\n"
    ),
    "put_echo_expect": (
        b"PUT /echo HTTP/1.1\r\nHost: example.com\r\nExpect: 100-continue\r\n"
        b"Content-Length: 4\r\n\r\ndata"
    ),
    "post_stream_unread": (
        b"POST /stream HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nabcde"
    ),
    "pipelined_mix": (
        b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n\r\nabc"
        b"POST /echo HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nxy\r\n0\r\n\r\n"
        b"HEAD /stream HTTP/1.1\r\nHost: example.com\r\n\r\n"
        b"GET /stream HTTP/1.1\r\nHost: example.com\r\n\r\n"
        b"GET /echo HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
    ),
    "pipelined_keep_alive_http10": (
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        b"POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok"
        b"GET / HTTP/1.0\r\n\r\n"
    ),
    "get_inspect": (
        b"GET /inspect?q=caf%C3%A9&x=1&x=2 HTTP/1.1\r\nHost: example.com:8080\r\n"
        b'Cookie: a=1; b="two"; c\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n'
        b"If-Unmodified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n"
        b'If-Range: Sun Nov  6 08:49:37 1994\r\nIf-Match: "a", W/"b"\r\n'
        b"If-None-Match: *\r\nRange: bytes=0-99\r\n"
        b'Forwarded: for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8::1]:80"\r\n'
        b"Content-Type: text/plain; charset=latin-1\r\n\r\n"
    ),
    "form_urlencoded": (
        b"POST /form HTTP/1.1\r\nHost: example.com\r\n"
        b"Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
        b"Content-Length: 25\r\n\r\nname=caf%C3%A9&x=1&x=2&e="
    ),
    "form_multipart": (
        b"POST /form HTTP/1.1\r\nHost: example.com\r\n"
        b"Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"%x\r\n%b\r\n0\r\n\r\n" % (len(_MULTIPART), _MULTIPART)
    ),
    "connection_close": b"GET /echo HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n",
    "absolute_form": b"GET http://example.com/echo?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "asterisk_form": b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n",
    "long_headers": (
        b"GET /echo HTTP/1.1\r\nHost: example.com\r\nCookie: "
        + b"k=v; " * 800
        + b"\r\nX-Long: "
        + b"x" * 6000
        + b"\r\nUser-Agent: fuzz\r\n\r\n"
    ),
    "websocket": _WS_HEAD + _WS_TEXT + _WS_PING + _WS_CLOSE,
    "websocket_no_frames": _WS_HEAD,
    "websocket_after_get": b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n" + _WS_HEAD + _WS_TEXT,
    "upgrade_with_body": (
        b"POST /echo HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n"
    ),
}


def load_seeds(root: Path = CORPUS_DIR) -> tuple[Seed, ...]:
    """The valid corpus cases, then our own seeds; in a fixed order (runs are seeded)."""
    cases = [load_case(path, root) for path in sorted((root / "valid").glob("*.http"))]
    corpus = [Seed(case.name, case.data, bool(case.expected.tail)) for case in cases]
    return (*corpus, *(Seed(f"own/{name}", data) for name, data in _OWN_SEEDS.items()))


SEEDS = load_seeds()

# -- where things are ---------------------------------------------------------------------

_REQUEST_LINE = re.compile(rb"(?m)^([A-Za-z]+) ([^ \r\n]+) (HTTP/[0-9.]+)\r?$")
_HEADER_LINE = re.compile(rb"(?m)^[!#$%&'*+.^_`|~0-9A-Za-z-]+:[^\r\n]*\r?\n")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length[ \t]*:[ \t]*([^\r\n]*?)[ \t]*\r?$")
_CHUNK_SIZE = re.compile(rb"(?m)^([0-9A-Fa-f]+)(?:;[^\r\n]*)?\r?$")
_VERSION = re.compile(rb"HTTP/1\.[01]")

# -- mutations -----------------------------------------------------------------------------

Mutator = Callable[[random.Random, bytes], bytes]

_SPECIALS = (b"\r", b"\n", b"\x00", b" ", b":", b"\t", b"\r\n", b"\r\n\r\n", b";", b",", b"\x7f")
_INTERESTING_BYTES = (0x00, 0x09, 0x0A, 0x0D, 0x20, 0x22, 0x2C, 0x3A, 0x3B, 0x7F, 0x80, 0xFF)
_HUGE_DECIMAL = (
    b"18446744073709551616",  # 2**64
    b"18446744073709551615",  # 2**64 - 1
    b"9223372036854775807",  # 2**63 - 1
    b"9223372036854775808",  # 2**63
    b"4294967296",
    b"99999999999999999999",
    b"000000000000000000000000000005",
    b"00",
    b"-1",
    b"-0",
    b"+5",
    b"0x10",
    b"0xa",
    b"a",
    b"1e3",
    b"5.0",
    b"5 5",
    b"5,5",
    b"5, 5",
    b"",
    b"1" * 300,
    b"\xd9\xa5",  # ARABIC-INDIC DIGIT FIVE
)
_HUGE_HEX = (
    b"ffffffffffffffff",
    b"10000000000000000",  # 2**64
    b"7fffffffffffffff",
    b"8000000000000000",
    b"FFFFFFFF",
    b"fffffffffffffffffffffffffffff",
    b"0000000000000000000000000005",
    b"-1",
    b"0x5",
    b"+5",
    b" 5",
    b"5 ",
    b"",
    b"g",
    b"0" * 100 + b"1",
)
_VERSIONS = (
    b"HTTP/2.0",
    b"HTTP/3.0",
    b"HTTP/0.9",
    b"HTTP/9.9",
    b"HTTP/1.2",
    b"HTTP/1.9",
    b"HTTP/1.10",
    b"HTTP/11",
    b"HTTP/1",
    b"HTTP/2",
    b"HTTP/1.1.1",
    b"http/1.1",
    b"HTTP /1.1",
    b"HTTP/1.\xd9\xa1",
    b"HTTP/A.B",
    b"HTTP/1.0",
    b"HTTP/1.1",
)
_FRAMING_HEADERS = (
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, gzip",
    b"Transfer-Encoding: identity",
    b"Transfer-Encoding: xchunked",
    b"Transfer-Encoding: gzip",
    b"Transfer-Encoding:",
    b"Content-Length: 0",
    b"Content-Length: 5",
    b"Content-Length: 5, 5",
    b"Content-Length: 100000",
    b"Content-Length: 2000000",
    b"Expect: 100-continue",
    b"Expect: 100-continue, foo",
    b"Connection: close",
    b"Connection: keep-alive",
    b"Connection: Upgrade",
    b"Upgrade: websocket",
    b"Upgrade: h2c",
    b"Host: other.example",
    b"Host:",
    b"Trailer: X-Sum",
    b"Content-Type: multipart/form-data; boundary=x",
    b"Content-Type: application/x-www-form-urlencoded",
    b"Content-Encoding: gzip",
    b"Content-Encoding: br",
    b"Sec-WebSocket-Version: 8",
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
    b"Range: bytes=0-1",
)


def _pos(rng: random.Random, data: bytes) -> int:
    return rng.randrange(len(data) + 1)


def flip_byte(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    roll = rng.random()
    if roll < 0.4:
        new = data[i] ^ (1 << rng.randrange(8))
    elif roll < 0.7:
        new = rng.choice(_INTERESTING_BYTES)
    else:
        new = rng.randrange(256)
    return data[:i] + bytes((new,)) + data[i + 1 :]


def insert_special(rng: random.Random, data: bytes) -> bytes:
    i = _pos(rng, data)
    return data[:i] + rng.choice(_SPECIALS) + data[i:]


def truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))] if data else data


def duplicate_header_line(rng: random.Random, data: bytes) -> bytes:
    lines = list(_HEADER_LINE.finditer(data))
    if not lines:
        return insert_special(rng, data)
    line = rng.choice(lines)
    copies = line.group() * rng.choice((1, 1, 2, 120))  # 120: past max_headers (100)
    return data[: line.end()] + copies + data[line.end() :]


def huge_number(rng: random.Random, data: bytes) -> bytes:
    sites = [(m.start(1), m.end(1), _HUGE_DECIMAL) for m in _CONTENT_LENGTH.finditer(data)]
    sites += [(m.start(1), m.end(1), _HUGE_HEX) for m in _CHUNK_SIZE.finditer(data)]
    if not sites:
        return _insert_header(rng, data, b"Content-Length: " + rng.choice(_HUGE_DECIMAL))
    start, end, numbers = rng.choice(sites)
    return data[:start] + rng.choice(numbers) + data[end:]


def split_header_line(rng: random.Random, data: bytes) -> bytes:
    lines = list(_HEADER_LINE.finditer(data))
    if not lines:
        return remove_crlf(rng, data)
    line = rng.choice(lines)
    i = rng.randrange(line.start(), line.end())
    glue = rng.choice((b"\r\n", b"\r\n ", b"\r\n\t", b"\n", b"\r"))
    return data[:i] + glue + data[i:]


def change_case(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 24))
    how = rng.choice((bytes.upper, bytes.lower, bytes.swapcase, bytes.title))
    return data[:i] + how(data[i:j]) + data[j:]


def remove_crlf(rng: random.Random, data: bytes) -> bytes:
    ends = [m.start() for m in re.finditer(rb"\r\n", data)]
    if not ends:
        return flip_byte(rng, data)
    roll = rng.random()
    if roll < 0.1:
        return data.replace(b"\r\n", b"\n")  # every CRLF a bare LF
    i = rng.choice(ends)
    if roll < 0.55:
        return data[:i] + data[i + 2 :]
    if roll < 0.8:
        return data[:i] + data[i + 1 :]  # a bare LF
    return data[: i + 1] + data[i + 2 :]  # a bare CR


def swap_version(rng: random.Random, data: bytes) -> bytes:
    sites = list(_VERSION.finditer(data))
    if not sites:
        return flip_byte(rng, data)
    site = rng.choice(sites)
    return data[: site.start()] + rng.choice(_VERSIONS) + data[site.end() :]


def _insert_header(rng: random.Random, data: bytes, header: bytes) -> bytes:
    # After a request line or a header line, so that it lands inside a head.
    anchors = [m.end() for m in _HEADER_LINE.finditer(data)]
    anchors += [m.end() + 1 for m in _REQUEST_LINE.finditer(data) if m.end() < len(data)]
    i = rng.choice(anchors) if anchors else _pos(rng, data)
    return data[:i] + header + b"\r\n" + data[i:]


def add_header(rng: random.Random, data: bytes) -> bytes:
    return _insert_header(rng, data, rng.choice(_FRAMING_HEADERS))


def long_field(rng: random.Random, data: bytes) -> bytes:
    size = rng.choice((4000, 8100, 8190, 8191, 8300, 20000))
    roll = rng.random()
    if roll < 0.5:
        return _insert_header(rng, data, b"X-Big: " + b"v" * size)
    if roll < 0.7:
        return _insert_header(rng, data, b"X" * size + b": v")
    lines = list(_REQUEST_LINE.finditer(data))
    if not lines:
        return _insert_header(rng, data, b"X-Big: " + b"v" * size)
    target = rng.choice(lines).start(2)
    return data[: target + 1] + b"a" * size + data[target + 1 :]


def duplicate_span(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 64))
    return data[:j] + data[i:j] * rng.randint(1, 4) + data[j:]


def delete_span(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    j = min(len(data), i + rng.randint(1, 16))
    return data[:i] + data[j:]


MUTATORS: dict[str, Mutator] = {
    "flip_byte": flip_byte,
    "insert_special": insert_special,
    "truncate": truncate,
    "duplicate_header_line": duplicate_header_line,
    "huge_number": huge_number,
    "split_header_line": split_header_line,
    "change_case": change_case,
    "remove_crlf": remove_crlf,
    "swap_version": swap_version,
    "add_header": add_header,
    "long_field": long_field,
    "duplicate_span": duplicate_span,
    "delete_span": delete_span,
}
_NAMES = tuple(MUTATORS)
# The shapes the brief cares most about come up more often than the generic ones.
_WEIGHTS = (3, 3, 1, 2, 3, 2, 2, 2, 1, 2, 1, 1, 1)

# -- a case --------------------------------------------------------------------------------


def _retarget(rng: random.Random, data: bytes) -> bytes:
    # A corpus seed's target (/chat, /upload, ...) for one of the app's routes, so that the
    # streaming and WebSocket handlers see corpus shapes too.
    def swap(m: re.Match[bytes]) -> bytes:
        line = m.group()
        if rng.random() < 0.5:
            return line
        start, end = m.start(2) - m.start(), m.end(2) - m.start()
        return line[:start] + rng.choice(ROUTES) + line[end:]

    return _REQUEST_LINE.sub(swap, data)


def _pieces(rng: random.Random, data: bytes) -> tuple[bytes, ...]:
    roll = rng.random()
    if roll < 0.5 or len(data) < 2:
        return (data,)
    if roll < 0.55 and len(data) <= 200:
        return tuple(data[i : i + 1] for i in range(len(data)))  # byte by byte
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 8))))
    return tuple(data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True))


def make_case(seed: int, index: int, seeds: tuple[Seed, ...] = SEEDS) -> FuzzCase:
    """Case ``index`` of the run seeded with ``seed``; the same on every machine."""
    rng = random.Random(f"berth-fuzz:{seed}:{index}")
    origin = rng.choice(seeds)
    data = origin.data
    applied: list[str] = []
    if origin.name.startswith("valid/") and rng.random() < 0.4:
        data = _retarget(rng, data)
        applied.append("retarget")
    count = 0 if rng.random() < 0.05 else rng.choice((1, 1, 1, 2, 2, 3, 4, 6))
    for name in rng.choices(_NAMES, weights=_WEIGHTS, k=count):
        data = MUTATORS[name](rng, data)
        applied.append(name)
    pieces = _pieces(rng, data)
    # No pause byte by byte: a 200-byte head would outlast the head timeout.
    pause = rng.choice((0.0, 0.0, 0.001, 0.005)) if 1 < len(pieces) <= 9 else 0.0
    return FuzzCase(
        seed=seed,
        index=index,
        origin=origin.name,
        mutations=tuple(applied),
        data=data,
        pieces=pieces,
        pause=pause,
        half_close=rng.random() < 0.6,
        pristine=not applied and not origin.tail,
    )
