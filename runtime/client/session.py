"""``ClientSession``: default headers, cookies and timeouts over a connection pool."""

from __future__ import annotations

import asyncio
import json as _json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from ..http.errors import HttpProcessingError
from ..http.request_writer import serialize_request_head
from ..http.response_parser import ResponseMessage
from ..server.streams import StreamReader
from .body import JsonSerializer, RequestBody, make_body
from .connection import ClientConnection
from .connector import BaseConnector, TCPConnector
from .cookies import CookieJar, CookieSource
from .errors import (
    ClientOSError,
    ClientResponseError,
    InvalidURL,
    RequestInfo,
    ServerDisconnectedError,
    TooManyRedirects,
)
from .redirects import REDIRECT_STATUSES, redirect_headers, redirect_method, redirect_url
from .response import ClientResponse
from .timeouts import DEFAULT_TIMEOUT, ClientTimeout
from .ws import WebSocketContextManager, ws_connect

__all__ = ["ClientSession", "RequestContextManager"]

USER_AGENT = f"Python/{sys.version_info[0]}.{sys.version_info[1]} berth"
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

HeadersArg = Mapping[str, str] | Iterable[tuple[str, str]] | None
RaiseForStatus = bool | Callable[[ClientResponse], Awaitable[None]]


class RequestContextManager:
    """What ``session.get(...)`` returns: await it for the response, or use it with
    ``async with`` to have the response released on the way out."""

    __slots__ = ("_coro", "_resp")

    def __init__(self, coro: Coroutine[Any, Any, ClientResponse]) -> None:
        self._coro = coro
        self._resp: ClientResponse | None = None

    def __await__(self) -> Generator[Any, None, ClientResponse]:
        return self._coro.__await__()

    async def __aenter__(self) -> ClientResponse:
        self._resp = await self._coro
        return self._resp

    async def __aexit__(self, *exc_info: object) -> None:
        if self._resp is not None:
            await self._resp.release()


class ClientSession:
    """An HTTP client session: a connection pool, cookies and defaults for every request.

    Args:
        base_url: joined with relative request URLs (RFC 3986 reference resolution).
        connector: the pool; a :class:`TCPConnector` by default.
        cookies: cookies sent with every request.
        headers: default request headers (a request's own headers replace same-named ones).
        skip_auto_headers: names of headers not to add automatically (``User-Agent``,
            ``Accept``, ``Content-Type``).
        json_serialize: turns ``json=`` into a str.
        timeout: the default :class:`ClientTimeout`.
        raise_for_status: ``True`` raises :class:`ClientResponseError` for statuses of 400
            and more; an async callable is called with each response instead.
        connector_owner: close the connector with the session.
    """

    def __init__(
        self,
        base_url: str | URL | None = None,
        *,
        connector: BaseConnector | None = None,
        cookies: CookieSource | None = None,
        headers: HeadersArg = None,
        skip_auto_headers: Iterable[str] | None = None,
        json_serialize: JsonSerializer = _json.dumps,
        timeout: ClientTimeout = DEFAULT_TIMEOUT,
        raise_for_status: RaiseForStatus = False,
        connector_owner: bool = True,
    ) -> None:
        self._base_url = None if base_url is None else URL(base_url)
        if self._base_url is not None and not self._base_url.is_absolute():
            raise ValueError("base_url must be an absolute URL")
        self._connector = connector if connector is not None else TCPConnector()
        self._connector_owner = connector_owner
        self._cookie_jar = CookieJar()
        if cookies is not None:
            self._cookie_jar.update_cookies(cookies)
        self._headers: CIMultiDict[str] = CIMultiDict(headers or {})
        self._skip_auto_headers = frozenset(h.lower() for h in skip_auto_headers or ())
        self._json_serialize = json_serialize
        self._timeout = timeout
        self._raise_for_status = raise_for_status
        self._closed = False

    # -- properties ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def connector(self) -> BaseConnector:
        return self._connector

    @property
    def cookie_jar(self) -> CookieJar:
        return self._cookie_jar

    @property
    def headers(self) -> CIMultiDict[str]:
        return self._headers

    @property
    def timeout(self) -> ClientTimeout:
        return self._timeout

    # -- requests -----------------------------------------------------------------------

    def request(self, method: str, url: str | URL, **kwargs: Any) -> RequestContextManager:
        """Send a request; see :meth:`_request` for the keyword arguments."""
        return RequestContextManager(self._request(method, url, **kwargs))

    def get(self, url: str | URL, **kwargs: Any) -> RequestContextManager:
        return RequestContextManager(self._request("GET", url, **kwargs))

    def post(self, url: str | URL, **kwargs: Any) -> RequestContextManager:
        return RequestContextManager(self._request("POST", url, **kwargs))

    def put(self, url: str | URL, **kwargs: Any) -> RequestContextManager:
        return RequestContextManager(self._request("PUT", url, **kwargs))

    def patch(self, url: str | URL, **kwargs: Any) -> RequestContextManager:
        return RequestContextManager(self._request("PATCH", url, **kwargs))

    def delete(self, url: str | URL, **kwargs: Any) -> RequestContextManager:
        return RequestContextManager(self._request("DELETE", url, **kwargs))

    def head(self, url: str | URL, **kwargs: Any) -> RequestContextManager:
        kwargs.setdefault("allow_redirects", False)  # as aiohttp: HEAD does not follow
        return RequestContextManager(self._request("HEAD", url, **kwargs))

    def options(self, url: str | URL, **kwargs: Any) -> RequestContextManager:
        return RequestContextManager(self._request("OPTIONS", url, **kwargs))

    async def _request(
        self,
        method: str,
        str_or_url: str | URL,
        *,
        params: Any = None,
        data: Any = None,
        json: Any = None,
        cookies: CookieSource | None = None,
        headers: HeadersArg = None,
        skip_auto_headers: Iterable[str] | None = None,
        allow_redirects: bool = True,
        max_redirects: int = 10,
        raise_for_status: RaiseForStatus | None = None,
        timeout: ClientTimeout | None = None,
    ) -> ClientResponse:
        """Send one request, following redirects, and return the response with its head.

        Args:
            method: the request method.
            str_or_url: an absolute URL, or one relative to ``base_url``.
            params: query parameters added to the URL (a mapping, pairs or a str).
            data: the body: bytes, str, a dict of form fields or an async iterable.
            json: an object to send as JSON (not together with ``data``).
            cookies: cookies for this request only.
            headers: headers for this request.
            skip_auto_headers: headers not to add automatically for this request.
            allow_redirects: follow 301, 302, 303, 307 and 308.
            max_redirects: how many redirects to follow at most.
            raise_for_status: overrides the session's setting.
            timeout: overrides the session's :class:`ClientTimeout`.

        Raises:
            InvalidURL: the URL has no host or is not http/https.
            ClientConnectorError, ClientOSError, ServerDisconnectedError: connection errors.
            ClientResponseError: a malformed response head, or an error status when
                ``raise_for_status`` is on.
            TooManyRedirects: more than ``max_redirects`` redirects.
            asyncio.TimeoutError: a timeout (see :class:`ClientTimeout`).
        """
        if self._closed:
            raise RuntimeError("Session is closed")
        url = self._build_url(str_or_url, params)
        body = make_body(data, json, self._json_serialize)
        timeout = timeout or self._timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout.total if timeout.total else None
        req_headers = self._merge_headers(headers)
        skip = self._skip_auto_headers | {h.lower() for h in skip_auto_headers or ()}
        history: list[ClientResponse] = []
        async with asyncio.timeout_at(deadline):
            while True:
                resp = await self._send(
                    method, url, req_headers, body, skip, cookies, timeout, deadline, history
                )
                self._cookie_jar.update_from_headers(resp.headers.getall("Set-Cookie", ()), url)
                location = resp.headers.get("Location")
                if not allow_redirects or resp.status not in REDIRECT_STATUSES or not location:
                    break
                new_method, keep_body = redirect_method(resp.status, method)
                if keep_body and not body.replayable:
                    break  # a streamed body cannot be sent twice: hand back the redirect
                resp.release()
                history.append(resp)
                if len(history) > max_redirects:
                    raise TooManyRedirects(
                        history[0].request_info,
                        tuple(history),
                        status=resp.status,
                        message=f"Exceeded {max_redirects} redirects",
                        headers=resp.headers,
                    )
                new_url = redirect_url(url, location)
                req_headers = redirect_headers(req_headers, url, new_url, keep_body)
                method, url, body = new_method, new_url, body if keep_body else RequestBody()
        check = self._raise_for_status if raise_for_status is None else raise_for_status
        if callable(check):
            await check(resp)
        elif check:
            resp.raise_for_status()
        return resp

    def _build_url(self, str_or_url: str | URL, params: Any) -> URL:
        try:
            url = URL(str_or_url)
        except (TypeError, ValueError) as exc:
            raise InvalidURL(str_or_url, str(exc)) from None
        if self._base_url is not None and not url.is_absolute():
            url = self._base_url.join(url)
        if url.scheme not in ("http", "https") or not url.raw_host:
            raise InvalidURL(str_or_url)
        if params:
            url = url.extend_query(params)
        return url.with_fragment(None)

    def _merge_headers(self, headers: HeadersArg) -> CIMultiDict[str]:
        result = CIMultiDict(self._headers)
        if headers:
            items = headers.items() if isinstance(headers, Mapping) else headers
            replaced: set[str] = set()
            for name, value in items:
                key = name.lower()
                if key in replaced:
                    result.add(name, value)
                else:
                    result[name] = value  # a request's header replaces the session's
                    replaced.add(key)
        return result

    def _head_headers(
        self,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        body: RequestBody,
        skip: frozenset[str] | set[str],
        cookies: CookieSource | None,
    ) -> CIMultiDict[str]:
        result: CIMultiDict[str] = CIMultiDict()
        if "Host" not in headers:
            result["Host"] = _host_header(url)
        result.extend(headers)
        if "accept" not in skip and "Accept" not in result:
            result["Accept"] = "*/*"
        if "user-agent" not in skip and "User-Agent" not in result:
            result["User-Agent"] = USER_AGENT
        if body.content_type and "content-type" not in skip and "Content-Type" not in result:
            result["Content-Type"] = body.content_type
        # The framing is ours to state: a caller's length could split the stream (RFC 9112 6).
        result.popall("Content-Length", None)
        result.popall("Transfer-Encoding", None)
        if body.stream is not None:
            result["Transfer-Encoding"] = "chunked"
        elif body.data is not None:
            result["Content-Length"] = str(len(body.data))
        elif method in _BODY_METHODS:
            result["Content-Length"] = "0"
        jar = self._cookie_jar.filter_cookies(url)
        if cookies:
            extra = CookieJar()
            extra.update_cookies(cookies)
            for morsel in extra:
                jar[morsel.key] = morsel
        if jar:
            line = "; ".join(f"{m.key}={m.coded_value}" for m in jar.values())
            existing = result.get("Cookie")
            result["Cookie"] = f"{existing}; {line}" if existing else line
        if self._connector.force_close and "Connection" not in result:
            result["Connection"] = "close"
        return result

    async def _send(
        self,
        method: str,
        url: URL,
        headers: CIMultiDict[str],
        body: RequestBody,
        skip: frozenset[str] | set[str],
        cookies: CookieSource | None,
        timeout: ClientTimeout,
        deadline: float | None,
        history: list[ClientResponse],
    ) -> ClientResponse:
        key = self._connector.connection_key(url)
        head_headers = self._head_headers(method, url, headers, body, skip, cookies)
        info = RequestInfo(url, method, CIMultiDictProxy(head_headers), url)
        head = serialize_request_head(method, url.raw_path_qs or "/", head_headers.items())
        retry = method in _IDEMPOTENT and body.replayable
        while True:
            conn = await self._connector.connect(key, timeout)
            try:
                message, payload = await _exchange(conn, method, head, body, timeout)
            except (ServerDisconnectedError, ClientOSError):
                conn.close()
                # The server closed an idle keep-alive connection just as we reused it:
                # nothing was processed, so an idempotent request may go again, once.
                if retry and conn.requests > 1 and not conn.got_response_bytes:
                    retry = False
                    continue
                raise
            except HttpProcessingError as exc:
                conn.close()
                raise ClientResponseError(
                    info, tuple(history), status=exc.status, message=exc.message
                ) from exc
            except BaseException:
                conn.close()
                raise
            return ClientResponse(
                method, url, message, conn, payload, info, tuple(history), deadline
            )

    def ws_connect(self, url: str | URL, **kwargs: Any) -> WebSocketContextManager:
        """Open a WebSocket (aiohttp's ``session.ws_connect``); see
        :func:`runtime.client.ws.ws_connect` for the keyword arguments. Await it, or use it
        with ``async with`` to close the WebSocket on the way out."""
        return ws_connect(self, url, **kwargs)

    async def _upgrade(
        self, url: str | URL, headers: HeadersArg, timeout: ClientTimeout | None = None
    ) -> tuple[ClientResponse, asyncio.Transport | None, bytes]:
        """Send a GET asking for a protocol upgrade (the WebSocket handshake's seam).

        ``headers`` must carry ``Connection: Upgrade`` and ``Upgrade``. On ``101`` the
        connection leaves the pool and its transport comes back with the bytes received
        after the response head; the caller installs its protocol with
        ``transport.set_protocol()``. For any other status the transport is ``None``.
        """
        resp = await self._request(
            "GET", url, headers=headers, timeout=timeout, allow_redirects=False
        )
        conn = resp.connection
        if resp.status != 101 or conn is None or not conn.upgraded:
            return resp, None, b""
        transport, tail = conn.detach()
        return resp, transport, tail

    # -- lifetime -----------------------------------------------------------------------

    async def close(self) -> None:
        """Close the session, and its connector if it owns it."""
        if self._closed:
            return
        self._closed = True
        if self._connector_owner:
            await self._connector.close()

    async def __aenter__(self) -> ClientSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


async def _exchange(
    conn: ClientConnection, method: str, head: bytes, body: RequestBody, timeout: ClientTimeout
) -> tuple[ResponseMessage, StreamReader]:
    conn.begin(method, timeout.sock_read)
    if body.stream is not None:
        conn.write(head)
        conn.send_stream(body.stream)
    else:
        conn.write(head + body.data if body.data else head)
    return await conn.read_head()


def _host_header(url: URL) -> str:
    host = url.raw_host or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal (RFC 3986 3.2.2)
    if not url.is_default_port() and url.port is not None:
        host = f"{host}:{url.port}"
    return host
