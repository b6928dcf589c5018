"""A request without a server, for unit tests of handlers and middlewares:
``make_mocked_request``, with aiohttp.test_utils' signature and defaults, and
``make_mocked_coro``.

The connection and the transport are mocks, as in aiohttp; the writer is a real one over
them, so a response can be prepared and written and its bytes read back from
``request.transport.write``'s calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from ssl import SSLContext
from typing import Any, Final
from unittest import mock

from multidict import CIMultiDict, CIMultiDictProxy

from ..http.message import HttpVersion, HttpVersion11, RequestMessage
from ..http.writer import ResponseWriter
from ..server.streams import EMPTY_PAYLOAD, StreamReader
from ..web.app import Application
from ..web.request import Request
from ..web.routing.match_info import UrlMappingMatchInfo
from ..web.signals import Signal

__all__ = ["make_mocked_coro", "make_mocked_request"]


class _Sentinel:
    """Marks an argument left out (``None`` is a value some of them take)."""

    def __repr__(self) -> str:
        return "<sentinel>"


sentinel: Final = _Sentinel()


def make_mocked_request(
    method: str,
    path: str,
    headers: Any = None,
    *,
    match_info: Any = sentinel,
    version: HttpVersion = HttpVersion11,
    closing: bool = False,
    app: Any = None,
    writer: Any = sentinel,
    protocol: Any = sentinel,
    transport: Any = sentinel,
    payload: StreamReader = EMPTY_PAYLOAD,
    sslcontext: SSLContext | None = None,
    client_max_size: int = 1024**2,
    client_max_fields: int = 1000,
    loop: Any = ...,
) -> Request:
    """A :class:`~runtime.web.Request` for ``method`` and ``path`` (with its query).

    Args:
        headers: a mapping or pairs; ``Transfer-Encoding: chunked`` and an ``Upgrade``
            with ``Connection: upgrade`` mark the request as aiohttp marks them.
        match_info: the route's captured parts (default: none).
        version: the HTTP version; below 1.1 the connection is closing.
        closing: the connection closes after this request (no keep-alive).
        app: the application the request was routed in (default: a mock whose
            ``app[key]`` works and whose ``on_response_prepare`` is empty).
        writer, protocol, transport: replace the mocks (and the writer) made by default.
        payload: the body stream (default: empty).
        sslcontext: what the transport reports, so ``request.secure`` is true with one.
        loop: default: the running loop, or a mock outside one.
    """
    if loop is ...:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = mock.Mock()
            loop.create_future.return_value = ()
    if version < HttpVersion11:
        closing = True
    fields: CIMultiDictProxy[str] = CIMultiDictProxy(CIMultiDict(headers or ()))
    raw_headers = tuple((k.encode(), v.encode()) for k, v in fields.items())
    message = RequestMessage(
        method.upper(),
        path,
        version,
        raw_headers,
        keep_alive=not closing,
        upgrade=fields.get("Connection", "").lower() == "upgrade" and bool(fields.get("Upgrade")),
        chunked="chunked" in fields.get("Transfer-Encoding", "").lower(),
    )
    if app is None:
        app = _app_mock()
    if transport is sentinel:
        transport = _transport_mock(sslcontext)
    if protocol is sentinel:
        protocol = _protocol_mock(transport, sslcontext)
    protocol.transport = transport
    if writer is sentinel:
        writer = ResponseWriter(protocol, message)
    protocol.writer = writer
    request = Request(
        message,
        payload,
        protocol,
        writer,
        mock.Mock(),  # the handler's task
        loop,
        client_max_size=client_max_size,
        client_max_fields=client_max_fields,
    )
    info = UrlMappingMatchInfo({} if match_info is sentinel else match_info, mock.Mock())
    info.add_app(app)
    request._match_info = info
    return request


def make_mocked_coro(return_value: Any = sentinel, raise_exception: Any = sentinel) -> mock.Mock:
    """A mock whose calls return a coroutine that returns ``return_value`` (or raises
    ``raise_exception``); its calls are recorded as any mock's."""

    async def mock_coro(*args: Any, **kwargs: Any) -> Any:
        if raise_exception is not sentinel:
            raise raise_exception
        return None if return_value is sentinel else return_value

    coroutine_function: Callable[..., Coroutine[Any, Any, Any]] = mock_coro
    return mock.Mock(wraps=coroutine_function)


def _app_mock() -> mock.MagicMock:
    """An application stand-in: ``app[key]`` and ``app[key] = value`` work on a dict."""
    state: dict[Any, Any] = {}
    app = mock.MagicMock(spec=Application)
    app.__getitem__.side_effect = state.__getitem__
    app.__setitem__.side_effect = state.__setitem__
    app.__contains__.side_effect = state.__contains__
    app.get.side_effect = state.get
    app._debug = False
    signal = Signal(app, name="on_response_prepare")
    signal.freeze()
    app.on_response_prepare = signal
    return app


def _transport_mock(sslcontext: SSLContext | None) -> mock.Mock:
    extra = {"sslcontext": sslcontext, "sockname": ("127.0.0.1", 80)}
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda key, default=None: extra.get(key, default)
    transport.is_closing.return_value = False
    # What a transport's writes return. The compiled writer checks it (docs/compiled.md).
    transport.write.return_value = None
    transport.writelines.return_value = None
    return transport


def _protocol_mock(transport: Any, sslcontext: SSLContext | None) -> mock.Mock:
    """The connection as the request and the writer see it."""
    protocol = mock.Mock()
    protocol.transport = transport
    protocol.peername = transport.get_extra_info("peername")
    protocol.sockname = transport.get_extra_info("sockname")
    protocol.ssl_context = sslcontext
    protocol.server_header = None
    protocol.should_close.return_value = False
    protocol.drain = mock.AsyncMock(return_value=None)
    return protocol
