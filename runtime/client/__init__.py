"""The HTTP client: ``ClientSession`` over a pool of keep-alive connections (aiohttp's API).

The client shares the protocol layer (``runtime.http``: the httptools response parser, the
request head writer, ``StreamReader``) with the server, and nothing of its app layer.
"""

from .body import RequestBody
from .connection import ClientConnection
from .connector import BaseConnector, TCPConnector, UnixConnector
from .cookies import CookieJar
from .errors import (
    ClientConnectionError,
    ClientConnectionResetError,
    ClientConnectorError,
    ClientError,
    ClientOSError,
    ClientPayloadError,
    ClientResponseError,
    ConnectionKey,
    ConnectionTimeoutError,
    ContentTypeError,
    InvalidURL,
    RequestInfo,
    ServerConnectionError,
    ServerDisconnectedError,
    ServerTimeoutError,
    SocketTimeoutError,
    TooManyRedirects,
)
from .response import ClientResponse
from .session import ClientSession, RequestContextManager
from .timeouts import ClientTimeout
from .ws import ClientWebSocketResponse, WSServerHandshakeError

__all__ = [
    "BaseConnector",
    "ClientConnection",
    "ClientConnectionError",
    "ClientConnectionResetError",
    "ClientConnectorError",
    "ClientError",
    "ClientOSError",
    "ClientPayloadError",
    "ClientResponse",
    "ClientResponseError",
    "ClientSession",
    "ClientTimeout",
    "ClientWebSocketResponse",
    "ConnectionKey",
    "ConnectionTimeoutError",
    "ContentTypeError",
    "CookieJar",
    "InvalidURL",
    "RequestBody",
    "RequestContextManager",
    "RequestInfo",
    "ServerConnectionError",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "SocketTimeoutError",
    "TCPConnector",
    "TooManyRedirects",
    "UnixConnector",
    "WSServerHandshakeError",
]
