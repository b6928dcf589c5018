"""Request serialisation for the client: the request line and header fields, chunk framing.

Like :func:`.writer.serialize_head` for responses, it refuses CR, LF and NUL anywhere in the
head, so that no caller-supplied value can split one request into two (RFC 9112 2.2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .grammar import FIELD_NAME_RE, METHOD_RE

__all__ = ["LAST_CHUNK", "chunk", "serialize_request_head"]

LAST_CHUNK = b"0\r\n\r\n"
# RFC 9112 3.2: the request target has no whitespace and no control characters.
_BAD_TARGET = re.compile(r"[\x00-\x20\x7f]")


def serialize_request_head(
    method: str, target: str, headers: Iterable[tuple[str, str]], version: str = "1.1"
) -> bytes:
    """Encode ``METHOD target HTTP/x.y`` and the header fields, ending with the blank line.

    Args:
        method: the request method, a token.
        target: the request target (origin form ``/path?query`` for the client).
        headers: name and value pairs, in the order they are to be sent.
        version: the HTTP version, ``"1.1"`` or ``"1.0"``.

    Returns:
        The head as bytes; values are UTF-8 encoded (surrogateescape keeps obs-text bytes).

    Raises:
        ValueError: a method or field name that is not a token, a target with whitespace or
            control characters, or a field value with CR, LF or NUL in it.
    """
    if METHOD_RE.fullmatch(method) is None:
        raise ValueError(f"Invalid request method {method!r}")
    if not target or _BAD_TARGET.search(target) is not None:
        raise ValueError(f"Invalid request target {target!r}")
    parts = [f"{method} {target} HTTP/{version}\r\n"]
    for name, value in headers:
        if FIELD_NAME_RE.fullmatch(name) is None:
            raise ValueError(f"Invalid request header name {name!r}")
        if "\r" in value or "\n" in value or "\x00" in value:
            raise ValueError(f"Request header {name!r} has CR, LF or NUL in its value")
        parts.append(f"{name}: {value}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8", "surrogateescape")


def chunk(data: bytes) -> bytes:
    """Frame ``data`` as one chunk of a chunked body (RFC 9112 7.1); empty data frames to
    nothing, since an empty chunk would end the body."""
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)
