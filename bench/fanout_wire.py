"""The fan-out scenario on the wire, client side: the two chats' WebSocket dialects, the
benchmark message (a sequence number and a timestamp inside it), the publish request, and one
checked publish for the harness.

Two dialects reach the same room:

* ``berth``: ``examples/cluster_chat.py``. ``GET /ws?user=U&room=R`` upgraded; the first text
  message is ``{"worker": <pid>}``; every later text message is one published to the room.
* ``socketio``: ``bench/apps/socketio_chat.py``, Engine.IO v4 / Socket.IO v5 straight over
  WebSocket (``/socket.io/?EIO=4&transport=websocket``). The server opens with an Engine.IO
  OPEN packet (``0{...}``); the client connects to the default namespace (``40``), the server
  acknowledges (``40{"sid":...}``) and sends the event ``42["worker",<pid>]``; a published
  message is the event ``42["m","<text>"]``. Engine.IO pings (``2``) are answered with ``3``.

Both chats publish with ``POST /rooms/{room}``, the body as text. Standard library only: the
load client runs as a script in the bench venv and the harness imports the check.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from typing import Literal

from bench.ws_wire import CLOSE_FRAME, client_frame, handshake_request, parse_frame_header

HOST = "127.0.0.1"  # the only address the load clients ever connect to
Dialect = Literal["berth", "socketio"]
DIALECTS: tuple[Dialect, ...] = ("berth", "socketio")

MESSAGE_BYTES = 64  # the text of one benchmark message, padded to this size
EVENT = "m"  # the Socket.IO event a publish arrives as (bench/apps/common.py FANOUT_EVENT)

# Engine.IO v4 packet types (the first character), and the Socket.IO v5 packets inside a
# MESSAGE ("4") that matter here: CONNECT "0" and EVENT "2" on the default namespace.
EIO_OPEN = b"0"
EIO_PING = b"2"
EIO_PONG = b"3"
SIO_CONNECT = b"40"
SIO_EVENT = b"42"
SIO_MESSAGE_PREFIX = b'42["' + EVENT.encode() + b'","'  # then the text, then '"]'
SIO_MESSAGE_SUFFIX = b'"]'
SIO_WORKER_PREFIX = b'42["worker",'


def ws_path(dialect: Dialect, room: str, user: str) -> str:
    """The path a client of ``dialect`` upgrades to join ``room``."""
    if dialect == "berth":
        return "/ws?" + urllib.parse.urlencode({"user": user, "room": room})
    return "/socket.io/?" + urllib.parse.urlencode(
        {"EIO": "4", "transport": "websocket", "room": room}
    )


def publish_path(room: str) -> str:
    return "/rooms/" + urllib.parse.quote(room, safe="")


def publish_head(port: int, room: str, body_size: int) -> bytes:
    """The head of one publish request with a ``body_size``-byte text body (keep-alive)."""
    return (
        f"POST {publish_path(room)} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {body_size}\r\n"
        "\r\n"
    ).encode("latin-1")


def encode_message(seq: int, stamp_ns: int, size: int = MESSAGE_BYTES) -> bytes:
    """``"<seq> <stamp_ns> "`` padded with ``x`` to ``size`` bytes: plain ASCII, so the text
    is the same bytes inside Socket.IO's JSON event (no escapes)."""
    head = b"%d %d " % (seq, stamp_ns)
    if len(head) > size:
        raise ValueError(f"message of {len(head)} bytes does not fit in {size}")
    return head + b"x" * (size - len(head))


def decode_message(text: bytes) -> tuple[int, int]:
    """``(seq, stamp_ns)`` of a message made by :func:`encode_message`; ValueError when it
    is not one."""
    seq_end = text.index(b" ")
    stamp_end = text.index(b" ", seq_end + 1)
    return int(text[:seq_end]), int(text[seq_end + 1 : stamp_end])


def message_text(dialect: Dialect, payload: bytes) -> bytes | None:
    """The published text a server text frame carries, or None for any other frame."""
    if dialect == "berth":
        return payload if not payload.startswith(b"{") else None
    if payload.startswith(SIO_MESSAGE_PREFIX) and payload.endswith(SIO_MESSAGE_SUFFIX):
        return payload[len(SIO_MESSAGE_PREFIX) : -len(SIO_MESSAGE_SUFFIX)]
    return None


def worker_of(dialect: Dialect, payload: bytes) -> int | None:
    """The worker's pid from the first message a client gets, or None if this is not it."""
    try:
        if dialect == "berth":
            if not payload.startswith(b"{"):
                return None
            worker = json.loads(payload)["worker"]
        else:
            if not payload.startswith(SIO_WORKER_PREFIX):
                return None
            worker = json.loads(payload[len(SIO_EVENT) :])[1]
    except (ValueError, KeyError, IndexError, TypeError):
        return None
    return worker if isinstance(worker, int) else None


def reply_to(dialect: Dialect, payload: bytes) -> bytes | None:
    """The text a client must answer a server text frame with, if any: Socket.IO's namespace
    CONNECT after the Engine.IO OPEN packet, and PONG to PING (Engine.IO v4: the server
    pings)."""
    if dialect != "socketio":
        return None
    if payload == EIO_PING:
        return EIO_PONG
    if payload.startswith(EIO_OPEN):
        return SIO_CONNECT
    return None


def _read_frame(sock: socket.socket, buf: bytearray) -> tuple[int, bytes]:
    """One server frame from a blocking socket: ``(opcode, payload)``."""
    while (frame := parse_frame_header(buf, 0)) is None:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    opcode, start, end = frame
    payload = bytes(buf[start:end])
    del buf[:end]
    return opcode, payload


def check_publish(port: int, dialect: Dialect, room: str, timeout: float = 5.0) -> str | None:
    """Join ``room`` with one socket, publish one message, read it back: what is wrong, or
    None. Blocking, each socket operation bounded by ``timeout``."""
    path = ws_path(dialect, room, "bench-check")
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as sock:
            sock.sendall(handshake_request(HOST, port, path))
            buf = bytearray()
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(4096)
                if not chunk:
                    return f"GET {path}: connection closed during the handshake"
                buf += chunk
            head, _, rest = bytes(buf).partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].decode("latin-1")
            if status.split(" ")[1:2] != ["101"]:
                return f"GET {path}: {status!r}, expected 101 Switching Protocols"
            buf = bytearray(rest)
            worker = None
            while worker is None:
                opcode, payload = _read_frame(sock, buf)
                if opcode != 0x1:
                    return f"{path}: frame with opcode {opcode} before the worker message"
                if (answer := reply_to(dialect, payload)) is not None:
                    sock.sendall(client_frame(answer))
                worker = worker_of(dialect, payload)
            # The socket is registered once the worker message is out; its worker may still
            # be subscribing to the room in Redis: publish until the message comes back.
            deadline = time.monotonic() + timeout
            sock.settimeout(0.2)
            seq = 0
            while time.monotonic() < deadline:
                sent = encode_message(seq, time.monotonic_ns())
                problem = _post(port, room, sent, timeout)
                if problem:
                    return problem
                try:
                    while True:
                        opcode, payload = _read_frame(sock, buf)
                        if opcode == 0x8:
                            return f"{path}: closed by the server ({payload[:2].hex()})"
                        if opcode != 0x1:
                            continue
                        if (answer := reply_to(dialect, payload)) is not None:
                            sock.sendall(client_frame(answer))
                        if message_text(dialect, payload) == sent:
                            sock.sendall(CLOSE_FRAME)
                            return None
                except TimeoutError:
                    seq += 1
            return f"{path}: no published message came back within {timeout:g} s"
    except (OSError, ValueError) as exc:
        return f"{path}: {type(exc).__name__}: {exc}"


def _post(port: int, room: str, body: bytes, timeout: float) -> str | None:
    """One publish with http.client: what is wrong with its answer, or None."""
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(
            "POST",
            publish_path(room),
            body=body,
            headers={"Content-Type": "text/plain; charset=utf-8"},
        )
        response = conn.getresponse()
        answer = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"POST {publish_path(room)}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status != 200:
        return f"POST {publish_path(room)}: status {response.status}: {answer[:80]!r}"
    return None
