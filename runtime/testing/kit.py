"""The test kit: serve an application (or a bare handler) on loopback and talk to it.

``TestServer(app)`` and ``RawTestServer(handler)`` listen on ``127.0.0.1`` and a free port;
``TestClient(server)`` sends requests to paths on it with a :class:`ClientSession`. All three
are async context managers. The pytest fixtures in :mod:`runtime.testing.pytest_plugin` build on
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from typing import Any, Generic, Self, TypeVar

from yarl import URL

from ..client import ClientResponse, ClientSession, RequestContextManager
from ..client.ws import WebSocketContextManager
from ..web.app import Application
from ..web.runner import AppRunner, BaseRunner, ServerRunner, TCPSite
from ..web.server import Handler, Server

__all__ = [
    "BaseTestClient",
    "BaseTestServer",
    "RawTestServer",
    "TestClient",
    "TestServer",
    "loop_context",
    "unused_port",
]

_Sent = TypeVar("_Sent")

# A test server that is still busy when the test ends gives in quickly.
_SHUTDOWN_TIMEOUT = 5.0


def unused_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def loop_context() -> Iterator[asyncio.AbstractEventLoop]:
    """A fresh event loop, set as the current one, and closed afterwards (tasks left
    running are cancelled, async generators and the default executor shut down)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        try:
            _cancel_leftovers(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


class BaseTestServer:
    """A server on ``host`` (``127.0.0.1``) and ``port`` (a free one when ``None``).

    Args:
        scheme: ``http`` (the default) or ``https`` for URLs built by :meth:`make_url`.
        host: the address to listen on.
        port: the port to listen on; ``None`` or 0 picks a free one.
        skip_url_asserts: :meth:`make_url` appends the path to the server's root as
            written (``//a//b`` stays a path), where it otherwise refuses absolute URLs.
        kwargs: given to the runner (and so to the low-level ``Server``), as
            :meth:`start_server`'s keyword arguments are.
    """

    __test__ = False  # not a test class, whatever its name says to pytest

    def __init__(
        self,
        *,
        scheme: str = "",
        host: str = "127.0.0.1",
        port: int | None = None,
        skip_url_asserts: bool = False,
        **kwargs: Any,
    ) -> None:
        self.scheme = scheme or "http"
        self.host = host
        self.port: int | None = port
        self.skip_url_asserts = skip_url_asserts
        self.runner: BaseRunner | None = None
        self._kwargs = kwargs
        self._root: URL | None = None
        self._closed = False

    @property
    def started(self) -> bool:
        return self.runner is not None

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def handler(self) -> Server | None:
        """The low-level server, once started."""
        return None if self.runner is None else self.runner.server

    async def start_server(self, **kwargs: Any) -> None:
        """Start listening (a no-op once started); ``kwargs`` go to the runner.

        Handlers are cancelled when their client disconnects (``handler_cancellation``),
        as aiohttp's test server always has them; pass ``handler_cancellation=False`` to
        test a handler that runs on.
        """
        if self.runner is not None:
            return
        runner = self._make_runner(**{"handler_cancellation": True, **self._kwargs, **kwargs})
        await runner.setup()
        site = TCPSite(runner, self.host, self.port or 0)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.runner = runner
        self.port = site.port
        self._root = URL.build(scheme=self.scheme, host=self.host, port=self.port)

    def _make_runner(self, **kwargs: Any) -> BaseRunner:
        raise NotImplementedError

    def make_url(self, path: str | URL) -> URL:
        """The absolute URL of ``path`` (``"/users?id=1"``) on this server."""
        if self._root is None:
            raise RuntimeError("The test server is not started")
        if self.skip_url_asserts:
            return URL(str(self._root) + str(path))
        url = URL(path)
        if url.is_absolute():
            raise ValueError(f"make_url() wants a path, got the absolute URL {url}")
        return self._root.join(url)

    async def close(self) -> None:
        """Stop the server: the runner's graceful shutdown."""
        if self.runner is not None and not self._closed:
            await self.runner.cleanup()
        self._closed = True

    async def __aenter__(self) -> BaseTestServer:
        await self.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class TestServer(BaseTestServer):
    """Serves an :class:`Application` through an ``AppRunner`` (startup and cleanup hooks
    run as they do in production)."""

    def __init__(
        self,
        app: Application,
        *,
        scheme: str = "",
        host: str = "127.0.0.1",
        port: int | None = None,
        skip_url_asserts: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scheme=scheme, host=host, port=port, skip_url_asserts=skip_url_asserts, **kwargs
        )
        self.app = app

    def _make_runner(self, **kwargs: Any) -> BaseRunner:
        kwargs.setdefault("shutdown_timeout", _SHUTDOWN_TIMEOUT)
        return AppRunner(self.app, **kwargs)


class RawTestServer(BaseTestServer):
    """Serves a bare ``async def handler(request) -> StreamResponse`` through the low-level
    ``Server`` (no application, no router)."""

    def __init__(
        self,
        handler: Handler,
        *,
        scheme: str = "",
        host: str = "127.0.0.1",
        port: int | None = None,
        skip_url_asserts: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            scheme=scheme, host=host, port=port, skip_url_asserts=skip_url_asserts, **kwargs
        )
        self._handler = handler
        self.app = None

    def _make_runner(self, **kwargs: Any) -> BaseRunner:
        shutdown_timeout = kwargs.pop("shutdown_timeout", _SHUTDOWN_TIMEOUT)
        return ServerRunner(Server(self._handler, **kwargs), shutdown_timeout=shutdown_timeout)


class BaseTestClient(Generic[_Sent]):
    """What every test client shares: the server under test, its URLs, the verb shortcuts.

    Subclasses give :meth:`request` (what a request returns differs: Berth's
    ``RequestContextManager``, or the compatibility mode's awaitable over aiohttp's client).
    """

    __test__ = False
    _server: BaseTestServer

    @property
    def server(self) -> BaseTestServer:
        return self._server

    @property
    def app(self) -> Application | None:
        """The application under test (``None`` for a raw server)."""
        app: Application | None = getattr(self._server, "app", None)
        return app

    @property
    def host(self) -> str:
        return self._server.host

    @property
    def port(self) -> int | None:
        return self._server.port

    def make_url(self, path: str | URL) -> URL:
        return self._server.make_url(path)

    async def start_server(self) -> None:
        await self._server.start_server()

    def request(self, method: str, path: str | URL, **kwargs: Any) -> _Sent:
        raise NotImplementedError

    def get(self, path: str | URL, **kwargs: Any) -> _Sent:
        return self.request("GET", path, **kwargs)

    def post(self, path: str | URL, **kwargs: Any) -> _Sent:
        return self.request("POST", path, **kwargs)

    def put(self, path: str | URL, **kwargs: Any) -> _Sent:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str | URL, **kwargs: Any) -> _Sent:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str | URL, **kwargs: Any) -> _Sent:
        return self.request("DELETE", path, **kwargs)

    def head(self, path: str | URL, **kwargs: Any) -> _Sent:
        return self.request("HEAD", path, **kwargs)

    def options(self, path: str | URL, **kwargs: Any) -> _Sent:
        return self.request("OPTIONS", path, **kwargs)

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start_server()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class TestClient(BaseTestClient[RequestContextManager]):
    """A client for one test server: ``await client.get("/path")``.

    Args:
        server: the server to talk to (started by :meth:`start_server` or ``async with``).
        kwargs: given to the :class:`ClientSession` (``headers``, ``cookies``, ``timeout``,
            ``raise_for_status``, ...).
    """

    def __init__(self, server: BaseTestServer, **kwargs: Any) -> None:
        self._server = server
        self._session = ClientSession(**kwargs)
        self._responses: list[ClientResponse] = []
        self._closed = False

    @property
    def session(self) -> ClientSession:
        """The underlying :class:`ClientSession` (its cookie jar, its connector)."""
        return self._session

    async def _request(self, method: str, path: str | URL, **kwargs: Any) -> ClientResponse:
        response = await self._session._request(method, self.make_url(path), **kwargs)
        self._responses.append(response)
        return response

    def request(self, method: str, path: str | URL, **kwargs: Any) -> RequestContextManager:
        """Send ``method`` to ``path``; await the result or use it with ``async with``."""
        return RequestContextManager(self._request(method, path, **kwargs))

    def head(self, path: str | URL, **kwargs: Any) -> RequestContextManager:
        kwargs.setdefault("allow_redirects", False)
        return self.request("HEAD", path, **kwargs)

    def ws_connect(self, path: str | URL, **kwargs: Any) -> WebSocketContextManager:
        """Open a WebSocket to ``path`` on the test server; await it or use ``async with``
        (aiohttp's ``TestClient.ws_connect``)."""
        return self._session.ws_connect(self.make_url(path), **kwargs)

    async def close(self) -> None:
        """Release every response, close the session, then stop the server."""
        if self._closed:
            return
        self._closed = True
        for response in self._responses:
            response.release()
        self._responses.clear()
        await self._session.close()
        await self._server.close()
