"""Request bodies: what ``data=`` and ``json=`` turn into on the wire."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

__all__ = ["RequestBody", "make_body"]

JsonSerializer = Callable[[Any], str]


@dataclass(frozen=True, slots=True)
class RequestBody:
    """A body whole in memory (``data``) or streamed chunked (``stream``); neither means no
    body. ``content_type`` is the default Content-Type; the caller's header wins."""

    data: bytes | None = None
    stream: AsyncIterable[bytes] | None = None
    content_type: str | None = None

    @property
    def replayable(self) -> bool:
        """True when the body can be sent again (after a redirect, or on a retry)."""
        return self.stream is None


EMPTY = RequestBody()


def make_body(data: Any, json: Any, serialize: JsonSerializer) -> RequestBody:
    """Build the body from ``data=`` or ``json=``.

    ``data`` may be bytes (``application/octet-stream``), a str (``text/plain``, UTF-8), a
    mapping or a sequence of pairs (``application/x-www-form-urlencoded``) or an async
    iterable of bytes (sent chunked). ``json`` is serialised with ``serialize``.

    Raises:
        ValueError: both ``data`` and ``json`` were given.
        TypeError: ``data`` is of a type the client cannot send.
    """
    if json is not None:
        if data is not None:
            raise ValueError("data and json parameters can not be used at the same time")
        return RequestBody(serialize(json).encode("utf-8"), None, "application/json")
    if data is None:
        return EMPTY
    if isinstance(data, bytes | bytearray | memoryview):
        return RequestBody(bytes(data), None, "application/octet-stream")
    if isinstance(data, str):
        return RequestBody(data.encode("utf-8"), None, "text/plain; charset=utf-8")
    if isinstance(data, AsyncIterable):
        return RequestBody(None, data, "application/octet-stream")
    if isinstance(data, Mapping | list | tuple):
        return RequestBody(_urlencode(data), None, "application/x-www-form-urlencoded")
    raise TypeError(
        f"Cannot send data of type {type(data).__name__}: pass bytes, str, a dict of form "
        "fields or an async iterable of bytes"
    )


def _urlencode(fields: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> bytes:
    pairs = fields.items() if isinstance(fields, Mapping) else fields
    return urlencode([(str(k), str(v)) for k, v in pairs]).encode("ascii")
