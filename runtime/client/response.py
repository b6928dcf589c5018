"""``ClientResponse``: status, headers and the body as a stream, with aiohttp's readers."""

from __future__ import annotations

import asyncio
import codecs
import json as _json
import re
from collections.abc import Callable, Generator
from http.cookies import CookieError, SimpleCookie
from typing import Any

from multidict import CIMultiDictProxy
from yarl import URL

from ..http.header_params import parse_content_type
from ..http.message import HttpVersion, RawHeaders
from ..http.response_parser import ResponseMessage
from ..server.streams import StreamReader
from .connection import ClientConnection
from .errors import ClientResponseError, ContentTypeError, RequestInfo

__all__ = ["ClientResponse"]

# An unread remainder up to this size is read and dropped so the connection can be reused;
# a larger one costs more than a new connection, so the connection is closed instead.
DRAIN_LIMIT = 2**16
DRAIN_TIMEOUT = 1.0
_JSON_RE = re.compile(r"^application/(?:[\w.+-]+?\+)?json")


class _Done:
    """What ``release()`` returns: awaiting it is allowed and does nothing (aiohttp's
    ``release()`` may be awaited or not)."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


class ClientResponse:
    """A response, its head read and its body streaming in ``content``.

    The connection goes back to the pool as soon as the body has been received whole;
    ``release()`` (or leaving ``async with``) gives up on a body that has not, and
    ``close()`` drops the connection.
    """

    def __init__(
        self,
        method: str,
        url: URL,
        message: ResponseMessage,
        connection: ClientConnection | None,
        payload: StreamReader,
        request_info: RequestInfo,
        history: tuple[ClientResponse, ...] = (),
        deadline: float | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.real_url = url
        self.status = message.status
        self.reason = message.reason
        self.version: HttpVersion = message.version
        self.headers: CIMultiDictProxy[str] = message.headers
        self.raw_headers: RawHeaders = message.raw_headers
        self.content = payload
        self.request_info = request_info
        self.history = history
        self._message = message
        self._connection = connection
        self._body: bytes | None = None
        self._cookies: SimpleCookie | None = None
        self._closed = False
        self._timer: asyncio.TimerHandle | None = None
        if deadline is not None and connection is not None and not payload.is_eof():
            self._timer = connection.loop.call_at(deadline, self._timed_out)
            connection.on_complete = self._cancel_timer

    def __repr__(self) -> str:
        return f"<ClientResponse({self.url}) [{self.status} {self.reason}]>"

    # -- head ---------------------------------------------------------------------------

    @property
    def ok(self) -> bool:
        """True for a status below 400."""
        return self.status < 400

    @property
    def connection(self) -> ClientConnection | None:
        """The connection still serving this response, if any (for protocol upgrades)."""
        return self._connection

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters (``application/octet-stream``
        when the header is missing)."""
        return parse_content_type(self.headers.get("Content-Type", "application/octet-stream"))[0]

    @property
    def charset(self) -> str | None:
        """The ``charset`` parameter of Content-Type, if any."""
        return parse_content_type(self.headers.get("Content-Type", ""))[1].get("charset")

    @property
    def content_length(self) -> int | None:
        return self._message.content_length

    @property
    def cookies(self) -> SimpleCookie:
        """The cookies this response sets (``Set-Cookie``)."""
        if self._cookies is None:
            cookies: SimpleCookie = SimpleCookie()
            for header in self.headers.getall("Set-Cookie", ()):
                try:
                    cookies.load(header)
                except CookieError:
                    continue  # the session's jar logs it
            self._cookies = cookies
        return self._cookies

    def get_encoding(self) -> str:
        """The charset to decode ``text()`` with: Content-Type's, else UTF-8."""
        charset = self.charset
        if charset:
            try:
                return codecs.lookup(charset).name
            except LookupError:
                pass
        return "utf-8"

    def raise_for_status(self) -> None:
        """Raise :class:`ClientResponseError` for a status of 400 or more.

        Raises:
            ClientResponseError: carrying status, reason, headers and request info.
        """
        if self.ok:
            return
        self.release()
        raise ClientResponseError(
            self.request_info,
            self.history,
            status=self.status,
            message=self.reason,
            headers=self.headers,
        )

    # -- body ---------------------------------------------------------------------------

    async def read(self) -> bytes:
        """The whole body (read once, then kept).

        Raises:
            ClientPayloadError: the body was truncated or malformed.
            SocketTimeoutError, asyncio.TimeoutError: ``sock_read`` or ``total`` passed.
        """
        if self._body is None:
            try:
                self._body = await self.content.read()
            except BaseException:
                self.close()
                raise
            self._cancel_timer()
        return self._body

    async def text(self, encoding: str | None = None, errors: str = "strict") -> str:
        """The body decoded with ``encoding`` or :meth:`get_encoding`."""
        body = await self.read()
        return body.decode(encoding or self.get_encoding(), errors)

    async def json(
        self,
        *,
        encoding: str | None = None,
        loads: Callable[[str], Any] = _json.loads,
        content_type: str | None = "application/json",
    ) -> Any:
        """The body parsed as JSON; ``None`` for an empty body.

        Args:
            encoding: overrides the charset.
            loads: the JSON decoder.
            content_type: the expected media type (``None`` skips the check).

        Raises:
            ContentTypeError: the response's Content-Type is not ``content_type``.
        """
        body = await self.read()
        if content_type is not None and not _expected_type(self.content_type, content_type):
            raise ContentTypeError(
                self.request_info,
                self.history,
                status=self.status,
                message=f"Attempt to decode JSON with unexpected mimetype: {self.content_type}",
                headers=self.headers,
            )
        stripped = body.strip()
        if not stripped:
            return None
        return loads(stripped.decode(encoding or self.get_encoding()))

    # -- end of use ---------------------------------------------------------------------

    def release(self) -> _Done:
        """Done with this response: the connection is reused if its body was (or, when
        little is left, will soon be) received whole, and closed otherwise. May be awaited.
        """
        conn, self._connection = self._connection, None
        self._closed = True
        self._cancel_timer()
        if conn is not None and conn.busy and conn.payload is self.content:
            conn.release_unread(DRAIN_LIMIT, DRAIN_TIMEOUT)
        return _Done()

    def close(self) -> None:
        """Close the connection (it is never reused)."""
        conn, self._connection = self._connection, None
        self._closed = True
        self._cancel_timer()
        if conn is not None and conn.busy and conn.payload is self.content:
            conn.close()

    async def wait_for_close(self) -> None:
        """Release the response (aiohttp compatibility)."""
        await self.release()

    async def __aenter__(self) -> ClientResponse:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.release()

    # -- the total timeout while the body is read ------------------------------------

    def _timed_out(self) -> None:
        self._timer = None
        if not self.content.is_eof():
            self.content.set_exception(TimeoutError("Response body not read in time"))
            self.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _expected_type(actual: str, expected: str) -> bool:
    if expected == "application/json":
        return _JSON_RE.match(actual) is not None
    return expected in actual
