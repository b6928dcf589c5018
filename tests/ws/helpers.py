"""A raw WebSocket client that speaks exact bytes (our own frame code on the client side,
or hand-made frames). Servers come from ``tests.support.serve``."""

from __future__ import annotations

import asyncio
import base64
import os

from runtime.http.ws import FrameReader, FrameWriter, WSMessage, WSMsgType
from runtime.http.ws.reader import unmask

MASK = bytes.fromhex("37fa213d")  # the RFC 6455 5.7 examples' masking key


def masked(first: int, payload: bytes, *, length: bytes | None = None) -> bytes:
    """A client frame built by hand: first byte, then a masked payload (length as given)."""
    if length is None:
        if len(payload) < 126:
            length = bytes([0x80 | len(payload)])
        elif len(payload) < 65536:
            length = bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
        else:
            length = bytes([0x80 | 127]) + len(payload).to_bytes(8, "big")
    # unmask() is checked against the RFC 6455 5.7 examples in test_frames.
    return bytes([first]) + length + MASK + unmask(payload, MASK)


class RawClient:
    """A WebSocket client on a raw socket: the test decides every byte it sends."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, head: bytes, rest: bytes
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.head = head
        self.frames = FrameWriter(is_client=True, mask_key=lambda: MASK)
        self.parser = FrameReader(is_client=True, max_msg_size=0)
        self.rest = rest
        upgraded = head.startswith(b"HTTP/1.1 101 ")
        self._pending: list[WSMessage] = self.parser.feed(rest) if rest and upgraded else []

    @property
    def status(self) -> int:
        return int(self.head.split(b" ", 2)[1])

    def send_raw(self, data: bytes) -> None:
        self.writer.write(data)

    async def send_text(self, text: str) -> None:
        self.writer.write(self.frames.message(WSMsgType.TEXT, text.encode()))
        await self.writer.drain()

    async def recv(self, timeout: float = 5.0) -> WSMessage:
        """The next message from the server (CLOSED when the server closed TCP)."""
        async with asyncio.timeout(timeout):
            while not self._pending:
                try:
                    data = await self.reader.read(65536)
                except ConnectionResetError:
                    data = b""
                if not data:
                    return WSMessage(WSMsgType.CLOSED, None, None)
                self._pending.extend(self.parser.feed(data))
        return self._pending.pop(0)

    async def recv_until_closed(self, timeout: float = 5.0) -> list[WSMessage]:
        out = []
        while True:
            msg = await self.recv(timeout)
            out.append(msg)
            if msg.type is WSMsgType.CLOSED:
                return out

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass


def handshake_request(path: str = "/", *, key: str | None = None, extra: str = "") -> bytes:
    key = key or base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    ).encode()


async def connect(port: int, request: bytes | None = None, *, then: bytes = b"") -> RawClient:
    """Open a connection, send the handshake (plus ``then`` in the same packet) and read
    the response head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write((request or handshake_request()) + then)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await reader.read(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return RawClient(reader, writer, head, rest)
