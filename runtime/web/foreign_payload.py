"""aiohttp's own payload objects as response bodies.

Code ported from aiohttp may build a body with ``aiohttp.get_payload(file)`` or an
``aiohttp.payload.*Payload`` (and, deprecated, ``@aiohttp.streamer``). They are recognised
by their module, without importing aiohttp, and sent through their own ``write(writer)``:
Berth's response is the writer, as its ``write(data)`` is a coroutine like aiohttp's.
"""

from __future__ import annotations

import inspect
from typing import Any, Final

from multidict import CIMultiDict

from .payload import BodySink, Payload, make_payload

__all__ = ["as_payload"]

_AIOHTTP_PAYLOAD: Final = ("aiohttp.payload", "Payload")
_STREAMER_MODULE: Final = "aiohttp.payload_streamer"


class ForeignPayload(Payload):
    """An ``aiohttp.payload.Payload``: its size, headers and bytes are its own."""

    def __init__(self, value: Any) -> None:
        super().__init__(value, filename=value.filename, encoding=value.encoding)
        self._headers = CIMultiDict(value.headers)

    @property
    def size(self) -> int | None:
        size: int | None = self._value.size
        return size

    async def write(self, writer: BodySink) -> None:
        self._consumed = True
        await self._value.write(writer)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        text: str = self._value.decode(encoding, errors)
        return text

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        data: bytes = await self._value.as_bytes(encoding, errors)
        return data

    async def close(self) -> None:
        close = getattr(self._value, "close", None)
        if close is not None:
            result = close()
            if inspect.isawaitable(result):
                await result


class StreamerPayload(Payload):
    """What ``@aiohttp.streamer`` made: a coroutine that writes to the writer it is given."""

    async def write(self, writer: BodySink) -> None:
        self._consumed = True
        await self._value(writer)

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("Unable to decode a streamer body: it is read once, by sending it")


def _foreign(body: object) -> Payload | None:
    cls = type(body)
    if cls.__module__ == _STREAMER_MODULE:
        # ``streamer`` is the decorated function, called without arguments; the
        # ``_stream_wrapper`` it returns when called writes the body.
        wrapper: Any = body() if cls.__name__ == "streamer" else body  # type: ignore[operator]
        return StreamerPayload(wrapper)
    if any((c.__module__, c.__name__) == _AIOHTTP_PAYLOAD for c in cls.__mro__):
        return ForeignPayload(body)
    return None


def as_payload(body: object, *, charset: str | None) -> Payload:
    """:func:`~runtime.web.payload.make_payload`, also for aiohttp's payload objects."""
    return _foreign(body) or make_payload(body, charset=charset)
