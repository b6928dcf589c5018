"""The error a write raises once the peer has gone, shared by the server and the client.

aiohttp 3.14 raises ``ClientConnectionResetError`` (both a ``ConnectionResetError`` and a
``ClientConnectionError``) from a server response's writes as well as from the client's,
so code catching either keeps working when ported. The client's exception tree
(``runtime/client/errors.py``) is rooted here for that reason; nothing here knows sockets.
"""

from __future__ import annotations

__all__ = ["ClientConnectionError", "ClientConnectionResetError", "ClientError"]


class ClientError(Exception):
    """Base of every client error."""


class ClientConnectionError(ClientError):
    """The connection failed, or broke."""


class ClientConnectionResetError(ClientConnectionError, ConnectionResetError):
    """The peer has gone: nothing more can be written to the connection."""
