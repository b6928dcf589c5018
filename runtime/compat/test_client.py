"""``aiohttp.test_utils.TestClient`` in the compatibility mode: Berth's test server, talked
to through aiohttp's own ``ClientSession``, as aiohttp's ``TestClient`` does.

The client stays aiohttp's in the mode, so tests written for aiohttp get what they expect
of it: aiohttp's responses and exceptions (``aiohttp.ClientPayloadError``), its cookie jar
(``unsafe=True``, so cookies set by 127.0.0.1 are kept, path-matched per RFC 6265), and
``client.get()`` as a coroutine that ``asyncio.create_task`` accepts.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from yarl import URL

from ..testing import BaseTestServer
from ..testing.kit import BaseTestClient
from .pending import Pending

__all__ = ["AiohttpTestClient"]


class AiohttpTestClient(BaseTestClient[Pending[Any]]):
    """A client for one Berth test server on aiohttp's ``ClientSession``.

    Args:
        server: the server to talk to (started by :meth:`start_server` or ``async with``).
        cookie_jar: default: aiohttp's ``CookieJar(unsafe=True)``, as aiohttp's TestClient.
        kwargs: given to ``aiohttp.ClientSession``.
    """

    def __init__(
        self,
        server: BaseTestServer,
        *,
        cookie_jar: aiohttp.abc.AbstractCookieJar | None = None,
        **kwargs: Any,
    ) -> None:
        self._server = server
        if cookie_jar is None:
            cookie_jar = aiohttp.CookieJar(unsafe=True)
        self._session = aiohttp.ClientSession(cookie_jar=cookie_jar, **kwargs)
        self._responses: list[aiohttp.ClientResponse] = []
        self._websockets: list[aiohttp.ClientWebSocketResponse] = []
        self._closed = False

    @property
    def session(self) -> aiohttp.ClientSession:
        """aiohttp's session: its requests need absolute URLs (:meth:`make_url`)."""
        return self._session

    async def _request(self, method: str, path: str | URL, **kwargs: Any) -> Any:
        response = await self._session.request(method, self.make_url(path), **kwargs)
        self._responses.append(response)  # closed with the client
        return response

    def request(self, method: str, path: str | URL, **kwargs: Any) -> Pending[Any]:
        """Send ``method`` to ``path``: await it, ``async with`` it, or make it a task."""
        return Pending(self._request(method, path, **kwargs))

    async def _ws_connect(self, path: str | URL, **kwargs: Any) -> Any:
        ws = await self._session.ws_connect(self.make_url(path), **kwargs)
        self._websockets.append(ws)  # closed with the client
        return ws

    def ws_connect(self, path: str | URL, **kwargs: Any) -> Pending[Any]:
        """Open a WebSocket to ``path``: await it or ``async with`` it."""
        return Pending(self._ws_connect(path, **kwargs))

    async def close(self) -> None:
        """Close every response and WebSocket, the session, then stop the server."""
        if self._closed:
            return
        self._closed = True
        for response in self._responses:
            response.close()
        for ws in self._websockets:
            await ws.close()
        await self._session.close()
        await self._server.close()
