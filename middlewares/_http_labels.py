"""How the observability middlewares (metrics, tracing) name a request, after OpenTelemetry's
HTTP semantic conventions: by route template and a folded method, so that whatever clients
send, the number of series and span names stays bounded (docs/observability.md)."""

from __future__ import annotations

from typing import Final

from runtime import web

__all__ = [
    "DURATION_BUCKETS",
    "OTHER_METHOD",
    "STANDARD_METHODS",
    "is_websocket_upgrade",
    "method_label",
    "route_template",
]

#: The methods the semantic conventions name; any other is :data:`OTHER_METHOD`.
STANDARD_METHODS: Final = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}
)
#: A method outside :data:`STANDARD_METHODS`: a client inventing methods cannot grow the
#: series or the span names.
OTHER_METHOD: Final = "_OTHER"
#: The advised boundaries for ``http.server.request.duration`` (seconds).
DURATION_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip


def method_label(request: web.Request) -> str:
    """The request's method, or :data:`OTHER_METHOD` outside the standard nine."""
    method = request.method
    return method if method in STANDARD_METHODS else OTHER_METHOD


def route_template(request: web.Request) -> str | None:
    """The matched route's template (``/users/{id}``, never the raw path), or None when no
    route matched (404, or 405 on a path that exists)."""
    match_info = request.match_info
    if match_info.http_exception is not None:
        return None
    resource = match_info.route.resource
    return resource.canonical if resource is not None else None


def is_websocket_upgrade(request: web.Request) -> bool:
    """Whether the request asks to become a WebSocket (RFC 6455 4.1): its first ``Upgrade``
    field says ``websocket``.

    The parser's upgrade flag first (``Connection: upgrade`` with an ``Upgrade`` field, RFC
    9110 7.8): without it no 101 can follow, since ``web.WebSocketResponse`` refuses such a
    request. Then the raw fields: ``request.headers`` decodes every field into a multidict
    on first use, which a request whose handler never looks costs more than this scan.
    """
    if not request._message.upgrade:
        return False
    for name, value in request.raw_headers:
        if len(name) == 7 and name.lower() == b"upgrade":
            return value.strip().lower() == b"websocket"
    return False
