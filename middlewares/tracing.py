"""OpenTelemetry traces from a middleware of our own: nothing is monkeypatched, so every
application gets spans, however and whenever it was built (docs/middlewares/tracing.md).

One SERVER span per request, named ``"{METHOD} {route}"`` after the route *template*
(``GET /users/{id}``, never the raw path), continuing the trace of an incoming W3C
``traceparent``/``tracestate`` (through OpenTelemetry's global propagator), with the HTTP
semantic-convention attributes. An exception is recorded on the span and makes it an error,
and so does a 5xx answer (a 4xx is the client's error, not the server's). A WebSocket's
handshake span ends when the 101 goes out; the session gets a span of its own, linked to
it, so a long session does not make a long request. While a request runs, its trace and
span ids are bound into structlog's context, so every log line of the request (the access
log included) carries them. The request duration is also recorded as the
``http.server.request.duration`` histogram on the meter provider, when there is one.

Install the extra: ``pip install berth[otel]``. Set up the providers (exporters, batch
processors) after gunicorn forks, in ``post_fork``: a batch processor's thread does not
survive a fork.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import structlog

from runtime import web
from runtime.http.grammar import displayed_field_value

from ._http_labels import (
    DURATION_BUCKETS,
    OTHER_METHOD,
    is_websocket_upgrade,
    method_label,
    route_template,
)

try:
    from opentelemetry import context as otel_context
    from opentelemetry import metrics, propagate, trace
    from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ImportError("middlewares.tracing needs OpenTelemetry: pip install 'berth[otel]'") from exc

__all__ = ["SPAN_ID_KEY", "TRACE_ID_KEY", "tracing_middleware"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

#: ``request[TRACE_ID_KEY]`` and ``request[SPAN_ID_KEY]``: the server span's ids, in hex, while
#: the request is handled (the gunicorn worker's access line finds them by name).
TRACE_ID_KEY: Final = web.RequestKey("trace_id", str)
SPAN_ID_KEY: Final = web.RequestKey("span_id", str)

_SCOPE: Final = "berth"


def tracing_middleware(
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> Middleware:
    """A middleware that traces every request.

    Args:
        tracer_provider: where the spans go; OpenTelemetry's global provider by default.
        meter_provider: where ``http.server.request.duration`` goes; the global one by
            default (a no-op until one is set).

    Returns:
        The middleware, for ``web.Application(middlewares=[...])``.
    """
    tracer = trace.get_tracer(_SCOPE, tracer_provider=tracer_provider)
    duration = metrics.get_meter(_SCOPE, meter_provider=meter_provider).create_histogram(
        "http.server.request.duration",
        unit="s",
        description="Duration of HTTP server requests.",
        explicit_bucket_boundaries_advisory=list(DURATION_BUCKETS),
    )

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        method = method_label(request)
        route = route_template(request)
        parent = propagate.extract(request.headers)
        span = tracer.start_span(
            f"{method} {route}" if route else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=_request_attributes(request, method, route),
        )
        session = _Session(tracer, span, route)
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        ids = span.get_span_context()
        trace_id, span_id = format(ids.trace_id, "032x"), format(ids.span_id, "016x")
        bound = structlog.contextvars.bind_contextvars(trace_id=trace_id, span_id=span_id)
        # Also on the request: gunicorn's access line is written after this context is
        # gone, and reads them there (runtime.workers.logconfig).
        request[TRACE_ID_KEY], request[SPAN_ID_KEY] = trace_id, span_id
        if is_websocket_upgrade(request):
            request.add_prepare_hook(session.on_prepare)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except BaseException as exc:
            session.fail(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            session.end(status)
            structlog.contextvars.reset_contextvars(**bound)
            otel_context.detach(token)
            attributes: dict[str, Any] = {
                "http.request.method": method,
                "http.response.status_code": status,
                "url.scheme": request.scheme,
            }
            if route:
                attributes["http.route"] = route
            if status >= 500:
                attributes["error.type"] = str(status)
            duration.record(elapsed, attributes)

    return middleware


class _Session:
    """The request's span, and for a WebSocket the session span that follows its 101."""

    __slots__ = ("current", "failed", "handshake", "route", "tracer")

    def __init__(self, tracer: trace.Tracer, span: Span, route: str | None) -> None:
        self.tracer = tracer
        self.handshake = span
        self.current = span
        self.route = route
        self.failed = False

    def fail(self, exc: BaseException) -> None:
        """The handler raised: record it on the span that was running."""
        self.failed = True
        self.current.record_exception(exc)
        self.current.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        self.current.set_attribute("error.type", type(exc).__qualname__)

    async def on_prepare(self, response: web.StreamResponse) -> None:
        if response.status != 101 or self.current is not self.handshake:
            return
        # The handshake is answered: its span ends here, and the session gets its own,
        # linked to it, that lasts until the handler returns.
        self.handshake.set_attribute("http.response.status_code", 101)
        self.handshake.end()
        name = f"WebSocket {self.route}" if self.route else "WebSocket"
        self.current = self.tracer.start_span(
            name,
            kind=SpanKind.SERVER,
            links=[Link(self.handshake.get_span_context())],
            attributes={"network.protocol.name": "websocket"},
        )

    def end(self, status: int) -> None:
        span = self.current
        if span is self.handshake:
            span.set_attribute("http.response.status_code", status)
            if status >= 500 and not self.failed:
                # RFC 9110 15.6: the server failed. A 4xx is the client's error and leaves
                # a server span unset (OpenTelemetry's HTTP semantic conventions).
                span.set_status(Status(StatusCode.ERROR))
                span.set_attribute("error.type", str(status))
        span.end()


def _request_attributes(request: web.Request, method: str, route: str | None) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.scheme": request.scheme,
        "url.path": request.path,
        "network.protocol.version": f"{request.version.major}.{request.version.minor}",
    }
    if method == OTHER_METHOD:
        attributes["http.request.method_original"] = request.method
    if route:
        attributes["http.route"] = route
    if request.query_string:
        attributes["url.query"] = request.query_string
    host, _, port = request.host.rpartition(":")
    if host and port.isdigit():
        attributes["server.address"] = host.strip("[]")
        attributes["server.port"] = int(port)
    else:
        attributes["server.address"] = displayed_field_value(request.host)
    if request.remote:
        # The client as the trusted proxy chain names it (middlewares.proxy sets remote).
        attributes["client.address"] = request.remote
    user_agent = request.headers.get("User-Agent")
    if user_agent:
        # An octet that is not UTF-8 as \xNN: exporters send attributes as UTF-8 strings
        # (UTF-8 has no encoding for a lone surrogate).
        attributes["user_agent.original"] = displayed_field_value(user_agent)
    return attributes
