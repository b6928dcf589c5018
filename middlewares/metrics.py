"""Prometheus metrics by route template, true under several gunicorn workers.

Two parts (docs/middlewares/metrics.md):

* :func:`metrics_middleware`: per request, by route template (``/users/{id}``, never the
  raw path), the OpenTelemetry HTTP server metrics in Prometheus form:
  ``http_server_request_duration_seconds``, ``http_server_active_requests``,
  ``http_server_request_body_size_bytes`` and ``http_server_response_body_size_bytes``;
  and ``http_server_open_websockets``.
* :func:`metrics_handler`: the ``/metrics`` handler. It renders in a thread (reading the
  multiprocess files and rendering are blocking work), and when ``PROMETHEUS_MULTIPROC_DIR``
  is set, from every worker's files through a fresh ``MultiProcessCollector`` per scrape,
  so that whichever worker answers the scrape, the numbers are the whole server's.

prometheus_client is the optional extra ``berth[prometheus]``.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Gauge, Histogram
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector
except ImportError as exc:
    raise ImportError(
        "middlewares.metrics needs prometheus_client: pip install berth[prometheus]"
    ) from exc

from runtime import web

from ._http_labels import (
    DURATION_BUCKETS,
    OTHER_METHOD,
    is_websocket_upgrade,
    method_label,
    route_template,
)

__all__ = [
    "DURATION_BUCKETS",
    "MULTIPROC_ENV",
    "OTHER_METHOD",
    "SIZE_BUCKETS",
    "UNMATCHED_ROUTE",
    "HttpMetrics",
    "child_exit",
    "default_metrics",
    "metrics_handler",
    "metrics_middleware",
    "on_starting",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

#: The environment variable that turns prometheus_client's multiprocess mode on. It must be
#: set before prometheus_client is first imported (gunicorn's environment, not the app).
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"
#: ``http_route`` of requests no route matched (404, 405): one value, whatever the path.
UNMATCHED_ROUTE: Final = "(unmatched)"
#: Body sizes: powers of 4 from 64 B to 64 MiB.
SIZE_BUCKETS: Final = tuple(float(64 * 4**i) for i in range(11))
#: Status label of a request whose client went away before it was answered (as nginx logs).
CLIENT_CLOSED_REQUEST: Final = 499

_LABELS = ("http_request_method", "http_route", "http_response_status_code")


class HttpMetrics:
    """The HTTP server metrics, registered once in ``registry``.

    One instance per registry: prometheus_client refuses a second metric of the same name.
    Tests and apps that want their own registry make their own instance; everyone else
    shares :func:`default_metrics`.
    """

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self.duration = Histogram(
            "http_server_request_duration_seconds",
            "Time spent in the handler chain below the middleware.",
            _LABELS,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.active = Gauge(
            "http_server_active_requests",
            "Requests being handled or answered right now.",
            ("http_request_method",),
            registry=registry,
            multiprocess_mode="livesum",  # a dead worker's requests are no longer active
        )
        self.request_size = Histogram(
            "http_server_request_body_size_bytes",
            "Request body sizes, from Content-Length (chunked bodies are not counted).",
            _LABELS,
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.response_size = Histogram(
            "http_server_response_body_size_bytes",
            "Response body bytes sent.",
            _LABELS,
            buckets=SIZE_BUCKETS,
            registry=registry,
        )
        self.websockets = Gauge(
            "http_server_open_websockets",
            "WebSockets between their 101 and the end of their handler.",
            ("http_route",),
            registry=registry,
            multiprocess_mode="livesum",
        )
        # The labelled children, found once per label set: prometheus_client's labels()
        # takes a lock and builds a key on every call, which a request should not pay for.
        # Bounded like prometheus_client's own map: methods x routes x statuses.
        self._children: dict[tuple[str, str, str], tuple[Any, Any, Any]] = {}
        self._active: dict[str, Any] = {}

    def children(self, labels: tuple[str, str, str]) -> tuple[Any, Any, Any]:
        """The duration, request size and response size children for ``labels``."""
        found = self._children.get(labels)
        if found is None:
            found = self._children[labels] = (
                self.duration.labels(*labels),
                self.request_size.labels(*labels),
                self.response_size.labels(*labels),
            )
        return found

    def active_for(self, method: str) -> Any:
        """The active-requests gauge child for ``method``."""
        found = self._active.get(method)
        if found is None:
            found = self._active[method] = self.active.labels(method)
        return found


_default: HttpMetrics | None = None


def default_metrics() -> HttpMetrics:
    """The :class:`HttpMetrics` of prometheus_client's default registry, made on first use."""
    global _default  # noqa: PLW0603 - one set of metrics per process, made lazily
    if _default is None:
        _default = HttpMetrics()
    return _default


def _route(request: web.Request) -> str:
    return route_template(request) or UNMATCHED_ROUTE


def _request_size(request: web.Request) -> int | None:
    """The body's size when the head says it: Content-Length, or none at all (RFC 9112
    6.3: no Content-Length and no Transfer-Encoding is an empty body)."""
    length = request.content_length
    if length is not None:
        return length
    return None if "Transfer-Encoding" in request.headers else 0


class _Recorder:
    """One request's labels and start time; :meth:`finish` records it once.

    Everything but an unknown response size is recorded before the server writes the
    response, so a client that has its answer finds it counted in the very next scrape,
    whichever worker answers that. A WebSocket's request is recorded when its 101 goes out
    (:meth:`on_prepare`): from then on it is an open socket, not an active request.
    """

    __slots__ = ("head", "method", "metrics", "route", "size", "start", "upgraded")

    def __init__(self, metrics: HttpMetrics, request: web.Request, start: float) -> None:
        self.metrics = metrics
        self.method = method_label(request)
        self.head = request.method == "HEAD"
        self.route = _route(request)
        self.size = _request_size(request)
        self.start = start
        self.upgraded = False

    def record(self, status: int | None, response: object) -> None:
        metrics = self.metrics
        labels = (self.method, self.route, str(status if status is not None else 500))
        duration, request_size, response_size = metrics.children(labels)
        duration.observe(time.perf_counter() - self.start)
        metrics.active_for(self.method).dec()
        if self.size is not None:
            request_size.observe(self.size)
        if not isinstance(response, web.StreamResponse):
            return
        sent = self._body_size(response)
        if sent is not None:
            response_size.observe(sent)
            return
        # Not known before it is sent (a file, a stream of unknown length): measured once
        # the server has written it, from a done-callback of the request's task.
        task = asyncio.current_task()
        if task is not None and not task.done():
            task.add_done_callback(partial(self._late_size, labels, response))

    def _body_size(self, response: web.StreamResponse) -> int | None:
        if response.prepared:  # streamed by the handler: every byte is written already
            return response.body_length
        if self.head or response.status in (204, 304):
            return 0
        return response.content_length

    def _late_size(
        self, labels: tuple[str, str, str], response: web.StreamResponse, _task: object
    ) -> None:
        self.metrics.children(labels)[2].observe(response.body_length)

    async def on_prepare(self, response: web.StreamResponse) -> None:
        if response.status == 101 and not self.upgraded:
            self.upgraded = True
            self.record(101, None)
            self.metrics.websockets.labels(self.route).inc()

    def finish(self, response: object, status: int | None) -> None:
        if self.upgraded:
            self.metrics.websockets.labels(self.route).dec()
            return
        if isinstance(response, web.StreamResponse):
            status = response.status
        self.record(status, response)


def metrics_middleware(*, metrics: HttpMetrics | None = None) -> Middleware:
    """A middleware recording every request in the HTTP server metrics.

    Labels: ``http_request_method`` (methods outside the standard nine become ``_OTHER``),
    ``http_route`` (the matched resource's template, ``/users/{id}``; ``(unmatched)`` when
    no route matched) and ``http_response_status_code``. A returned or raised response
    counts with its status; any other exception counts as 500 and is re-raised; a client
    that went away (cancellation, ``ConnectionError``) counts as 499. A WebSocket handshake
    counts as 101 when the 101 goes out; the socket is then in ``http_server_open_websockets``
    until its handler returns.

    A request is recorded when the handler chain below returns (or raises), before the
    server writes the response: the duration is the time spent in that chain, and a client
    holding its answer finds it counted in the next scrape. Put the middleware first in the
    list, so that it times the others too and sees the final response.

    Args:
        metrics: where to record; default :func:`default_metrics` (prometheus_client's
            default registry, which :func:`metrics_handler` renders).

    Returns:
        The middleware.
    """
    chosen = metrics if metrics is not None else default_metrics()
    clock = time.perf_counter

    @web.middleware
    async def record_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        recorder = _Recorder(chosen, request, clock())
        chosen.active_for(recorder.method).inc()
        if is_websocket_upgrade(request):
            request.add_prepare_hook(recorder.on_prepare)
        response: object = None
        status: int | None = None
        try:
            result = await handler(request)
        except web.HTTPException as exc:
            response = exc  # a raised response: the server sends it as is
            raise
        except (asyncio.CancelledError, ConnectionError):
            status = CLIENT_CLOSED_REQUEST
            raise
        except Exception:
            status = 500
            raise
        else:
            response = result
            if not isinstance(result, web.StreamResponse):
                status = 500  # not a response: the server refuses it and answers 500
            return result
        finally:
            recorder.finish(response, status)

    return record_metrics


def _render(registry: CollectorRegistry | None, accept: str) -> tuple[bytes, str]:
    """The exposition, in the format the scraper asked for (runs in a thread)."""
    encoder, content_type = choose_encoder(accept)
    if os.environ.get(MULTIPROC_ENV):
        # Every worker's files, read afresh: the numbers are the server's, not one worker's.
        fresh = CollectorRegistry()
        MultiProcessCollector(fresh)  # type: ignore[no-untyped-call]
        return encoder(fresh), content_type
    return encoder(registry if registry is not None else REGISTRY), content_type


def metrics_handler(*, registry: CollectorRegistry | None = None) -> Handler:
    """A handler for ``GET /metrics``: ``app.router.add_get("/metrics", metrics_handler())``.

    With ``PROMETHEUS_MULTIPROC_DIR`` set, it renders the sum of every worker's files
    (``registry`` is then not used); otherwise ``registry`` (default: prometheus_client's
    default registry, with the process and platform collectors). Rendering runs in the
    loop's default executor, never on the event loop. The text or OpenMetrics format and
    the content type follow the scraper's ``Accept``, as prometheus_client decides.

    Args:
        registry: what to render in single-process mode.

    Returns:
        The handler.
    """

    async def metrics(request: web.Request) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        accept = request.headers.get("Accept", "")
        body, content_type = await loop.run_in_executor(None, _render, registry, accept)
        return web.Response(body=body, headers={"Content-Type": content_type})

    return metrics


# -- gunicorn hooks: ``from middlewares.metrics import child_exit, on_starting`` in a config ---


def on_starting(server: object) -> None:
    """gunicorn's ``on_starting`` hook: begin with an empty multiprocess directory (the
    files of a previous run would be summed with this one's)."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        os.makedirs(path, exist_ok=True)
        for entry in os.scandir(path):
            if entry.name.endswith(".db"):
                os.remove(entry.path)


def child_exit(server: object, worker: object) -> None:
    """gunicorn's ``child_exit`` hook: drop a dead worker's live gauges (its counters and
    histograms stay, and keep being summed)."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess  # noqa: PLC0415 - only in multiprocess mode

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined,no-untyped-call]
