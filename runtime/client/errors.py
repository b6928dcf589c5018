"""The client's exceptions, named and nested as aiohttp's are.

::

    ClientError
    +-- ClientConnectionError
    |   +-- ClientConnectionResetError (ConnectionResetError)
    |   +-- ClientOSError (OSError)
    |   |   +-- ClientConnectorError
    |   +-- ServerConnectionError
    |       +-- ServerDisconnectedError
    |       +-- ServerTimeoutError (asyncio.TimeoutError)
    |           +-- ConnectionTimeoutError
    |           +-- SocketTimeoutError
    +-- ClientResponseError
    |   +-- ContentTypeError
    |   +-- TooManyRedirects
    +-- ClientPayloadError
    +-- InvalidURL (ValueError)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from multidict import CIMultiDictProxy
from yarl import URL

# Rooted in the bytes layer: the server's response writer raises the reset error too.
from ..http.connection_errors import ClientConnectionError, ClientConnectionResetError, ClientError

if TYPE_CHECKING:
    from .response import ClientResponse

__all__ = [
    "ClientConnectionError",
    "ClientConnectionResetError",
    "ClientConnectorError",
    "ClientError",
    "ClientOSError",
    "ClientPayloadError",
    "ClientResponseError",
    "ConnectionKey",
    "ConnectionTimeoutError",
    "ContentTypeError",
    "InvalidURL",
    "RequestInfo",
    "ServerConnectionError",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "SocketTimeoutError",
    "TooManyRedirects",
]


class RequestInfo(NamedTuple):
    """What was asked: carried by responses and by :class:`ClientResponseError`."""

    url: URL
    method: str
    headers: CIMultiDictProxy[str]
    real_url: URL


class ConnectionKey(NamedTuple):
    """Which pooled connections can serve a request: same host, port and TLS setting."""

    host: str
    port: int
    is_ssl: bool


class ClientOSError(ClientConnectionError, OSError):
    """An operating-system error on the connection."""


class ClientConnectorError(ClientOSError):
    """The connection could not be made.

    Args:
        connection_key: the host, port and TLS setting that were tried.
        os_error: the error the operating system reported.
    """

    def __init__(self, connection_key: ConnectionKey, os_error: OSError) -> None:
        self._conn_key = connection_key
        self._os_error = os_error
        super().__init__(os_error.errno, os_error.strerror)
        self.args = (connection_key, os_error)

    @property
    def os_error(self) -> OSError:
        return self._os_error

    @property
    def host(self) -> str:
        return self._conn_key.host

    @property
    def port(self) -> int:
        return self._conn_key.port

    @property
    def ssl(self) -> bool:
        return self._conn_key.is_ssl

    def __str__(self) -> str:
        reason = self._os_error.strerror or str(self._os_error)
        return f"Cannot connect to host {self.host}:{self.port} ssl:{self.ssl} [{reason}]"


class ServerConnectionError(ClientConnectionError):
    """The server broke the connection or did not answer in time."""


class ServerDisconnectedError(ServerConnectionError):
    """The server closed the connection before a response (or its head) was complete."""

    def __init__(self, message: str | None = None) -> None:
        self.message = message or "Server disconnected"
        super().__init__(self.message)


class ServerTimeoutError(ServerConnectionError, TimeoutError):
    """A timeout on the server connection (``except asyncio.TimeoutError`` catches it)."""


class ConnectionTimeoutError(ServerTimeoutError):
    """Connecting (``ClientTimeout.connect`` / ``sock_connect``) took too long."""


class SocketTimeoutError(ServerTimeoutError):
    """No data arrived for ``ClientTimeout.sock_read`` seconds."""


class ClientPayloadError(ClientError):
    """The response body could not be read whole (truncated, or malformed framing)."""


class InvalidURL(ClientError, ValueError):
    """A URL the client cannot request (no host, or not http/https)."""

    def __init__(self, url: Any, description: str | None = None) -> None:
        self._url = url
        self._description = description
        if description:
            super().__init__(url, description)
        else:
            super().__init__(url)

    @property
    def url(self) -> Any:
        return self._url

    @property
    def description(self) -> str | None:
        return self._description

    def __str__(self) -> str:
        if self._description:
            return f"{self._url} - {self._description}"
        return str(self._url)


class ClientResponseError(ClientError):
    """A response the caller does not accept: an error status, a bad head or a redirect
    loop.

    Args:
        request_info: the request that led to it.
        history: the redirect responses before it.
        status: the HTTP status (0 when no response was parsed).
        message: the reason phrase or a description.
        headers: the response headers, when there was a response.
    """

    def __init__(
        self,
        request_info: RequestInfo,
        history: tuple[ClientResponse, ...],
        *,
        status: int | None = None,
        message: str = "",
        headers: CIMultiDictProxy[str] | None = None,
    ) -> None:
        self.request_info = request_info
        self.history = history
        self.status = status or 0
        self.message = message
        self.headers = headers
        super().__init__(request_info)
        self.args = (request_info, history)

    def __str__(self) -> str:
        return f"{self.status}, message={self.message!r}, url={str(self.request_info.real_url)!r}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.request_info!r}, {self.history!r}, "
            f"status={self.status}, message={self.message!r})"
        )


class ContentTypeError(ClientResponseError):
    """``json()`` was called on a response whose Content-Type is not the expected one."""


class TooManyRedirects(ClientResponseError):
    """More redirects than ``max_redirects``."""
