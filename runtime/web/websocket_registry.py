"""Registries of open WebSockets: find a user's sockets from another handler and close them,
and close every socket with 1001 Going Away when the server shuts down.

Every ``WebSocketResponse`` registers itself when ``prepare()`` succeeds: in the registry of
each application on its route's app stack (``web.websockets(request.app)``), and under its
connection for the runner's graceful shutdown. It leaves every registry when its connection
ends, so a registry only ever lists open (or closing) sockets. Keys are optional tags::

    ws = web.WebSocketResponse()
    await ws.prepare(request)
    web.websockets(request.app).add(ws, key=user_id)
    ...
    await web.websockets(request.app).close_all(user_id, code=WSCloseCode.POLICY_VIOLATION)
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Hashable, Iterable, Iterator
from typing import Any, Protocol

from ..http.ws import WSCloseCode
from ..server.protocol import HttpProtocol
from ..websocket.connection import WebSocketBase

__all__ = ["WebSocketRegistry", "shutdown_websockets", "websockets"]

registry_logger = logging.getLogger("runtime.websocket")

_ALL: Any = object()


class _Socket(Protocol):
    """What a registry needs of a WebSocket (``WebSocketResponse`` and the client's)."""

    _registries: list[Any]

    @property
    def closed(self) -> bool: ...

    async def close(
        self, *, code: int = ..., message: bytes | str = ..., drain: bool = ...
    ) -> bool: ...

    def _abort(self) -> None: ...


class WebSocketRegistry:
    """A set of open WebSockets, optionally tagged with keys (a user id, a room...).

    Sockets leave by themselves when their connection ends; :meth:`discard` removes one
    earlier.
    """

    __slots__ = ("__weakref__", "_by_key", "_sockets")

    def __init__(self) -> None:
        self._sockets: dict[_Socket, set[Hashable]] = {}
        self._by_key: dict[Hashable, dict[_Socket, None]] = {}

    def add(self, ws: _Socket, *, key: Hashable = _ALL) -> None:
        """Add ``ws`` (again, to tag it with one more ``key``).

        Adding a socket whose connection already ended does nothing.
        """
        if ws.closed and ws not in self._sockets:
            return
        keys = self._sockets.get(ws)
        if keys is None:
            keys = self._sockets[ws] = set()
            ws._registries.append(self)
        if key is not _ALL:
            keys.add(key)
            self._by_key.setdefault(key, {})[ws] = None

    def discard(self, ws: _Socket) -> None:
        """Remove ``ws`` and its keys (no error if it is not here)."""
        keys = self._sockets.pop(ws, None)
        if keys is None:
            return
        for key in keys:
            bucket = self._by_key.get(key)
            if bucket is not None:
                bucket.pop(ws, None)
                if not bucket:
                    del self._by_key[key]
        if self in ws._registries:
            ws._registries.remove(self)

    def get(self, key: Hashable = _ALL) -> list[_Socket]:
        """The sockets tagged ``key``, or all of them without a key."""
        if key is _ALL:
            return list(self._sockets)
        return list(self._by_key.get(key, ()))

    def keys(self) -> list[Hashable]:
        """The keys that tag at least one socket."""
        return list(self._by_key)

    def __len__(self) -> int:
        return len(self._sockets)

    def __iter__(self) -> Iterator[_Socket]:
        return iter(list(self._sockets))

    def __contains__(self, ws: object) -> bool:
        return ws in self._sockets

    def __repr__(self) -> str:
        return f"<WebSocketRegistry sockets={len(self._sockets)} keys={len(self._by_key)}>"

    async def close_all(
        self,
        key: Hashable = _ALL,
        *,
        code: int = WSCloseCode.GOING_AWAY,
        message: bytes | str = b"",
        timeout: float | None = None,
    ) -> int:
        """Close the sockets tagged ``key`` (all without a key), concurrently.

        Each socket's handler sees its ``async for`` end (or its ``receive()`` return a
        CLOSING message). Works from any task.

        Args:
            code: the close code sent (1001 Going Away by default).
            message: the close reason.
            timeout: give up waiting for the close handshakes after this many seconds and
                drop the remaining connections; ``None`` waits for each socket's own timeout.

        Returns:
            How many sockets this call closed.
        """
        return await close_sockets(self.get(key), code=code, message=message, timeout=timeout)


async def close_sockets(
    sockets: Iterable[_Socket],
    *,
    code: int = WSCloseCode.GOING_AWAY,
    message: bytes | str = b"",
    timeout: float | None = None,
) -> int:
    """Close ``sockets`` concurrently; see :meth:`WebSocketRegistry.close_all`."""
    pending = [ws for ws in sockets if not ws.closed]
    if not pending:
        return 0
    tasks = [asyncio.ensure_future(ws.close(code=code, message=message)) for ws in pending]
    _, late = await asyncio.wait(tasks, timeout=timeout)
    for ws, task in zip(pending, tasks, strict=True):
        if task in late:
            task.cancel()  # close() aborts the connection when cancelled
            ws._abort()
    if late:
        await asyncio.wait(late)
    closed = 0
    for task in tasks:
        if task.cancelled():
            continue
        exc = task.exception()
        if exc is not None:
            registry_logger.error("Error closing a WebSocket", exc_info=exc)
        elif task.result():
            closed += 1
    return closed


_registries: weakref.WeakKeyDictionary[Any, WebSocketRegistry] = weakref.WeakKeyDictionary()


def websockets(owner: Any) -> WebSocketRegistry:
    """The registry of ``owner`` (an ``Application``), created on first use.

    ``WebSocketResponse.prepare()`` adds each socket to the registries of the applications
    that own its route (the root application and the sub-application, if any).
    """
    registry = _registries.get(owner)
    if registry is None:
        registry = _registries[owner] = WebSocketRegistry()
    return registry


async def shutdown_websockets(
    connections: Iterable[HttpProtocol],
    *,
    code: int = WSCloseCode.GOING_AWAY,
    message: bytes | str = b"Server shutdown",
    timeout: float | None = None,
) -> int:
    """Close the WebSockets on ``connections`` (a server's) with 1001 Going Away.

    The runner calls this during the graceful shutdown, after ``on_shutdown``, so handlers
    end and the connections close before the grace period runs out.

    Returns:
        How many sockets this call closed.
    """
    # Each upgraded connection knows its WebSocket (``upgraded_to``). There is no global map
    # from connections to sockets: its values kept their own keys alive, so no entry died.
    sockets = [
        ws for conn in list(connections) if isinstance(ws := conn.upgraded_to, WebSocketBase)
    ]
    return await close_sockets(sockets, code=code, message=message, timeout=timeout)
