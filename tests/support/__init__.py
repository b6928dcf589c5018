"""What the tests share: a raw HTTP/1.1 client over loopback (``wire``) and one way to put
an application or a bare handler on a loopback port (``server``).

Async tests are plain ``async def test_...`` functions run by the project's pytest plugin
(``runtime/testing/pytest_plugin.py``); nothing here runs an event loop of its own.
"""

from __future__ import annotations

from tests.support.server import Handler, serve
from tests.support.wire import (
    Connection,
    Headers,
    Reply,
    build_request,
    exchange,
    fetch,
    parse_replies,
    read_chunk,
    read_head,
    read_reply,
    recv_until_closed,
)

__all__ = [
    "Connection",
    "Handler",
    "Headers",
    "Reply",
    "build_request",
    "exchange",
    "fetch",
    "parse_replies",
    "read_chunk",
    "read_head",
    "read_reply",
    "recv_until_closed",
    "serve",
]
