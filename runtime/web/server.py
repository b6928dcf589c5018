"""``web.Server``: the low-level server, turning protocol events into handler calls.

It implements the protocol layer's ``RequestService``: it builds the request, runs the
handler, turns exceptions into responses, finishes the response and logs it. It also keeps
the set of open connections so that a graceful shutdown can reach them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from ..http.errors import HttpProcessingError
from ..http.message import RequestMessage
from ..http.parser import Limits
from ..http.writer import ResponseWriter
from ..server.config import ProtocolConfig, server_logger
from ..server.protocol import HttpProtocol
from ..server.streams import EMPTY_PAYLOAD, StreamReader
from .access_log import AbstractAccessLogger, AccessLogger, access_logger
from .exceptions import HTTPException, HTTPInternalServerError
from .request import BaseRequest
from .response import Response, StreamResponse

__all__ = ["Server"]

_RESPONSE_PREPARE = Response.prepare

# The handler receives what ``request_factory`` builds (a BaseRequest or a subclass).
Handler = Callable[[Any], Awaitable[StreamResponse]]
RequestFactory = Callable[..., BaseRequest]
ErrorHandler = Callable[[HttpProcessingError], Awaitable[StreamResponse]]


class Server:
    """Serve a handler coroutine ``async def handler(request) -> StreamResponse``.

    Calling the server returns a new :class:`HttpProtocol`, so it can be passed to
    ``loop.create_server`` as the protocol factory.

    Args:
        handler: the request handler.
        request_factory: builds the request object (``web.Request`` for applications).
        handler_cancellation: cancel a running handler when its client disconnects.
        error_handler: ``async def (error) -> StreamResponse``, the response to a request
            the protocol refused before any handler ran (400, 408, 414, 431, 505);
            ``error`` has ``status``, ``reason`` and ``message``. The default is a short
            plain-text body, also used when the hook raises. Applications pass it as
            ``Application(handler_args={"error_handler": ...})``.
        debug: show tracebacks in 500 responses.
        keepalive_timeout, max_line_size, max_field_size, max_headers, lingering_time,
        head_timeout, body_timeout, max_pipeline, server_header: connection settings.
        min_head_rate, min_body_rate, rate_window: the slowest a client may send a request
            head or body, in bytes per second over each ``rate_window`` seconds in which
            the server waits for it (0 turns one off); slower clients get 408 and a
            closed connection (docs/hardening.md).
        access_log_class, access_log, access_log_format: access logging (``access_log=None``
            turns it off).

    An exception whose ``berth_logged`` attribute is true was already logged, traceback
    included (``middlewares.access_logging`` marks the ones it logs): the server still
    answers 500 but does not log it again, and marks the ones it logs itself.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        request_factory: RequestFactory | None = None,
        handler_cancellation: bool = False,
        error_handler: ErrorHandler | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        debug: bool = False,
        client_max_size: int = 1024**2,
        keepalive_timeout: float = 75.0,
        max_line_size: int = 8190,
        max_field_size: int = 8190,
        max_headers: int = 100,
        head_timeout: float = 10.0,
        body_timeout: float | None = 60.0,
        min_head_rate: float = 500.0,
        min_body_rate: float = 500.0,
        rate_window: float = 5.0,
        max_pipeline: int = 16,
        lingering_time: float = 2.0,
        server_header: str | None = "Berth",
        shutdown_grace: float = 0.5,
        access_log_class: type[AbstractAccessLogger] = AccessLogger,
        access_log: logging.Logger | None = access_logger,
        access_log_format: str = AccessLogger.LOG_FORMAT,
        logger: logging.Logger = server_logger,
    ) -> None:
        for name, rate in (("min_head_rate", min_head_rate), ("min_body_rate", min_body_rate)):
            if rate < 0:
                raise ValueError(f"{name} must be >= 0 (0 turns it off), got {rate!r}")
        if rate_window <= 0:
            raise ValueError(f"rate_window must be > 0 seconds, got {rate_window!r}")
        self.request_handler = handler
        self.request_factory: RequestFactory = request_factory or BaseRequest
        self.error_handler = error_handler or self._default_error_response
        self._loop = loop
        self.debug = debug
        self.client_max_size = client_max_size
        self.logger = logger
        self.shutdown_grace = shutdown_grace
        self.config = ProtocolConfig(
            limits=Limits(max_line_size, max_field_size, max_headers),
            keepalive_timeout=keepalive_timeout,
            head_timeout=head_timeout,
            body_timeout=body_timeout,
            min_head_rate=min_head_rate,
            min_body_rate=min_body_rate,
            rate_window=rate_window,
            max_pipeline=max_pipeline,
            handler_cancellation=handler_cancellation,
            server_header=server_header,
            lingering_time=lingering_time,
            logger=logger,
        )
        self.access_logger: AbstractAccessLogger | None = (
            access_log_class(access_log, access_log_format) if access_log is not None else None
        )
        self.connections: set[HttpProtocol] = set()
        self.requests_count = 0
        self._all_closed: asyncio.Future[None] | None = None
        # Hooks the runner and workers use (max_requests, gunicorn's access log).
        self.on_request_done: Callable[[BaseRequest, StreamResponse, float], None] | None = None

    def __call__(self) -> HttpProtocol:
        return HttpProtocol(self, self.config, loop=self._loop)

    # -- RequestService -----------------------------------------------------------------

    def connection_made(self, conn: HttpProtocol) -> None:
        self.connections.add(conn)

    def connection_lost(self, conn: HttpProtocol) -> None:
        self.connections.discard(conn)
        waiter = self._all_closed
        if waiter is not None and not self.connections and not waiter.done():
            waiter.set_result(None)

    async def handle_request(
        self,
        conn: HttpProtocol,
        message: RequestMessage,
        payload: StreamReader,
        writer: ResponseWriter,
    ) -> None:
        loop = conn.loop
        timed = self.access_logger is not None or self.on_request_done is not None
        start = loop.time() if timed else 0.0
        self.requests_count += 1
        request = self.request_factory(
            message, payload, conn, writer, conn.task, loop, client_max_size=self.client_max_size
        )
        try:
            response = await self.request_handler(request)
        except HTTPException as exc:
            response = exc
        except HttpProcessingError as exc:
            response = await self._error_response(exc)
        except (ConnectionError, asyncio.CancelledError):
            raise  # the client is gone, or someone cancelled the handler on purpose
        except Exception as exc:
            response = self._internal_error(request, exc)
        else:
            if not isinstance(response, StreamResponse):
                self.logger.error(
                    "Handler for %s %s returned %r instead of a response",
                    message.method,
                    message.target,
                    type(response).__name__,
                )
                response = HTTPInternalServerError()
        try:
            if (
                response._writer is None
                and type(response).prepare is _RESPONSE_PREPARE
                and not response._compression
                and not request._needs_prepare_hook()
            ):
                # Fast path: a whole-body response and no on_response_prepare receivers;
                # the head and the body leave in one write without awaiting anything.
                try:
                    response._send(request)  # type: ignore[attr-defined]
                except ValueError as exc:
                    response = self._internal_error(request, exc)
                    await self._finish(request, response)
            else:
                await self._finish(request, response)
        finally:
            # Uploaded files live as long as the handler; aiohttp closes them here too.
            if "post" in request._cache:
                request._close_uploads()
        if timed:
            elapsed = loop.time() - start
            if self.access_logger is not None and self.access_logger.enabled:
                self.access_logger.log(request, response, elapsed)
            if self.on_request_done is not None:
                self.on_request_done(request, response, elapsed)

    async def _finish(self, request: BaseRequest, response: StreamResponse) -> None:
        if response._eof_sent:
            return
        if response.prepared:
            await response.write_eof()
            return
        try:
            await response.prepare(request)
            await response.write_eof()
        except ValueError as exc:
            # An invalid head (CR/LF in a header): nothing was sent yet, answer 500.
            response = self._internal_error(request, exc)
            await response.prepare(request)
            await response.write_eof()

    def _internal_error(self, request: BaseRequest, exc: BaseException) -> StreamResponse:
        if not getattr(exc, "berth_logged", False):
            self.logger.error(
                "Error handling request %s %s", request.method, request.raw_path, exc_info=exc
            )
            with contextlib.suppress(AttributeError):  # so the protocol does not repeat it
                exc.berth_logged = True  # type: ignore[attr-defined]
        if request.writer.head_sent:
            request.writer.force_close()
            raise exc  # headers are out: the protocol closes the connection
        if self.debug:
            tb = escape("".join(traceback.format_exception(exc)))
            return HTTPInternalServerError(
                text=f"<h1>500 Internal Server Error</h1><pre>{tb}</pre>",
                content_type="text/html",
            )
        return HTTPInternalServerError()

    async def handle_error(
        self, conn: HttpProtocol, error: HttpProcessingError, writer: ResponseWriter
    ) -> None:
        start = conn.loop.time()
        response = await self._error_response(error)
        request = BaseRequest(writer.message, EMPTY_PAYLOAD, conn, writer, None, conn.loop)
        writer.force_close()
        await self._finish(request, response)
        if self.on_request_done is not None:
            # Refused requests count too: access logs and metrics see the 400s and 431s.
            self.on_request_done(request, response, conn.loop.time() - start)

    async def _error_response(self, error: HttpProcessingError) -> StreamResponse:
        """The ``error_handler``'s response; the default one if that hook fails, so a
        broken hook still answers the client rather than dropping the connection."""
        try:
            response = await self.error_handler(error)
        except Exception:
            self.logger.exception("error_handler failed for %r", error)
        else:
            if isinstance(response, StreamResponse):
                return response
            self.logger.error("error_handler returned %r instead of a response", response)
        return await self._default_error_response(error)

    @staticmethod
    async def _default_error_response(error: HttpProcessingError) -> StreamResponse:
        return Response(
            status=error.status, text=f"{error.status} {error.reason}: {error.message}\n"
        )

    # -- shutdown -----------------------------------------------------------------------

    def pre_shutdown(self) -> None:
        """Mark every connection as closing: responses from now on carry ``Connection: close``."""
        for conn in list(self.connections):
            conn.shutdown(self.shutdown_grace)

    async def shutdown(self, timeout: float | None = None) -> None:
        """Close idle connections, let in-flight requests finish, then cancel what is left."""
        self.pre_shutdown()
        if self.connections:
            loop = asyncio.get_running_loop()
            self._all_closed = waiter = loop.create_future()
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                pass
            finally:
                self._all_closed = None
        for conn in list(self.connections):
            conn.abort()
        await asyncio.sleep(0)
