"""Berth: an asyncio HTTP/1.1 + WebSocket runtime. ``from runtime import web`` for servers;
the client (``ClientSession`` and friends) is exported from here, as aiohttp's is."""

from .client import (
    BaseConnector,
    ClientConnectionError,
    ClientConnectorError,
    ClientError,
    ClientOSError,
    ClientPayloadError,
    ClientResponse,
    ClientResponseError,
    ClientSession,
    ClientTimeout,
    ClientWebSocketResponse,
    ConnectionTimeoutError,
    ContentTypeError,
    InvalidURL,
    RequestInfo,
    ServerConnectionError,
    ServerDisconnectedError,
    ServerTimeoutError,
    SocketTimeoutError,
    TCPConnector,
    TooManyRedirects,
    UnixConnector,
    WSServerHandshakeError,
)
from .http.ws import WSCloseCode, WSMessage, WSMsgType
from .websocket.connection import WSMessageTypeError

__version__ = "0.1.0"

__all__ = [
    "BaseConnector",
    "ClientConnectionError",
    "ClientConnectorError",
    "ClientError",
    "ClientOSError",
    "ClientPayloadError",
    "ClientResponse",
    "ClientResponseError",
    "ClientSession",
    "ClientTimeout",
    "ClientWebSocketResponse",
    "ConnectionTimeoutError",
    "ContentTypeError",
    "InvalidURL",
    "RequestInfo",
    "ServerConnectionError",
    "ServerDisconnectedError",
    "ServerTimeoutError",
    "SocketTimeoutError",
    "TCPConnector",
    "TooManyRedirects",
    "UnixConnector",
    "WSCloseCode",
    "WSMessage",
    "WSMessageTypeError",
    "WSMsgType",
    "WSServerHandshakeError",
    "__version__",
]
