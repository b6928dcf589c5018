"""The server under fuzz: a real ``web.Application`` on a loopback port, in its own thread.

The app has a plain GET (``/``), a streaming response that never reads the body
(``/stream``), a WebSocket echo (``/ws``), form parsing (``/form``: urlencoded and
multipart), every parsed view of the request (``/inspect``: URL, query, host, cookies,
conditionals, Range, Forwarded, ...) and, for every other path and method, a handler
that reads the whole body and answers its length, all behind the catalogue's
``compression_middleware`` (request and response codings). The server's log records (``runtime.*``)
and its event loop's unhandled errors are kept, so the runner can fail on them.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from middlewares.compression import compression_middleware
from runtime import web

__all__ = ["Deadlines", "LogCapture", "Problem", "ServerThread", "make_app"]


@dataclass(frozen=True)
class Deadlines:
    """The server's timeouts, set low so that every case ends in seconds."""

    head: float = 1.0
    body: float = 1.0
    keepalive: float = 1.0
    linger: float = 1.0
    rate_window: float = 1.0  # the minimum data rates' window (head and body)
    ws: float = 0.5  # the WebSocket handler's receive timeout, and its close timeout

    def bound(self, slack: float) -> float:
        """How long after the last byte sent the server may keep a connection open.

        The longest legitimate path is one wait (the head, one body read, a data-rate window,
        or a WebSocket's receive then close) followed by the keep-alive idle time; ``slack``
        covers a loaded machine.
        """
        return max(self.head, self.body, self.rate_window, 2 * self.ws) + self.keepalive + slack


def make_app(deadlines: Deadlines) -> web.Application:
    async def plain(request: web.Request) -> web.StreamResponse:
        return web.Response(text="plain\n")

    async def echo(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        return web.Response(text=f"{request.method} {request.path} read {len(body)} bytes\n")

    async def form(request: web.Request) -> web.StreamResponse:
        fields = await request.post()
        # ascii(): a name may hold surrogates (undecodable bytes), which text cannot carry.
        names = ", ".join(ascii(name) for name in sorted(fields))
        return web.Response(text=f"{len(fields)} fields: {names}\n")

    async def inspect(request: web.Request) -> web.StreamResponse:
        # Every parsed view of the request an application may read: none may fail on what
        # the parser let through. http_range raises ValueError for a malformed Range, as
        # aiohttp documents; anything else escaping is a 500, and a finding.
        try:
            ranged: object = request.http_range
        except ValueError:
            ranged = "bad range"
        seen = [
            request.url,
            request.rel_url,
            request.path_qs,
            list(request.query.items()),
            request.host,
            request.scheme,
            request.secure,
            request.remote,
            request.forwarded,
            request.content_type,
            request.charset,
            request.content_length,
            dict(request.cookies),
            request.if_modified_since,
            request.if_unmodified_since,
            request.if_range,
            request.if_match,
            request.if_none_match,
            ranged,
            request.keep_alive,
            request.body_exists,
        ]
        return web.Response(text=ascii(seen) + "\n")

    async def stream(request: web.Request) -> web.StreamResponse:
        # Never reads the body: the protocol discards it or closes the connection.
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for i in range(3):
            await response.write(b"part %d\n" % i)
        await response.write_eof()
        return response

    async def websocket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(
            timeout=deadlines.ws, receive_timeout=deadlines.ws, max_msg_size=64 * 1024
        )
        await ws.prepare(request)
        await ws.send_str("hello")
        try:
            async for msg in ws:
                if msg.type is web.WSMsgType.TEXT:
                    await ws.send_str(msg.data)
                elif msg.type is web.WSMsgType.BINARY:
                    await ws.send_bytes(msg.data)
        except TimeoutError:
            pass  # the client went quiet: close below
        await ws.close()
        return ws

    # The catalogue's compression too: it reads Content-Encoding and Accept-Encoding.
    app = web.Application(middlewares=[compression_middleware()])
    app.router.add_get("/", plain)
    app.router.add_get("/stream", stream)
    app.router.add_route("POST", "/stream", stream)
    app.router.add_get("/ws", websocket)
    app.router.add_post("/form", form)
    app.router.add_route("*", "/inspect", inspect)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@dataclass(frozen=True)
class Problem:
    """A server log record at ERROR or above, or with a traceback; or a loop error."""

    kind: str  # the same for every occurrence of one problem (for grouping)
    text: str


def _type_name(exc: object) -> str:
    return type(exc).__qualname__


class LogCapture(logging.Handler):
    """Keeps ``runtime.*`` records: counts every level, holds the bad ones as problems."""

    def __init__(self, on_problem: Callable[[Problem], None]) -> None:
        super().__init__(logging.DEBUG)
        self.levels: Counter[str] = Counter()
        self._on_problem = on_problem

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1
        if record.levelno >= logging.ERROR or record.exc_info:
            kind = f"{record.levelname} {record.name}: {record.msg}"
            text = f"{record.levelname} {record.name}: {record.getMessage()}"
            if record.exc_info:
                kind += f" [{_type_name(record.exc_info[1])}]"
                text += "\n" + "".join(traceback.format_exception(*record.exc_info))
            self._on_problem(Problem(kind, text))


class ServerThread:
    """``web.AppRunner`` + ``web.TCPSite`` on 127.0.0.1, in a thread with its own loop."""

    def __init__(
        self,
        deadlines: Deadlines,
        on_problem: Callable[[Problem], None],
        app_factory: Callable[[Deadlines], web.Application] = make_app,
        *,
        uvloop: bool = False,
    ) -> None:
        self.deadlines = deadlines
        self._app_factory = app_factory
        self._on_problem = on_problem
        self.capture = LogCapture(on_problem)
        if uvloop:
            import uvloop as _uvloop  # an optional dependency, as in the gunicorn worker

            self.loop: asyncio.AbstractEventLoop = _uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self.loop.set_exception_handler(self._loop_error)
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-server")
        self._runner: web.AppRunner | None = None
        self._logger = logging.getLogger("runtime")
        self._saved: tuple[int, bool] = (self._logger.level, self._logger.propagate)
        self.port = 0

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        text = kind = f"event loop: {context.get('message')}"
        exc = context.get("exception")
        if exc is not None:
            kind += f" [{_type_name(exc)}]"
            text += "\n" + "".join(traceback.format_exception(exc))
        for key in ("task", "future", "handle", "protocol", "transport"):
            if key in context:
                text += f"\n{key}: {context[key]!r}"
        self._on_problem(Problem(kind, text))

    async def _start(self) -> int:
        d = self.deadlines
        self._runner = web.AppRunner(
            self._app_factory(d),
            access_log=None,
            head_timeout=d.head,
            body_timeout=d.body,
            keepalive_timeout=d.keepalive,
            lingering_time=d.linger,
            rate_window=d.rate_window,
            shutdown_timeout=1.0,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        assert site.port is not None
        return site.port

    def connections(self) -> int:
        """Open server-side connections (read from another thread: a snapshot)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def __enter__(self) -> ServerThread:
        # DEBUG, so that a traceback logged at DEBUG or INFO is seen too; not propagated, so
        # that pytest's own capture does not hold thousands of records.
        self._logger.setLevel(logging.DEBUG)
        self._logger.propagate = False
        self._logger.addHandler(self.capture)
        self._thread.start()
        try:
            self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._runner is not None and self._thread.is_alive():
                future = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop)
                future.result(15)
        finally:
            if self._thread.is_alive():
                self.loop.call_soon_threadsafe(self.loop.stop)
                self._thread.join(10)
            if not self._thread.is_alive():
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.close()
            self._logger.removeHandler(self.capture)
            self._logger.setLevel(self._saved[0])
            self._logger.propagate = self._saved[1]
