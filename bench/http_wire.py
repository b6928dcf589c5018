"""HTTP/1.1 on the wire, client side, for the load clients: a request's bytes, a response's
framing, and one checked request.

Standard library only: ``bench/rate_load.py`` and ``bench/memory.py`` run as scripts in the
bench venv.
"""

from __future__ import annotations

import http.client

HOST = "127.0.0.1"  # the only address the load clients ever connect to


def build_request(method: str, path: str, port: int, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
    if body or method not in ("GET", "HEAD"):
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("latin-1") + body


def parse_response(buf: bytes | bytearray, pos: int = 0) -> tuple[int, int] | None:
    """``(status, end)`` of the complete HTTP/1.1 response at ``buf[pos:]``, None if short.

    Framed by Content-Length or chunked transfer-encoding (trailers skipped). Raises
    ValueError on anything else: a response without either (close-delimited), a bad status
    line or a bad chunk size.
    """
    head_end = buf.find(b"\r\n\r\n", pos)
    if head_end < 0:
        return None
    head = bytes(buf[pos:head_end]).lower()
    try:
        status = int(head[9:12])
    except ValueError:
        raise ValueError(f"bad status line {bytes(buf[pos : pos + 40])!r}") from None
    body_start = head_end + 4
    if 100 <= status < 200 or status in (204, 304):
        return status, body_start  # no body (101 is not expected here)
    index = head.find(b"\r\ncontent-length:")
    if index >= 0:
        line_end = head.find(b"\r\n", index + 2)
        length = int(head[index + 17 : line_end if line_end >= 0 else len(head)])
        end = body_start + length
        return (status, end) if len(buf) >= end else None
    index = head.find(b"\r\ntransfer-encoding:")
    line_end = head.find(b"\r\n", index + 2) if index >= 0 else -1
    if index < 0 or b"chunked" not in head[index : line_end if line_end >= 0 else len(head)]:
        raise ValueError(f"response {status} framed by neither Content-Length nor chunked")
    at = body_start
    while True:  # chunk-size [; ext] CRLF data CRLF ... 0 CRLF [trailer CRLF]... CRLF
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        size = int(bytes(buf[at:line_end]).split(b";", 1)[0].strip(), 16)
        at = line_end + 2
        if size == 0:
            break
        at += size + 2
        if len(buf) < at:
            return None
    while True:  # trailers, up to an empty line
        line_end = buf.find(b"\r\n", at)
        if line_end < 0:
            return None
        if line_end == at:
            return status, at + 2
        at = line_end + 2


def check(port: int, method: str, path: str, expect_status: int) -> str | None:
    """One request with http.client: what is wrong, or None."""
    conn = http.client.HTTPConnection(HOST, port, timeout=2.0)
    try:
        conn.request(method, path)
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException) as exc:
        return f"{method} {path}: {type(exc).__name__}: {exc}"
    finally:
        conn.close()
    if response.status != expect_status:
        return f"{method} {path}: status {response.status}, expected {expect_status}"
    return None
