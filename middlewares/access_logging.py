"""Structured access logs with structlog: one event per request, request-scoped context.

The module is called ``access_logging`` rather than ``logging`` so that it can never shadow
the standard library's ``logging`` (``from middlewares import logging`` in an app, or a
script run from inside the package directory, would otherwise get this module).

Two parts:

* :func:`configure` (and :func:`make_formatter` for ``logging.config.dictConfig`` and
  gunicorn's ``logconfig_dict``): structlog set up to hand its events to the standard
  library's ``logging``, rendered as JSON lines (production) or coloured console lines
  (development). Because the events go through ``logging``, whatever configures
  ``logging`` (gunicorn's ``--log-config``/``--log-config-dict``, or your own code) decides
  where they go and at which level.
* :func:`access_log_middleware`: binds the request id and route to ``structlog.contextvars``
  while the request runs, so that *every* line logged meanwhile (structlog or plain
  ``logging``) carries them; echoes the request id in ``X-Request-ID``; logs unhandled
  exceptions once, with the traceback as a structured field; and logs one ``request``
  event per request after its response has been written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from functools import partial
from typing import IO, Any, Final, Literal

import structlog
from structlog.typing import Processor

from middlewares._path_filter import PathFilter
from runtime import web

__all__ = [
    "ACCESS_LOGGER_NAME",
    "LOGGED_MARKER",
    "REQUEST_ID_HEADER",
    "REQUEST_ID_KEY",
    "REQUEST_ID_PATTERN",
    "access_log_middleware",
    "configure",
    "make_formatter",
    "shared_processors",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
Renderer = Literal["json", "console"]

#: The stdlib logger name access events and request errors are logged under.
ACCESS_LOGGER_NAME: Final = "berth.access"
#: The header the request id is read from (when trusted) and echoed in.
REQUEST_ID_HEADER: Final = "X-Request-ID"
#: ``request[REQUEST_ID_KEY]`` holds the request id while the request is handled (the
#: gunicorn worker's access line finds it by its name, ``request_id``).
REQUEST_ID_KEY: Final = web.RequestKey("request_id", str)
#: An exception the middleware has logged gets this attribute set to True, so that the
#: server can skip logging the same traceback again (see docs/middlewares/access_logging.md).
LOGGED_MARKER: Final = "berth_logged"
#: What a trusted incoming request id may look like: nginx's ``$request_id`` (32 hex
#: digits), UUIDs, ULIDs. No spaces, quotes, control characters or ``=``: a client that
#: gets a value past the proxy cannot forge extra fields or lines in a log.
REQUEST_ID_PATTERN: Final = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"
# nginx's convention for "the client went away before the response": not an HTTP status,
# but what operators behind nginx already read in their logs.
_CLIENT_CLOSED_REQUEST: Final = 499
_HANDLER_NAME: Final = "berth-structlog"


def _new_request_id() -> str:
    # 128 random bits in nginx's $request_id format (32 hex digits).
    return secrets.token_hex(16)


def shared_processors() -> list[Processor]:
    """The processors every event passes, structlog's own and plain ``logging`` records alike.

    ``merge_contextvars`` comes first: it is what puts the request id and route on every
    line logged while a request is handled.

    Returns:
        A new list (callers may extend it).
    """
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def make_formatter(
    renderer: Renderer = "json", *, colors: bool | None = None
) -> structlog.stdlib.ProcessorFormatter:
    """A ``logging.Formatter`` rendering structlog events and plain log records alike.

    Usable from ``logging.config.dictConfig`` (and gunicorn's ``logconfig_dict``) as
    ``{"()": "middlewares.access_logging.make_formatter", "renderer": "json"}``.

    Args:
        renderer: ``"json"`` (one JSON object per line; tracebacks become a structured
            ``exception`` list) or ``"console"`` (aligned, optionally coloured, tracebacks
            printed as Python prints them).
        colors: colour the console output; default: when stderr is a terminal.

    Returns:
        The formatter.

    Raises:
        ValueError: an unknown renderer.
    """
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    return structlog.stdlib.ProcessorFormatter(
        processors=final + _rendering(renderer, colors), foreign_pre_chain=shared_processors()
    )


def _rendering(renderer: Renderer, colors: bool | None) -> list[Processor]:
    """The last processors: the event dict to a line, tracebacks included."""
    if renderer == "json":
        return [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    if renderer == "console":
        use_colors = sys.stderr.isatty() if colors is None else colors
        return [structlog.dev.ConsoleRenderer(colors=use_colors)]
    raise ValueError(f"renderer must be 'json' or 'console', not {renderer!r}")


class _StreamLogger:
    """structlog's final logger for ``configure(direct_stream=...)``: one write per
    rendered line. It carries the name it was asked for, which ``add_logger_name`` reads."""

    __slots__ = ("_stream", "name")

    def __init__(self, name: str, stream: IO[str]) -> None:
        self.name = name
        self._stream = stream

    def msg(self, message: str) -> None:
        self._stream.write(message + "\n")  # one write: lines never interleave
        self._stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stream_loggers(stream: IO[str]) -> Callable[..., _StreamLogger]:
    def factory(*args: Any) -> _StreamLogger:
        return _StreamLogger(str(args[0]) if args else "", stream)

    return factory


def configure(
    *,
    renderer: Renderer | None = None,
    level: int | str = logging.INFO,
    handler: logging.Handler | None = None,
    install_handler: bool = True,
    processors: Sequence[Processor] = (),
    cache_loggers: bool = True,
    colors: bool | None = None,
    direct_stream: IO[str] | None = None,
) -> logging.Handler | None:
    """Set structlog up to log through the standard library, and (optionally) a root handler.

    Call it once, early in the app factory (or in gunicorn's ``post_fork``/``when_ready``
    hook). Calling it again replaces the handler it installed before, it never stacks them.

    Args:
        renderer: ``"json"`` or ``"console"``; default: console when stderr is a terminal,
            JSON otherwise (under gunicorn, systemd or docker).
        level: the root logger's level when a handler is installed.
        handler: where rendered lines go; default a ``StreamHandler`` on stderr. Its
            formatter is replaced by :func:`make_formatter`'s.
        install_handler: False to leave ``logging``'s handlers to someone else, e.g. a
            gunicorn ``logconfig_dict`` that uses :func:`make_formatter`.
        processors: extra structlog processors, run after :func:`shared_processors`.
        cache_loggers: structlog's ``cache_logger_on_first_use`` (faster; loggers created
            before a later ``configure`` keep the old configuration).
        colors: colour console output; default: when stderr is a terminal.
        direct_stream: render structlog's events with structlog alone and write them
            straight to this stream (``sys.stderr``, say), skipping the standard library:
            about a third of the cost per event. ``level`` is then structlog's filter for
            them (per-logger ``logging`` levels no longer apply to structlog events); plain
            ``logging`` records still go through the handler, rendered the same way.

    Returns:
        The installed handler, or None when ``install_handler`` is False.

    Raises:
        ValueError: an unknown renderer.
    """
    chosen: Renderer = renderer or ("console" if sys.stderr.isatty() else "json")
    # Built first: an unknown renderer is refused before anything is changed.
    formatter = make_formatter(chosen, colors=colors)
    if direct_stream is not None:
        numeric = level if isinstance(level, int) else logging.getLevelNamesMapping()[level]
        structlog.configure(
            processors=[*shared_processors(), *processors, *_rendering(chosen, colors)],
            logger_factory=_stream_loggers(direct_stream),
            wrapper_class=structlog.make_filtering_bound_logger(numeric),
            cache_logger_on_first_use=cache_loggers,
        )
    else:
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                *shared_processors(),
                *processors,
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=cache_loggers,
        )
    if not install_handler:
        return None
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    new = handler if handler is not None else logging.StreamHandler(sys.stderr)
    new.set_name(_HANDLER_NAME)
    new.setFormatter(formatter)
    root.addHandler(new)
    root.setLevel(level)
    return new


def _route_label(request: web.Request) -> str | None:
    """The route's name, else its path pattern (``/users/{id}``): few distinct values,
    so dashboards can group by it. None when nothing matched (404, 405)."""
    route = request.match_info.route
    name = route.name
    if name is not None:
        return name
    resource = route.resource
    return resource.canonical if resource is not None else None


def _mark_logged(exc: BaseException) -> None:
    # Best effort: an exception type that refuses attributes is simply logged twice.
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, LOGGED_MARKER, True)


class _AccessLog:
    """The middleware's settings and the work it does around the handler."""

    def __init__(
        self,
        logger: Any,
        exclude: Iterable[str],
        trust_request_id: bool,
        header: str,
        pattern: str,
        generate: Callable[[], str],
    ) -> None:
        self.log: Any = (
            logger if logger is not None else structlog.stdlib.get_logger(ACCESS_LOGGER_NAME)
        )
        self.excluded = PathFilter(exclude)
        self.trust = trust_request_id
        self.header = header
        self.valid_id = re.compile(pattern).fullmatch
        self.generate = generate

    def request_id(self, request: web.Request) -> str:
        if self.trust:
            incoming = request.headers.get(self.header)
            if incoming is not None and self.valid_id(incoming):
                return incoming
        return self.generate()

    def tag(self, response: web.StreamResponse, request_id: str) -> None:
        if not response.prepared:
            response.headers[self.header] = request_id

    def failed(self, request: web.Request, exc: Exception) -> None:
        # Still inside the request's context: the event carries request_id and route.
        self.log.error("request_failed", method=request.method, path=request.path, exc_info=exc)
        _mark_logged(exc)

    def finish(
        self,
        request: web.Request,
        fields: dict[str, Any],
        response: object,
        status: int | None,
    ) -> None:
        path = request.path
        if path in self.excluded or not self.logging_requests():
            return
        fields.update(
            method=request.method,
            path=path,
            status=status,
            bytes=None,
            remote=request.remote,
            user_agent=request.headers.get("User-Agent"),
        )
        task = asyncio.current_task()
        if task is None or task.done():
            self.emit(fields, response)
        else:
            # Logged once the server has written the response: bytes are then known.
            task.add_done_callback(partial(self.emit, fields, response))

    def logging_requests(self) -> bool:
        """Whether a ``request`` event (level info) would be logged now. Below the level, the
        event's fields and its done-callback are never built: that was most of the
        middleware's cost per request. Asked each time, since levels can change at run time;
        a logger that cannot say (no ``is_enabled_for``) is taken to log everything."""
        enabled = getattr(self.log, "is_enabled_for", None)
        return enabled is None or bool(enabled(logging.INFO))

    def emit(self, fields: dict[str, Any], response: object, _task: object = None) -> None:
        if isinstance(response, web.StreamResponse):
            fields["status"] = response.status
            fields["bytes"] = response.body_length
        try:
            self.log.info("request", **fields)
        except Exception:
            # A broken processor or handler must not take the server down, nor go unseen.
            logging.getLogger(ACCESS_LOGGER_NAME).exception("Error in access logger")


def access_log_middleware(
    *,
    logger: Any = None,
    exclude: Iterable[str] = (),
    trust_request_id: bool = True,
    request_id_header: str = REQUEST_ID_HEADER,
    request_id_pattern: str = REQUEST_ID_PATTERN,
    generate_request_id: Callable[[], str] = _new_request_id,
) -> Middleware:
    """A middleware logging one structured ``request`` event per request.

    The event carries ``method``, ``path`` (decoded, without the query string: queries often
    hold tokens), ``route`` (the route's name, else its path pattern), ``status``,
    ``duration_ms`` (time spent in the handler chain below this middleware), ``bytes`` (body
    bytes sent), ``remote`` (``request.remote``: install the proxy middleware *before* this
    one so that it is the client, not the proxy), ``user_agent`` and ``request_id``. It is
    logged once the response has been written, from a done-callback of the handler's task.

    While the handler runs, ``request_id`` and ``route`` are bound with
    ``structlog.contextvars`` and reset when it returns; each request runs in a task of its
    own, so nothing can leak into the next request on the connection nor into concurrent ones.

    An unhandled exception is logged once (``request_failed``, level error, traceback
    included), marked with ``LOGGED_MARKER`` and re-raised, so the server still answers 500.
    A client that goes away (cancellation, ``ConnectionError``) is logged with status 499.

    Args:
        logger: a structlog logger; default ``structlog.stdlib.get_logger("berth.access")``.
        exclude: paths with no access event (``"/healthz"``, ``"/internal/*"``); see
            :class:`~middlewares._path_filter.PathFilter`. Errors there are still logged.
        trust_request_id: take the request id from ``request_id_header`` when present and
            well-formed. Only safe when the proxy in front always sets it (nginx:
            ``proxy_set_header X-Request-ID $request_id;``), since clients can send it too.
        request_id_header: the header the id is read from and echoed in.
        request_id_pattern: what a trusted id must fully match; anything else is replaced
            by a generated id (and never logged).
        generate_request_id: makes new ids; default 32 random hex digits, like nginx.

    Returns:
        The middleware.

    Raises:
        re.error: ``request_id_pattern`` is not a valid regular expression.
    """
    state = _AccessLog(
        logger,
        exclude,
        trust_request_id,
        request_id_header,
        request_id_pattern,
        generate_request_id,
    )
    bind = structlog.contextvars.bind_contextvars
    reset = structlog.contextvars.reset_contextvars
    clock = time.perf_counter

    @web.middleware
    async def access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = clock()
        request_id = state.request_id(request)
        request[REQUEST_ID_KEY] = request_id
        route = _route_label(request)
        tokens = bind(request_id=request_id, route=route)
        response: object = None
        status: int | None = None
        try:
            result = await handler(request)
        except web.HTTPException as exc:
            response = exc  # a response that was raised: the server sends it as is
            state.tag(exc, request_id)
            raise
        except (asyncio.CancelledError, ConnectionError):
            status = _CLIENT_CLOSED_REQUEST
            raise
        except Exception as exc:
            status = 500
            state.failed(request, exc)
            raise
        else:
            response = result
            if isinstance(result, web.StreamResponse):
                state.tag(result, request_id)
            else:
                status = 500  # not a response: the server refuses it and answers 500
            return result
        finally:
            reset(**tokens)
            elapsed = round((clock() - start) * 1000, 3)
            fields = {"route": route, "duration_ms": elapsed, "request_id": request_id}
            state.finish(request, fields, response, status)

    return access_log
