"""An awaitable that is also a coroutine and an ``async with`` context: what aiohttp's
``TestClient.get()`` and ``ws_connect()`` return, so tests written for aiohttp can
``await`` it, ``async with`` it, and hand it to ``asyncio.create_task``.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any, Generic, TypeVar

__all__ = ["Pending"]

_T = TypeVar("_T")


class Pending(Coroutine[Any, Any, _T], Generic[_T]):
    """Wraps the coroutine making a response (or a WebSocket), which is itself an
    ``async with`` context: leaving the block leaves the result's (releasing the response,
    closing the WebSocket)."""

    __slots__ = ("_coro", "_result")

    def __init__(self, coro: Coroutine[Any, Any, _T]) -> None:
        self._coro = coro
        self._result: Any = None

    def send(self, value: Any) -> Any:
        return self._coro.send(value)

    def throw(self, typ: Any, val: Any = None, tb: TracebackType | None = None) -> Any:
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # pragma: no cover - the legacy signature

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, _T]:
        return self._coro.__await__()

    async def __aenter__(self) -> _T:
        result = await self._coro
        self._result = result
        return result

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._result is not None:
            await self._result.__aexit__(exc_type, exc, tb)
