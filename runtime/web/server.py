"""``web.Server``: the low-level server, turning protocol events into handler calls.

It implements the protocol layer's ``RequestService``: it builds the request, runs the
handler, turns exceptions into responses, finishes the response and logs it. It also keeps
the set of open connections so that a graceful shutdown can reach them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

from ..http.errors import HttpProcessingError
from ..http.message import RequestMessage
from ..http.parser import Limits
from ..http.writer import ResponseWriter
from ..server.config import ProtocolConfig, server_logger
from ..server.protocol import HttpProtocol
from ..server.streams import EMPTY_PAYLOAD, StreamReader
from .access_log import AbstractAccessLogger, AccessLogger, access_logger
from .decoded_body import DecodedBody, decode_request_body
from .error_page import internal_error_page
from .exceptions import HTTPException, HTTPGatewayTimeout, HTTPInternalServerError
from .foreign import as_http_exception
from .request import PLAIN_REQUEST_CLASSES, BaseRequest
from .response import Response, StreamResponse

__all__ = ["Server"]

_RESPONSE_PREPARE = Response.prepare

# The handler receives what ``request_factory`` builds (a BaseRequest or a subclass).
Handler = Callable[[Any], Awaitable[StreamResponse]]
RequestFactory = Callable[..., BaseRequest]
ErrorHandler = Callable[[HttpProcessingError], Awaitable[StreamResponse]]


def _closing(factory: RequestFactory) -> RequestFactory:
    """``factory``, with each request's connection closed once it is answered."""

    def make(
        message: RequestMessage, payload: Any, conn: Any, writer: Any, *args: Any, **kw: Any
    ) -> BaseRequest:
        writer.force_close()
        return factory(message, payload, conn, writer, *args, **kw)

    return make


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
        client_max_size, client_max_fields: what ``request.read()`` and ``post()`` accept
            (413 above; the application passes its own).
        auto_decompress: hand the handler request bodies sent with one ``Content-Encoding``
            we decode (gzip, deflate, br with brotli) decoded, without that header and
            ``Content-Length``, and refused with 413 past ``client_max_size`` decoded bytes
            (a compression bomb stops there); ``False`` leaves them as sent.
        read_bufsize: unread request body bytes buffered before reading from the socket
            pauses (backpressure).
        tcp_keepalive: turn TCP keep-alive probes on for each accepted TCP connection
            (``SO_KEEPALIVE``), so a peer that vanished without a FIN is noticed.
        timeout_ceil_threshold: accepted for aiohttp code; our timers are not rounded, so
            it changes nothing (docs/web-api.md).
        keepalive_timeout, max_line_size, max_field_size, max_headers, lingering_time,
        head_timeout, body_timeout, max_pipeline, server_header: connection settings;
            ``keepalive_timeout=0`` turns keep-alive off (each answer closes), as in aiohttp.
        min_head_rate, min_body_rate, rate_window: the slowest a client may send a request
            head or body, in bytes per second over each ``rate_window`` seconds in which
            the server waits for it (0 turns one off); slower clients get 408 and a
            closed connection (docs/hardening.md).
        send_timeout: how long a client may keep the server's writes blocked (its buffers
            full) without reading anything; any progress restarts it. Then its connection
            is aborted, and a handler waiting to write gets ``ConnectionResetError``. 60 s,
            nginx's ``send_timeout``; ``None`` or 0 turns it off (docs/hardening.md).
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
        client_max_fields: int = 1000,
        auto_decompress: bool = True,
        read_bufsize: int = 2**16,
        tcp_keepalive: bool = True,
        timeout_ceil_threshold: float = 5,
        keepalive_timeout: float = 75.0,
        max_line_size: int = 8190,
        max_field_size: int = 8190,
        max_headers: int = 100,
        head_timeout: float = 10.0,
        body_timeout: float | None = 60.0,
        min_head_rate: float = 500.0,
        min_body_rate: float = 500.0,
        rate_window: float = 5.0,
        send_timeout: float | None = 60.0,
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
        if send_timeout is not None and send_timeout < 0:
            raise ValueError(f"send_timeout must be >= 0 (0 turns it off), got {send_timeout!r}")
        if read_bufsize <= 0:
            raise ValueError(f"read_bufsize must be > 0 bytes, got {read_bufsize!r}")
        self.request_handler = handler
        self.request_factory: RequestFactory = request_factory or BaseRequest
        factory = self.request_factory
        self._positional_factory = factory if factory in PLAIN_REQUEST_CLASSES else None
        if not keepalive_timeout:
            # Keep-alive off, as aiohttp (and gunicorn's --keep-alive 0) mean it: every answer
            # says Connection: close. Wrapped here, so serving with keep-alive costs nothing.
            self.request_factory = _closing(self.request_factory)
        self.error_handler = error_handler or self._default_error_response
        self._loop = loop
        self.debug = debug
        self.client_max_size = client_max_size
        self.client_max_fields = client_max_fields
        self.auto_decompress = auto_decompress
        self.tcp_keepalive = tcp_keepalive
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
            send_timeout=send_timeout,
            max_pipeline=max_pipeline,
            handler_cancellation=handler_cancellation,
            server_header=server_header,
            lingering_time=lingering_time,
            read_high_water=read_bufsize,
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
        if self.tcp_keepalive:
            _keep_alive_probes(conn)

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
        decoded = None
        if payload is not EMPTY_PAYLOAD:
            message, payload, decoded = self._decoding(message, payload)
        factory, size, fields = self.request_factory, self.client_max_size, self.client_max_fields
        if factory is self._positional_factory:  # (by position: see PLAIN_REQUEST_CLASSES)
            request = factory(message, payload, conn, writer, conn.task, loop, size, fields)
        else:  # a factory of the application's own gets them by keyword, as in aiohttp
            limits = {"client_max_size": size, "client_max_fields": fields}
            request = factory(message, payload, conn, writer, conn.task, loop, **limits)
        try:
            response = await self.request_handler(request)
        except HTTPException as exc:
            response = exc
        except (ConnectionError, asyncio.CancelledError):
            if decoded is not None:
                decoded.close()
            raise  # the client is gone, or someone cancelled the handler on purpose
        except Exception as exc:
            response = await self._handler_failed(request, exc)
        else:
            if type(response) is not Response:  # the usual answer needs no closer look
                response = self._returned(message, response)
        try:
            sent = False
            if (
                response._writer is None
                and type(response).prepare is _RESPONSE_PREPARE
                and not response._compression
                and not request._needs_prepare_hook()
            ):
                # Fast path: a whole-body response and no on_response_prepare receivers;
                # the head and the body leave in one write without awaiting anything.
                try:
                    sent = response._send(request)  # type: ignore[attr-defined]
                except ValueError as exc:  # an invalid head: nothing was sent, answer 500
                    response = self._internal_error(request, exc)
            if not sent:
                await self._finish(request, response)  # (a streamed body takes awaiting)
        finally:
            # Uploaded files live as long as the handler; aiohttp closes them here too.
            if "post" in request._cache:
                request._close_uploads()
            if decoded is not None:
                decoded.close()
        if timed:
            self._report(request, response, loop.time() - start)

    def _report(self, request: BaseRequest, response: StreamResponse, elapsed: float) -> None:
        """The access log line and the ``on_request_done`` hook of one answered request."""
        if self.access_logger is not None and self.access_logger.enabled:
            self.access_logger.log(request, response, elapsed)
        if self.on_request_done is not None:
            self.on_request_done(request, response, elapsed)

    def _returned(self, message: RequestMessage, response: Any) -> StreamResponse:
        """What a handler returned, unless it is a plain ``Response``: a 500 for anything
        but a response, and a warning for a returned ``HTTPException``."""
        if not isinstance(response, StreamResponse):
            self.logger.error(
                "Handler for %s %s returned %r instead of a response",
                message.method,
                message.target,
                type(response).__name__,
            )
            return HTTPInternalServerError()
        if isinstance(response, HTTPException):
            # aiohttp #2415: an exception is raised; returned, it skips the handling
            # middlewares give raised ones.
            warnings.warn(
                f"Returning an HTTPException ({type(response).__name__}) from a handler "
                f"is deprecated: raise it instead (raise web.{type(response).__name__}"
                "(...))",
                DeprecationWarning,
                stacklevel=1,
            )
        return response

    async def _handler_failed(self, request: BaseRequest, exc: Exception) -> StreamResponse:
        """The response to an exception the handler let escape."""
        if isinstance(exc, HttpProcessingError):
            return await self._error_response(exc)  # a malformed body the handler read
        if isinstance(exc, TimeoutError):
            return self._timeout_response(request, exc)
        foreign = as_http_exception(exc)  # aiohttp's own, raised by an extension
        if foreign is not None:
            return foreign
        return self._internal_error(request, exc)

    def _decoding(
        self, message: RequestMessage, payload: StreamReader
    ) -> tuple[RequestMessage, StreamReader, DecodedBody | None]:
        """The message and body the handler sees for a request with a body (the caller
        checks): decoded when ``auto_decompress`` is on and the body has a coding we decode
        (:func:`decode_request_body`)."""
        if self.auto_decompress:
            found = decode_request_body(message, payload, self.client_max_size)
            if found is not None:
                return found[0], found[1].stream, found[1]
        return message, payload, None

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
            # aiohttp's call, word for word and argument for argument: code and tests written
            # for aiohttp match on it (the access log line of the same request has its
            # method and path).
            self.logger.exception("Error handling request from %s", request.remote, exc_info=exc)
            with contextlib.suppress(AttributeError):  # so the protocol does not repeat it
                exc.berth_logged = True  # type: ignore[attr-defined]
        if request.writer.head_sent:
            request.writer.force_close()
            raise exc  # headers are out: the protocol closes the connection
        return internal_error_page(request.headers, exc, self.debug)

    def _timeout_response(self, request: BaseRequest, exc: TimeoutError) -> StreamResponse:
        """504 for a handler's ``asyncio.TimeoutError``, as aiohttp answers it: what the
        handler waited for (an upstream call, a database) did not answer in time."""
        self.logger.debug("Request handler timed out.", exc_info=exc)  # aiohttp's words
        if request.writer.head_sent:
            request.writer.force_close()
            raise exc  # headers are out: the protocol closes the connection
        return HTTPGatewayTimeout()

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


def _keep_alive_probes(conn: HttpProtocol) -> None:
    """``SO_KEEPALIVE`` on a TCP connection (aiohttp's ``tcp_keepalive``); other sockets
    (Unix, socketpairs) have no such probes."""
    transport = conn.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    with contextlib.suppress(OSError):  # the peer may already be gone
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
