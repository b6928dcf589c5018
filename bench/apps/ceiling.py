"""The ceiling: uvloop + httptools answering canned bytes. Not a framework, a bound.

An ``asyncio.Protocol`` that parses requests with ``httptools.HttpRequestParser`` and, for
each complete request, answers one pre-encoded plaintext response (rebuilt once a second
for its ``Date``), keeping the connection alive unless the request asked to close.
Pipelined requests read in one ``data_received`` are answered with one write. Whatever the
method or path, the answer is ``200 Hello, World!``: the plaintext scenario only.

    python -m bench.apps.ceiling --host 127.0.0.1 --port PORT [--task-per-request]

``--task-per-request`` (the ``ceiling-task`` server) answers each request from an
``asyncio.Task`` of its own instead, as aiohttp and Berth run every handler: what a server
that keeps aiohttp's semantics (``asyncio.current_task()`` in a handler, a context of its
own per request, cancellation of the handler alone) pays at the least, with no framework
around it.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
from email.utils import formatdate

import httptools
import uvloop

from bench.apps import common

_BODY = common.HELLO.encode()
_HEAD = (
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    f"Content-Length: {len(_BODY)}\r\n"
    "Date: {date}\r\n"
    "Server: ceiling\r\n"
    "\r\n"
)
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

response = b""  # the canned answer, refreshed every second by _refresh()


def _refresh(loop: asyncio.AbstractEventLoop) -> None:
    global response  # noqa: PLW0603  (one module-wide canned answer)
    response = _HEAD.format(date=formatdate(usegmt=True)).encode() + _BODY
    loop.call_later(1.0, _refresh, loop)


class Canned(asyncio.Protocol):
    """One connection: count the complete requests in each read, answer them in one write."""

    __slots__ = ("close_after", "complete", "parser", "transport")

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.complete = 0
        self.close_after = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    # httptools callback
    def on_message_complete(self) -> None:
        self.complete += 1
        if not self.parser.should_keep_alive():
            self.close_after = True

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:  # also an upgrade: this server speaks plain HTTP/1.1
            transport.write(_BAD_REQUEST)
            transport.close()
            return
        if self.complete:
            transport.write(response * self.complete if self.complete > 1 else response)
            self.complete = 0
        if self.close_after:
            transport.close()


class Tasked(Canned):
    """One connection whose requests are each answered by a task of their own."""

    __slots__ = ()

    def on_message_complete(self) -> None:
        close = not self.parser.should_keep_alive()
        # Tasks start in the order they are made, so pipelined answers keep their order.
        asyncio.get_running_loop().create_task(self._answer(close))

    async def _answer(self, close: bool) -> None:
        transport = self.transport
        if transport is not None:
            transport.write(response)
            if close:
                transport.close()

    # Canned.data_received feeds the parser and answers garbage with 400; with no request
    # counted in ``complete`` and no ``close_after``, it writes nothing else itself.


async def serve(host: str, port: int, *, task_per_request: bool = False) -> None:
    loop = asyncio.get_running_loop()
    _refresh(loop)
    protocol = Tasked if task_per_request else Canned
    server = await loop.create_server(protocol, host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--task-per-request",
        action="store_true",
        help="answer each request from an asyncio.Task of its own (the ceiling-task server)",
    )
    args = parser.parse_args(argv)
    uvloop.run(serve(args.host, args.port, task_per_request=args.task_per_request))


if __name__ == "__main__":
    main()
