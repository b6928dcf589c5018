"""Cases in the spirit of the Autobahn|Testsuite, against an echo server on the wire.

Each case sends client frames (whole, or chopped as the Autobahn case does) and lists
what the client must see: echoed messages, pongs, and the server's Close (its code).
When the case does not end the connection, the harness closes with 1000 and expects the
echo. Case numbers are Autobahn's; the frames are built here, not taken from it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.http.ws import WSMsgType
from runtime.web.request import BaseRequest
from runtime.web.response import StreamResponse
from runtime.web.websocket import WebSocketResponse
from tests.support import serve
from tests.ws.helpers import connect, masked

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA
FIN = 0x80
Event = tuple[str, Any]


def f(opcode: int, payload: bytes | str = b"", *, fin: bool = True, rsv: int = 0) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return masked((FIN if fin else 0) | rsv << 4 | opcode, data)


def close(code: int | None = 1000, reason: bytes = b"") -> bytes:
    return f(CLOSE, b"" if code is None else code.to_bytes(2, "big") + reason)


def fragments(opcode: int, parts: list[bytes]) -> bytes:
    out = b""
    for i, part in enumerate(parts):
        out += f(opcode if i == 0 else CONT, part, fin=i == len(parts) - 1)
    return out


def fail(code: int = 1002) -> Event:
    return ("CLOSE", code)


UTF8_VALID = "Hello-µ@ßöäüàá-UTF-8!!".encode()
KOSME = "κόσμε".encode()

# (case id, frames, chop size or 0, expected events; a trailing fail() means the server
# ends the connection itself)
CASES: list[tuple[str, bytes, int, list[Event]]] = [
    # 1.x framing: text and binary of the lengths around each encoding boundary
    *[
        (f"1.1.{i}", f(TEXT, "*" * n), 0, [("TEXT", "*" * n)])
        for i, n in enumerate([0, 125, 126, 127, 128, 65535, 65536], start=1)
    ],
    ("1.1.8", f(TEXT, "*" * 65536), 997, [("TEXT", "*" * 65536)]),
    *[
        (f"1.2.{i}", f(BINARY, b"\xfe" * n), 0, [("BINARY", b"\xfe" * n)])
        for i, n in enumerate([0, 125, 126, 127, 128, 65535, 65536], start=1)
    ],
    ("1.2.8", f(BINARY, b"\xfe" * 65536), 997, [("BINARY", b"\xfe" * 65536)]),
    # 2.x pings and pongs
    ("2.1", f(PING), 0, [("PONG", b"")]),
    ("2.2", f(PING, "Hello, world!"), 0, [("PONG", b"Hello, world!")]),
    (
        "2.3",
        f(PING, b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"),
        0,
        [("PONG", b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff")],
    ),
    ("2.4", f(PING, b"\xfe" * 125), 0, [("PONG", b"\xfe" * 125)]),
    ("2.5", f(PING, b"\xfe" * 126), 0, [fail()]),
    ("2.6", f(PING, b"\xfe" * 125), 1, [("PONG", b"\xfe" * 125)]),
    ("2.7", f(PONG), 0, []),
    ("2.8", f(PONG, "unsolicited pong payload"), 0, []),
    ("2.9", f(PONG, "unsolicited") + f(PING, "ping"), 0, [("PONG", b"ping")]),
    (
        "2.10",
        b"".join(f(PING, f"p{i}") for i in range(10)),
        0,
        [("PONG", f"p{i}".encode()) for i in range(10)],
    ),
    (
        "2.11",
        b"".join(f(PING, f"p{i}") for i in range(10)),
        1,
        [("PONG", f"p{i}".encode()) for i in range(10)],
    ),
    # 3.x reserved bits
    ("3.1", f(TEXT, "small", rsv=1), 0, [fail()]),
    ("3.2", f(TEXT, "small") + f(TEXT, "small", rsv=2), 0, [("TEXT", "small"), fail()]),
    ("3.3", f(TEXT, "small") + f(TEXT, "small", rsv=3) + f(PING), 0, [("TEXT", "small"), fail()]),
    ("3.4", f(TEXT, "small") + f(TEXT, "small", rsv=4) + f(PING), 1, [("TEXT", "small"), fail()]),
    ("3.5", f(BINARY, b"\x00\xff", rsv=5), 0, [fail()]),
    ("3.6", f(PING, "ping", rsv=6), 0, [fail()]),
    ("3.7", f(CLOSE, b"", rsv=7), 0, [fail()]),
    # 4.x opcodes
    ("4.1.1", f(3), 0, [fail()]),
    ("4.1.2", f(4, "reserved"), 0, [fail()]),
    ("4.1.3", f(TEXT, "small") + f(5) + f(PING), 0, [("TEXT", "small"), fail()]),
    ("4.1.4", f(TEXT, "small") + f(6, "reserved") + f(PING), 0, [("TEXT", "small"), fail()]),
    ("4.1.5", f(TEXT, "small") + f(7, "reserved") + f(PING), 1, [("TEXT", "small"), fail()]),
    ("4.2.1", f(11), 0, [fail()]),
    ("4.2.2", f(12, "reserved"), 0, [fail()]),
    ("4.2.3", f(TEXT, "small") + f(13) + f(PING), 0, [("TEXT", "small"), fail()]),
    ("4.2.4", f(TEXT, "small") + f(14, "x") + f(PING), 0, [("TEXT", "small"), fail()]),
    ("4.2.5", f(TEXT, "small") + f(15, "x") + f(PING), 1, [("TEXT", "small"), fail()]),
    # 5.x fragmentation
    ("5.1", f(PING, "frag", fin=False) + f(CONT, "ment"), 0, [fail()]),
    ("5.2", f(PONG, "frag", fin=False) + f(CONT, "ment"), 0, [fail()]),
    ("5.3", fragments(TEXT, [b"frag", b"ment1"]), 0, [("TEXT", "fragment1")]),
    ("5.4", fragments(TEXT, [b"frag", b"ment2"]), 1, [("TEXT", "fragment2")]),
    (
        "5.6",
        f(TEXT, "frag", fin=False) + f(PING, "ping") + f(CONT, "ment"),
        0,
        [("PONG", b"ping"), ("TEXT", "fragment")],
    ),
    (
        "5.7",
        f(TEXT, "frag", fin=False) + f(PING, "ping") + f(CONT, "ment"),
        1,
        [("PONG", b"ping"), ("TEXT", "fragment")],
    ),
    ("5.9", f(CONT, "non-continuation payload") + f(TEXT, "Hello"), 0, [fail()]),
    ("5.10", f(CONT, "non-continuation payload") + f(TEXT, "Hello"), 1, [fail()]),
    ("5.12", f(CONT, "x", fin=False) + f(TEXT, "Hello"), 0, [fail()]),
    (
        "5.15",
        fragments(TEXT, [b"a", b"b"]) + f(CONT, "c", fin=False) + f(CONT, "d"),
        0,
        [("TEXT", "ab"), fail()],
    ),
    ("5.18", f(TEXT, "a", fin=False) + f(TEXT, "b"), 0, [fail()]),
    (
        "5.19",
        f(TEXT, "1", fin=False)
        + f(CONT, "2", fin=False)
        + f(PING, "p1")
        + f(CONT, "3", fin=False)
        + f(CONT, "4", fin=False)
        + f(PING, "p2")
        + f(CONT, "5"),
        0,
        [("PONG", b"p1"), ("PONG", b"p2"), ("TEXT", "12345")],
    ),
    # 6.x UTF-8
    ("6.1.1", f(TEXT), 0, [("TEXT", "")]),
    ("6.1.2", fragments(TEXT, [b"", b"", b""]), 0, [("TEXT", "")]),
    ("6.1.3", fragments(TEXT, [b"", b"middle", b""]), 0, [("TEXT", "middle")]),
    ("6.2.1", f(TEXT, UTF8_VALID), 0, [("TEXT", UTF8_VALID.decode())]),
    (
        "6.2.3",
        fragments(TEXT, [UTF8_VALID[i : i + 1] for i in range(len(UTF8_VALID))]),
        0,
        [("TEXT", UTF8_VALID.decode())],
    ),
    ("6.3.1", f(TEXT, KOSME + b"\xed\xa0\x80" + b"edited"), 0, [fail(1007)]),
    (
        "6.3.2",
        fragments(TEXT, [bytes([b]) for b in KOSME + b"\xed\xa0\x80edited"]),
        0,
        [fail(1007)],
    ),
    (
        "6.4.1",
        f(TEXT, KOSME, fin=False) + f(CONT, b"\xf4\x90\x80\x80", fin=False) + f(CONT, "edited"),
        0,
        [fail(1007)],
    ),
    ("6.5.1", f(TEXT, KOSME), 0, [("TEXT", "κόσμε")]),
    ("6.6.1", f(TEXT, b"\xce"), 0, [fail(1007)]),
    ("6.8.1", f(TEXT, b"\xf8\x88\x80\x80\x80"), 0, [fail(1007)]),
    ("6.9.1", f(TEXT, b"\xc0\xaf"), 0, [fail(1007)]),  # overlong "/"
    ("6.18.1", f(TEXT, b"\xed\xa0\x80\xed\xb0\x80"), 0, [fail(1007)]),  # paired surrogates
    ("6.22.1", f(TEXT, b"\xef\xbf\xbe"), 0, [("TEXT", "\ufffe")]),  # noncharacters are valid
    ("6.23.1", f(TEXT, b"\xef\xbf\xbd"), 0, [("TEXT", "\ufffd")]),
    # 7.x closing
    ("7.1.1", f(TEXT, "Hello") + close(), 0, [("TEXT", "Hello"), ("CLOSE", 1000)]),
    ("7.1.2", close() + close(), 0, [("CLOSE", 1000)]),
    ("7.1.3", close() + f(PING), 0, [("CLOSE", 1000)]),
    ("7.1.4", close() + f(TEXT, "after close"), 0, [("CLOSE", 1000)]),
    ("7.1.5", f(TEXT, "frag", fin=False) + close() + f(CONT, "ment"), 0, [("CLOSE", 1000)]),
    # Pings are answered as they are read, ahead of the handler's echo (Autobahn lets the
    # order of 7.1.6 depend on the implementation); the Close waits for the echo.
    (
        "7.1.6",
        f(TEXT, "B" * 65536) + f(PING) + close(),
        0,
        [("PONG", b""), ("TEXT", "B" * 65536), ("CLOSE", 1000)],
    ),
    ("7.3.1", close(None), 0, [("CLOSE", 1005)]),
    ("7.3.2", f(CLOSE, b"\x03"), 0, [fail()]),
    ("7.3.3", close(1000), 0, [("CLOSE", 1000)]),
    ("7.3.4", close(1000, b"Hello World!"), 0, [("CLOSE", 1000)]),
    ("7.3.5", close(1000, b"*" * 123), 0, [("CLOSE", 1000)]),
    ("7.3.6", close(1000, b"*" * 124), 0, [fail()]),
    (
        "7.5.1",
        close(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
        0,
        [fail()],
    ),
    *[
        (f"7.7.{i}", close(code), 0, [("CLOSE", code)])
        for i, code in enumerate(
            [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999], start=1
        )
    ],
    *[
        (f"7.9.{i}", close(code), 0, [fail()])
        for i, code in enumerate([0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999], start=1)
    ],
    ("7.13.1", close(5000), 0, [fail()]),
    ("7.13.2", close(65535), 0, [fail()]),
    # 9.x limits (scaled to the default 4 MiB max_msg_size)
    ("9.1.3", f(TEXT, "*" * (1 << 20)), 0, [("TEXT", "*" * (1 << 20))]),
    ("9.2.3", f(BINARY, b"\xfe" * (1 << 20)), 0, [("BINARY", b"\xfe" * (1 << 20))]),
    ("9.3.1-scaled", fragments(TEXT, [b"*" * 64] * 4096), 0, [("TEXT", "*" * 64 * 4096)]),
    ("limit-4MiB+1", f(BINARY, b"\x00" * (4 * 1024 * 1024 + 1)), 0, [fail(1009)]),
]


async def echo(request: BaseRequest) -> StreamResponse:
    ws = WebSocketResponse()
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type is WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


@pytest.mark.parametrize(
    ("frames", "chop", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_autobahn_case(frames: bytes, chop: int, expected: list[Event]) -> None:
    async with serve(echo) as port:
        client = await connect(port)
        if chop:
            for i in range(0, len(frames), chop):
                client.send_raw(frames[i : i + chop])
                await client.writer.drain()
        else:
            client.send_raw(frames)
        ends = any(kind == "CLOSE" for kind, _ in expected)
        if not ends:
            expected = [*expected, ("CLOSE", 1000)]
            await asyncio.sleep(0.01)  # let the frames be handled before our Close
            client.send_raw(close())
        got: list[Event] = []
        for msg in await client.recv_until_closed():
            if msg.type is not WSMsgType.CLOSED:
                got.append((msg.type.name, msg.data))
        assert got == expected
        await client.close()
