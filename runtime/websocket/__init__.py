"""The WebSocket connection shared by the server (``web.WebSocketResponse``) and the client
(``ClientWebSocketResponse``): the message API over the frame layer of ``runtime.http.ws``
(docs/architecture.md)."""

from .connection import WebSocketBase, WSMessageTypeError

__all__ = ["WSMessageTypeError", "WebSocketBase"]
