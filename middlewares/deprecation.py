"""Deprecating HTTP endpoints: ``Deprecation`` (RFC 9745), ``Sunset`` (RFC 8594), ``Link``.

Berth's API stability policy (docs/faq.md, "API stability and deprecation policy") --
deprecated code is documented as such, raises ``DeprecationWarning`` when used, and is
removed after a deprecation period (usually a year and a half) -- applied to HTTP APIs:

* mark a handler (function, ``View`` class or one of its methods), a route or a resource
  with :func:`deprecated`;
* :func:`deprecation_middleware` then adds the ``Deprecation``, ``Sunset`` and ``Link``
  headers to its responses, emits a Python ``DeprecationWarning`` (so a test suite run with
  warnings as errors fails on any call to a deprecated endpoint) and logs a rate-limited
  structured warning for each use; after the sunset it can answer ``410 Gone``.

Marks are plain attributes: without the middleware they cost nothing and do nothing.
"""

from __future__ import annotations

import datetime
import inspect
import re
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import format_datetime
from typing import Any, Final, TypeVar

import structlog

from runtime import web

__all__ = ["Deprecation", "deprecated", "deprecation_middleware", "deprecation_of"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
Clock = Callable[[], datetime.datetime]
_T = TypeVar("_T")

_ATTR: Final = "__berth_deprecation__"
# RFC 8288 3: a URI-Reference between "<" and ">"; refuse what would end it or the field.
_LINK_TARGET: Final = re.compile(r"[^\s<>\"\x00-\x1f\x7f]+")
_DEFAULT_LOG_INTERVAL: Final = 60.0


def _utc(value: datetime.datetime | datetime.date, what: str) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be timezone-aware (or a date, read as UTC midnight)")
        return value.astimezone(datetime.UTC)
    return datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC)


def _http_date(value: datetime.datetime) -> str:
    # RFC 9110 5.6.7: IMF-fixdate, always in GMT.
    return format_datetime(value, usegmt=True)


def _link(target: str | None, rel: str, what: str) -> list[str]:
    if target is None:
        return []
    if not _LINK_TARGET.fullmatch(target):
        raise ValueError(f"{what} {target!r} is not a URI reference usable in a Link header")
    return [f'<{target}>; rel="{rel}"']


@dataclass(frozen=True)
class Deprecation:
    """What is known about one deprecated endpoint; :func:`deprecated` makes these.

    Attributes:
        since: when the endpoint is (or will be) deprecated; may be in the future, which
            announces the deprecation (RFC 9745 2.1).
        sunset: when the endpoint stops working (RFC 8594), or None.
        link: documentation of the deprecation (``Link; rel="deprecation"``).
        sunset_link: the sunset policy (``Link; rel="sunset"``, RFC 8594 6).
        replacement: the URI of what to use instead (``Link; rel="successor-version"``,
            RFC 5829).
        gone_after_sunset: answer ``410 Gone`` once the sunset has passed; None follows the
            middleware's setting.
        headers: the response header fields, computed once.
    """

    since: datetime.datetime
    sunset: datetime.datetime | None = None
    link: str | None = None
    sunset_link: str | None = None
    replacement: str | None = None
    gone_after_sunset: bool | None = None
    headers: tuple[tuple[str, str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        since = _utc(self.since, "since")
        sunset = _utc(self.sunset, "sunset") if self.sunset is not None else None
        if sunset is not None and sunset < since:
            # RFC 9745 5: the sunset should not be earlier than the deprecation.
            raise ValueError(f"sunset {sunset:%Y-%m-%d} is before since {since:%Y-%m-%d}")
        # RFC 9745 2.1: a Structured Field Date (RFC 9651 3.3.7), "@" and epoch seconds.
        headers = [("Deprecation", f"@{int(since.timestamp())}")]
        if sunset is not None:
            headers.append(("Sunset", _http_date(sunset)))  # RFC 8594 3
        links = (
            _link(self.link, "deprecation", "link")
            + _link(self.sunset_link, "sunset", "sunset_link")
            + _link(self.replacement, "successor-version", "replacement")
        )
        if links:
            headers.append(("Link", ", ".join(links)))
        object.__setattr__(self, "since", since)
        object.__setattr__(self, "sunset", sunset)
        object.__setattr__(self, "headers", tuple(headers))

    def is_sunset(self, now: datetime.datetime) -> bool:
        """Whether the sunset has passed at ``now``.

        Args:
            now: an aware datetime.

        Returns:
            True once ``now`` reaches the sunset; False when there is none.
        """
        return self.sunset is not None and now >= self.sunset

    def apply(self, response: web.StreamResponse) -> bool:
        """Add the header fields to a response whose head has not been sent.

        ``Deprecation`` and ``Sunset`` a handler set itself are kept; ``Link`` is added to
        any links already there.

        Args:
            response: the response.

        Returns:
            False when the response was already prepared (streamed) and nothing was added.
        """
        if response.prepared:
            return False
        headers = response.headers
        for name, value in self.headers:
            if name == "Link":
                headers.add(name, value)
            else:
                headers.setdefault(name, value)
        return True


def deprecated(
    *,
    since: datetime.datetime | datetime.date,
    sunset: datetime.datetime | datetime.date | None = None,
    link: str | None = None,
    sunset_link: str | None = None,
    replacement: str | None = None,
    gone_after_sunset: bool | None = None,
) -> Callable[[_T], _T]:
    """Mark a handler, ``View`` class or method, route or resource as deprecated.

    As a decorator: ``@deprecated(since=date(2025, 1, 1))`` above ``async def handler``
    (in either order with ``@routes.get``, which registers the same function object). As a
    route option: ``deprecated(since=...)(router.add_post("/v1/items", create))``; for a
    GET route that also answers HEAD, mark the resource:
    ``deprecated(...)(router.add_get("/v1/items", list_items).resource)``.

    The middleware looks at the route, then its resource, then the ``View`` method, then
    the handler, and uses the first mark it finds. It remembers the answer per route and
    method from the first request on: mark before the application starts.

    Args:
        since: when the endpoint is deprecated; an aware datetime, or a date (UTC midnight).
        sunset: when it stops working, or None.
        link: a URI documenting the deprecation.
        sunset_link: a URI describing the sunset policy.
        replacement: the URI (absolute, or a path) of the successor endpoint.
        gone_after_sunset: answer 410 after the sunset (None: the middleware decides).

    Returns:
        A function that marks its argument and returns it unchanged.

    Raises:
        ValueError: a naive datetime, a sunset before ``since``, or a URI that cannot go
            in a ``Link`` header.
    """
    info = Deprecation(
        since=_utc(since, "since"),
        sunset=_utc(sunset, "sunset") if sunset is not None else None,
        link=link,
        sunset_link=sunset_link,
        replacement=replacement,
        gone_after_sunset=gone_after_sunset,
    )

    def mark(target: _T) -> _T:
        try:
            setattr(target, _ATTR, info)
        except (AttributeError, TypeError):
            raise TypeError(f"Cannot mark {target!r} as deprecated (no attributes)") from None
        return target

    return mark


def deprecation_of(target: object) -> Deprecation | None:
    """The mark :func:`deprecated` put on ``target``, or None.

    Args:
        target: a handler, View class or method, route or resource.

    Returns:
        The :class:`Deprecation`, or None.
    """
    info = getattr(target, _ATTR, None)
    return info if isinstance(info, Deprecation) else None


@dataclass(frozen=True)
class _Endpoint:
    """A deprecated route as one method sees it; built on first use, then cached."""

    info: Deprecation
    message: str  # "GET /x is deprecated since ...; use ..."
    gone_message: str  # "GET /x was retired on ...; use ..."
    filename: str | None  # where the warning points: the handler's source
    lineno: int
    module: str | None


def _messages(method: str, where: str, info: Deprecation) -> tuple[str, str]:
    use = f"; use {info.replacement}" if info.replacement is not None else ""
    text = f"{method} {where} is deprecated since {info.since:%Y-%m-%d}"
    if info.sunset is None:
        return text + use, text + use
    gone = f"{method} {where} was retired on {info.sunset:%Y-%m-%d}{use}"
    return f"{text}, sunset {info.sunset:%Y-%m-%d}{use}", gone


def _endpoint(route: web.AbstractRoute, method: str) -> _Endpoint | None:
    """The mark that applies (route, resource, View method, handler, in that order)."""
    handler: Any = route.handler
    target: Any = handler
    if isinstance(handler, type):  # a View: the method that will run
        target = getattr(handler, method.lower(), handler)
    resource = route.resource
    info = deprecation_of(route)
    if info is None and resource is not None:
        info = deprecation_of(resource)
    if info is None and target is not handler:
        info = deprecation_of(target)
    if info is None:
        info = deprecation_of(handler)
    if info is None:
        return None
    where = resource.canonical if resource is not None else "?"
    message, gone = _messages(method, where, info)
    code = getattr(inspect.unwrap(target), "__code__", None)
    return _Endpoint(
        info,
        message,
        gone,
        code.co_filename if code is not None else None,
        code.co_firstlineno if code is not None else 0,
        getattr(target, "__module__", None),
    )


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class _Announcer:
    """Warns (``warnings``) on every use and logs at most once per interval per route."""

    def __init__(self, logger: Any, interval: float) -> None:
        self.log = logger
        self._interval = interval
        self._last: dict[object, list[float]] = {}  # route -> [last logged, uses since]
        # warn_explicit's registry: the "default" action shows each message once.
        self._registry: dict[Any, Any] = {}

    def warn(self, endpoint: _Endpoint, message: str, category: type[Warning]) -> None:
        if endpoint.filename is None:
            warnings.warn(message, category, stacklevel=3)
            return
        # Point at the handler's source, so that filters by module and pytest's report
        # name the deprecated code rather than this middleware.
        warnings.warn_explicit(
            message,
            category,
            endpoint.filename,
            endpoint.lineno,
            module=endpoint.module,
            registry=self._registry,
        )

    def due(self, key: object, now: datetime.datetime) -> int | None:
        """None while ``key`` was logged less than an interval ago; else the number of uses
        not logged since the last time (and the clock restarts)."""
        stamp = now.timestamp()
        entry = self._last.get(key)
        if entry is not None and stamp - entry[0] < self._interval:
            entry[1] += 1
            return None
        self._last[key] = [stamp, 0]
        return int(entry[1]) if entry is not None else 0


def _log_use(
    announcer: _Announcer, request: web.Request, info: Deprecation, gone: bool, suppressed: int
) -> None:
    announcer.log.warning(
        "sunset_endpoint_called" if gone else "deprecated_endpoint_called",
        suppressed=suppressed,
        method=request.method,
        path=request.path,
        since=info.since.isoformat(),
        sunset=info.sunset.isoformat() if info.sunset is not None else None,
        replacement=info.replacement,
        remote=request.remote,
        user_agent=request.headers.get("User-Agent"),
    )


_MISSING: Final[Any] = object()
_CACHE_LIMIT: Final = 4096  # (route, method) pairs; arbitrary method tokens cannot grow it


def deprecation_middleware(
    *,
    gone_after_sunset: bool = False,
    log_interval: float = _DEFAULT_LOG_INTERVAL,
    clock: Clock = _utc_now,
    logger: Any = None,
) -> Middleware:
    """A middleware announcing deprecated endpoints to clients, logs and test suites.

    For a request routed to a deprecated endpoint (see :func:`deprecated`):

    * ``Deprecation: @<epoch seconds>`` (RFC 9745), ``Sunset: <HTTP-date>`` (RFC 8594) and
      ``Link: <...>; rel="deprecation"``, ``rel="sunset"``, ``rel="successor-version"``
      are added to the response, raised HTTP errors included (not to a response the
      handler prepared and streamed itself: its head is already sent);
    * a ``DeprecationWarning`` (``PendingDeprecationWarning`` before ``since``) is emitted
      before the handler runs, pointing at the handler's source. Under ``-W error`` (or
      pytest's ``filterwarnings = error``) it becomes an exception and the call fails
      with 500, so a test suite cannot call a deprecated endpoint unnoticed;
    * a structured warning (``deprecated_endpoint_called``) is logged, at most once per
      ``log_interval`` seconds per route, with the number of uses not logged since;
    * once the sunset has passed, with ``gone_after_sunset``, the handler is not called:
      the answer is ``410 Gone`` with the same headers (event ``sunset_endpoint_called``).

    Args:
        gone_after_sunset: the default for marks that do not say.
        log_interval: seconds between two log events for the same route.
        clock: returns the current time as an aware datetime (tests pass a fake one).
        logger: a structlog logger; default ``structlog.stdlib.get_logger("berth.deprecation")``.

    Returns:
        The middleware.
    """
    announcer = _Announcer(
        logger if logger is not None else structlog.stdlib.get_logger("berth.deprecation"),
        log_interval,
    )
    endpoints: dict[tuple[object, str], _Endpoint | None] = {}

    @web.middleware
    async def deprecation(request: web.Request, handler: Handler) -> web.StreamResponse:
        match_info = request.match_info
        if match_info.http_exception is not None:
            return await handler(request)  # 404/405: no endpoint, nothing deprecated
        key = (match_info.route, request.method)
        endpoint = endpoints.get(key, _MISSING)
        if endpoint is _MISSING:
            if len(endpoints) >= _CACHE_LIMIT:
                endpoints.clear()
            endpoint = endpoints[key] = _endpoint(match_info.route, request.method)
        if endpoint is None:
            return await handler(request)
        info = endpoint.info
        now = clock()
        gone = info.is_sunset(now) and (
            gone_after_sunset if info.gone_after_sunset is None else info.gone_after_sunset
        )
        suppressed = announcer.due(match_info.route, now)
        if suppressed is not None:
            _log_use(announcer, request, info, gone, suppressed)
        category = DeprecationWarning if now >= info.since else PendingDeprecationWarning
        message = endpoint.gone_message if gone else endpoint.message
        announcer.warn(endpoint, message, category)
        if gone:
            raise web.HTTPGone(headers=info.headers, text=f"410 Gone: {message}\n")
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            info.apply(exc)
            raise
        info.apply(response)
        return response

    return deprecation
