"""Prometheus metrics by route template, true under several gunicorn workers.

Three parts (docs/middlewares/metrics.md):

* :func:`metrics_middleware`: per request, by route template (``/users/{id}``, never the
  raw path), the OpenTelemetry HTTP server metrics in Prometheus form:
  ``http_server_request_duration_seconds``, ``http_server_active_requests``,
  ``http_server_request_body_size_bytes`` and ``http_server_response_body_size_bytes``;
  ``http_server_open_websockets`` and ``http_server_websocket_messages_total``.
* :func:`metrics_handler`: the ``/metrics`` handler. It renders in a thread (reading the
  multiprocess files and rendering are blocking work), and when ``PROMETHEUS_MULTIPROC_DIR``
  is set, from every worker's files through a fresh ``MultiProcessCollector`` per scrape,
  so that whichever worker answers the scrape, the numbers are the whole server's.
* :func:`track_cluster`: the ``runtime.cluster`` hub's counters as ``berth_cluster_*``.

And the gunicorn hooks :func:`on_starting` and :func:`child_exit` that keep the multiprocess
directory right and bounded (``middlewares/_multiproc_files.py``).

prometheus_client is the optional extra ``berth[prometheus]``.
"""

from __future__ import annotations

import asyncio
import os
import struct
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final

try:
    from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.exposition import choose_encoder
    from prometheus_client.multiprocess import MultiProcessCollector
except ImportError as exc:
    raise ImportError(
        "middlewares.metrics needs prometheus_client: pip install berth[prometheus]"
    ) from exc

from runtime import web

from ._cluster_metrics import ClusterMetrics, default_cluster_metrics, track_cluster
from ._histogram_tally import tally_for
from ._http_labels import (
    DURATION_BUCKETS,
    OTHER_METHOD,
    STANDARD_METHODS,
    is_websocket_upgrade,
    route_template,
)
from ._multiproc_files import MULTIPROC_ENV, child_exit, directory_lock, on_starting
from ._pass_batch import Batch, CounterDelta, GaugeDelta, Pending

__all__ = [
    "DURATION_BUCKETS",
    "MULTIPROC_ENV",
    "OTHER_METHOD",
    "SIZE_BUCKETS",
    "UNMATCHED_ROUTE",
    "ClusterMetrics",
    "HttpMetrics",
    "child_exit",
    "default_cluster_metrics",
    "default_metrics",
    "metrics_handler",
    "metrics_middleware",
    "on_starting",
    "track_cluster",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]

#: ``http_route`` of requests no route matched (404, 405): one value, whatever the path.
UNMATCHED_ROUTE: Final = "(unmatched)"
#: Body sizes: powers of 4 from 64 B to 64 MiB.
SIZE_BUCKETS: Final = tuple(float(64 * 4**i) for i in range(11))
#: Status label of a request whose client went away before it was answered (as nginx logs).
CLIENT_CLOSED_REQUEST: Final = 499

# Reads of the multiprocess files while a new worker creates its own: retried for 0.5 s.
_RENDER_ATTEMPTS: Final = 10
_RENDER_RETRY_PAUSE: Final = 0.05

_LABELS = ("http_request_method", "http_route", "http_response_status_code")


class _Series(Pending):
    """One label set's duration and body sizes, tallied until the next flush.

    ``durations``, ``request_sizes`` and ``response_sizes`` are the tallies' value lists: a
    request appends to them, with no Python call of ours in between.
    """

    __slots__ = ("durations", "request_sizes", "response_sizes", "tallies")

    def __init__(self, duration: Any, request_size: Any, response_size: Any) -> None:
        super().__init__()
        self.tallies = (tally_for(duration), tally_for(request_size), tally_for(response_size))
        self.durations = self.tallies[0].values
        self.request_sizes = self.tallies[1].values
        self.response_sizes = self.tallies[2].values

    def write(self) -> None:
        for tally in self.tallies:
            tally.flush()


class HttpMetrics:
    """The HTTP server metrics, registered once in ``registry``.

    One instance per registry: prometheus_client refuses a second metric of the same name.
    Tests and apps that want their own registry make their own instance; everyone else
    shares :func:`default_metrics`. Requests are recorded into plain Python tallies and
    written into prometheus_client once per event-loop pass (``middlewares/_pass_batch.py``).
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
        self.websocket_messages = Counter(
            "http_server_websocket_messages",
            "TEXT and BINARY WebSocket messages received from and sent to clients.",
            ("http_route", "direction"),
            registry=registry,
        )
        # Found once per label set: prometheus_client's labels() takes a lock and builds a
        # key on every call. Bounded like prometheus_client's own map: methods x routes x
        # statuses.
        self._series: dict[tuple[str, str, int], _Series] = {}
        # The same, found from the matched route object (None: no route matched), which
        # spares a request the walk to its resource's template.
        self._by_route: dict[tuple[str, int, object], _Series] = {}
        self._active: dict[str, GaugeDelta] = {}
        self._messages: dict[tuple[str, str], CounterDelta] = {}

    def series(self, method: str, route: str, status: int) -> _Series:
        """The tallies of the duration and body sizes of one label set."""
        key = (method, route, status)
        found = self._series.get(key)
        if found is None:
            labels = (method, route, str(status))
            found = self._series[key] = _Series(
                self.duration.labels(*labels),
                self.request_size.labels(*labels),
                self.response_size.labels(*labels),
            )
        return found

    def add_route_series(self, key: tuple[str, int, object], request: web.Request) -> _Series:
        """The tallies of ``request``'s label set under ``key`` (method, status, matched
        route object or None), the first time ``_by_route`` is asked for it."""
        method, status, _ = key
        template = route_template(request) or UNMATCHED_ROUTE
        found = self._by_route[key] = self.series(method, template, status)
        return found

    def active_for(self, method: str) -> GaugeDelta:
        """The pending change of the active-requests gauge for ``method``."""
        found = self._active.get(method)
        if found is None:
            found = self._active[method] = GaugeDelta(self.active.labels(method))
        return found

    def messages_for(self, route: str, direction: str) -> CounterDelta:
        """The pending count of WebSocket messages of ``route`` in ``direction``."""
        key = (route, direction)
        found = self._messages.get(key)
        if found is None:
            child = self.websocket_messages.labels(route, direction)
            found = self._messages[key] = CounterDelta(child)
        return found

    def flush(self) -> None:
        """Write what every :class:`HttpMetrics` of this process has pending, now, rather
        than at the start of the next loop pass (``metrics_handler()`` does it first)."""
        _BATCH.flush()


#: Every HttpMetrics of the process records into this one batch: one flush per loop pass.
_BATCH: Final = Batch()
_default: HttpMetrics | None = None


def default_metrics() -> HttpMetrics:
    """The :class:`HttpMetrics` of prometheus_client's default registry, made on first use."""
    global _default  # noqa: PLW0603 - one set of metrics per process, made lazily
    if _default is None:
        _default = HttpMetrics()
    return _default


def _record(
    metrics: HttpMetrics,
    request: web.Request,
    method: str,
    elapsed: float,
    status: int,
    response: web.StreamResponse | None,
) -> None:
    """Tally one finished request (or handshake) under its labels. It runs for every
    request, so the series lookup and the sizes are worked out here, not in helpers."""
    match_info = request.match_info
    route = match_info.route if match_info.http_exception is None else None
    key = (method, status, route)
    series = metrics._by_route.get(key)
    if series is None:
        series = metrics.add_route_series(key, request)
    series.durations.append(elapsed)
    # The request body's size when the head says it: no framing at all, an empty body (RFC
    # 9112 6.3), or Content-Length; a chunked body's is not known.
    if not request.body_exists:
        series.request_sizes.append(0)
    elif (size := request.content_length) is not None:
        series.request_sizes.append(size)
    if response is not None:
        if response.prepared:  # streamed by the handler: every byte is written already
            sent: int | None = response.body_length
        elif method == "HEAD" or status in (204, 304):
            sent = 0
        else:
            sent = response.content_length
        if sent is not None:
            series.response_sizes.append(sent)
        else:
            # Not known before it is sent (a file, a stream of unknown length): measured
            # once the server has written it, from a done-callback of the request's task.
            task = asyncio.current_task()
            if task is not None and not task.done():
                task.add_done_callback(partial(_late_size, series, response))
    if not series.dirty:
        _BATCH.mark(series)


def _late_size(series: _Series, response: web.StreamResponse, _task: object) -> None:
    series.response_sizes.append(response.body_length)
    if not series.dirty:
        _BATCH.mark(series)


class _MessageCounter:
    """A WebSocket's observer (``ws.observe``): counts its messages under its route."""

    __slots__ = ("received", "sent")

    def __init__(self, metrics: HttpMetrics, route: str) -> None:
        self.received = metrics.messages_for(route, "received")
        self.sent = metrics.messages_for(route, "sent")

    def message_received(self, size: int) -> None:
        pending = self.received
        pending.count += 1
        if not pending.dirty:
            _BATCH.mark(pending)

    def message_sent(self, size: int) -> None:
        pending = self.sent
        pending.count += 1
        if not pending.dirty:
            _BATCH.mark(pending)


class _Handshake:
    """A WebSocket upgrade request: recorded as 101 when its 101 goes out; from then on an
    open socket (its messages counted), not an active request."""

    __slots__ = ("method", "metrics", "request", "route", "start", "upgraded")

    def __init__(
        self, metrics: HttpMetrics, request: web.Request, method: str, start: float
    ) -> None:
        self.metrics = metrics
        self.request = request
        self.method = method
        self.route = route_template(request) or UNMATCHED_ROUTE
        self.start = start
        self.upgraded = False

    async def on_prepare(self, response: web.StreamResponse) -> None:
        if response.status != 101 or self.upgraded:
            return
        self.upgraded = True
        metrics = self.metrics
        _end_active(metrics, self.method)
        _record(metrics, self.request, self.method, time.perf_counter() - self.start, 101, None)
        metrics.websockets.labels(self.route).inc()
        if isinstance(response, web.WebSocketResponse):
            response.observe(_MessageCounter(metrics, self.route))

    def finish(self) -> None:
        if self.upgraded:
            self.metrics.websockets.labels(self.route).dec()


def _end_active(metrics: HttpMetrics, method: str) -> None:
    active = metrics.active_for(method)
    active.delta -= 1
    if not active.dirty:
        _BATCH.mark(active)


def metrics_middleware(*, metrics: HttpMetrics | None = None) -> Middleware:
    """A middleware recording every request in the HTTP server metrics.

    Labels: ``http_request_method`` (methods outside the standard nine become ``_OTHER``),
    ``http_route`` (the matched resource's template, ``/users/{id}``; ``(unmatched)`` when
    no route matched) and ``http_response_status_code``. A returned or raised response
    counts with its status; any other exception counts as 500 and is re-raised; a client
    that went away (cancellation, ``ConnectionError``) counts as 499. A WebSocket handshake
    counts as 101 when the 101 goes out; the socket is then in ``http_server_open_websockets``
    until its handler returns, and its messages in ``http_server_websocket_messages_total``.

    A request is recorded when the handler chain below returns (or raises): the duration is
    the time spent in that chain. The values are written into prometheus_client once per
    event-loop pass, at the start of the pass after the response went to the transport
    (docs/middlewares/metrics.md says what a scrape sees). Put the middleware first in the
    list, so that it times the others too and sees the final response.

    Args:
        metrics: where to record; default :func:`default_metrics` (prometheus_client's
            default registry, which :func:`metrics_handler` renders).

    Returns:
        The middleware.
    """
    chosen = metrics if metrics is not None else default_metrics()
    clock = time.perf_counter
    standard = STANDARD_METHODS
    batch = _BATCH
    actives = chosen._active
    stream_response = web.StreamResponse

    @web.middleware
    async def record_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = clock()
        message = request._message  # the parsed head (what request.method reads)
        method = message.method
        if method not in standard:
            method = OTHER_METHOD
        active = actives.get(method) or chosen.active_for(method)
        active.delta += 1
        if not active.dirty:
            batch.mark(active)
        handshake = None
        # The upgrade flag is is_websocket_upgrade's own first test, read here to spare
        # every other request the call.
        if message.upgrade and is_websocket_upgrade(request):
            handshake = _Handshake(chosen, request, method, start)
            request.add_prepare_hook(handshake.on_prepare)
        status = 500
        response: web.StreamResponse | None = None
        try:
            result = await handler(request)
        except web.HTTPException as exc:
            status = exc.status  # a raised response: the server sends it as is
            response = exc
            raise
        except (asyncio.CancelledError, ConnectionError):
            status = CLIENT_CLOSED_REQUEST
            raise
        else:
            if isinstance(result, stream_response):
                status = result.status
                response = result
            # else not a response: the server refuses it and answers 500
            return result
        finally:
            if handshake is not None and handshake.upgraded:
                handshake.finish()
            else:
                active.delta -= 1
                if not active.dirty:
                    batch.mark(active)
                _record(chosen, request, method, clock() - start, status, response)

    return record_metrics


def _render(registry: CollectorRegistry | None, accept: str) -> tuple[bytes, str]:
    """The exposition, in the format the scraper asked for (runs in a thread)."""
    encoder, content_type = choose_encoder(accept)
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        # Every worker's files, read afresh: the numbers are the server's, not one worker's;
        # under the directory's lock, so that a dead worker's files are never read halfway
        # through their folding into the archives (_multiproc_files.py).
        fresh = CollectorRegistry()
        MultiProcessCollector(fresh)  # type: ignore[no-untyped-call]
        for attempt in range(_RENDER_ATTEMPTS):
            try:
                with directory_lock(path, exclusive=False):
                    return encoder(fresh), content_type
            except (struct.error, ValueError, OSError):
                # A worker just starting (a max_requests restart) creates its files as we
                # read them: one can still be empty, or gone between listing and opening.
                # A moment later it is whole; a scrape should not be a 500 for it.
                if attempt == _RENDER_ATTEMPTS - 1:
                    raise
                time.sleep(_RENDER_RETRY_PAUSE)
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
        _BATCH.flush()  # this worker's last loop pass, the scrape's own request included
        loop = asyncio.get_running_loop()
        accept = request.headers.get("Accept", "")
        body, content_type = await loop.run_in_executor(None, _render, registry, accept)
        return web.Response(body=body, headers={"Content-Type": content_type})

    return metrics
