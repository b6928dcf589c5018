"""WebSocket on the wire, client side, for the load clients and the harness's check: the
upgrade request, masked client frames, server frame headers, and one checked echo.

Standard library only: ``bench/ws_load.py`` and ``bench/memory.py`` run as scripts in the
bench venv.
"""

from __future__ import annotations

import base64
import os
import socket

HOST = "127.0.0.1"  # the only address the load clients ever connect to
MASK = b"\x37\xfa\x21\x3d"  # any key will do; a fixed one keeps a frame pre-built


def handshake_request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        "Upgrade: websocket\r\n"
        "Connection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n"
        "\r\n"
    ).encode()


def client_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """One final, masked client frame (RFC 6455 5.2)."""
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    masked = bytes(byte ^ MASK[i % 4] for i, byte in enumerate(payload))
    return header + MASK + masked


CLOSE_FRAME = client_frame((1000).to_bytes(2, "big"), opcode=0x8)


def server_frame_size(payload_size: int) -> int:
    """Bytes on the wire of an unmasked server frame carrying ``payload_size`` bytes."""
    header = 2 if payload_size < 126 else 4 if payload_size < 1 << 16 else 10
    return header + payload_size


def handshake_end(buf: bytes | bytearray) -> int | None:
    """Where the frames start after the server's handshake answer, or None if it is short.

    Raises ValueError when the answer is not 101 Switching Protocols.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    status = bytes(buf[: buf.find(b"\r\n")]).decode("latin-1")
    if status.split(" ")[1:2] != ["101"]:
        raise ValueError(f"handshake: {status!r}, expected 101")
    return end + 4


def parse_frame_header(buf: bytes | bytearray, pos: int) -> tuple[int, int, int] | None:
    """``(opcode, payload start, payload end)`` of a server frame at ``pos``, or None if short.

    Raises ValueError on a masked server frame (the server must not mask).
    """
    end = len(buf)
    if end - pos < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    if b1 & 0x80:
        raise ValueError("masked frame from the server")
    length = b1 & 0x7F
    start = pos + 2
    if length == 126:
        if end - start < 2:
            return None
        length = int.from_bytes(buf[start : start + 2], "big")
        start += 2
    elif length == 127:
        if end - start < 8:
            return None
        length = int.from_bytes(buf[start : start + 8], "big")
        start += 8
    if end - start < length:
        return None
    return b0 & 0x0F, start, start + length


def check_echo(port: int, path: str, message: bytes, timeout: float = 2.0) -> str | None:
    """Upgrade, send one text message, read one frame back: what is wrong, or None.

    Blocking and bounded by ``timeout`` per socket operation.
    """
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(handshake_request(HOST, port, path))
            buf = b""
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(4096)
                if not chunk:
                    return f"GET {path}: connection closed during the handshake"
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            if status.split(" ")[1:2] != ["101"]:
                return f"GET {path}: {status!r}, expected 101 Switching Protocols"
            sock.sendall(client_frame(message))
            while (frame := parse_frame_header(buf, 0)) is None:
                chunk = sock.recv(4096)
                if not chunk:
                    return f"{path}: connection closed before the echo"
                buf += chunk
            opcode, start, end = frame
            if opcode != 0x1 or buf[start:end] != message:
                return f"{path}: echo opcode {opcode} payload {buf[start:end][:80]!r}"
            sock.sendall(CLOSE_FRAME)
    except (OSError, ValueError) as exc:
        return f"{path}: {type(exc).__name__}: {exc}"
    return None
