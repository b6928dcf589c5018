"""One log shape under gunicorn: a complete ``logconfig_dict`` and a logger class.

gunicorn's error log, its access log, the framework's ``runtime.*`` records and the
application's structlog events and plain ``logging`` records all go through ONE handler on
stderr with ONE ``structlog.stdlib.ProcessorFormatter``: JSON lines (production) or readable
console lines (development), with the same core keys on every line (``timestamp``,
``level``, ``logger``, ``event``, ``pid``). See docs/observability.md, "One log shape".

Why a whole dict: gunicorn merges ``logconfig_dict`` into its defaults *shallowly*
(``CONFIG_DEFAULTS.copy().update(...)``), so a ``"loggers"`` key of the user's replaces
gunicorn's ``gunicorn.error`` and ``gunicorn.access`` entries. :func:`logconfig_dict`
returns every key, and takes the user's extra loggers (``extra_loggers=``) to merge per
logger.

Why a logger class: gunicorn's ``Logger.access`` formats ``access_log_format`` into one
string (``%(h)s %(l)s ...``), which a JSON line could only carry as ``event``.
:class:`StructuredLogger` turns the same atoms into fields (``method``, ``path``,
``status``, ``bytes``, ``duration_ms``, ``remote``, ``user_agent``, ``referer``,
``request_id``...) handed to the formatter on the record.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any, Final

import structlog
from gunicorn.glogging import Logger
from structlog.typing import EventDict, Processor, WrappedLogger

from ..web import RequestKey

__all__ = [
    "ACCESS_CONTEXT_KEYS",
    "HANDLER_NAME",
    "LOGGER_CLASS",
    "StructuredLogger",
    "access_fields",
    "logconfig_dict",
    "make_formatter",
]

#: The handler every logger of :func:`logconfig_dict` writes through (name it in
#: ``extra_loggers`` entries that do not propagate).
HANDLER_NAME: Final = "berth"
#: gunicorn's ``logger_class`` setting for :class:`StructuredLogger`.
LOGGER_CLASS: Final = "runtime.workers.logconfig.StructuredLogger"
#: The names of the request keys copied onto the access line when the application set them
#: (the ``middlewares.access_logging`` middleware sets ``request[REQUEST_ID_KEY]``, a typed
#: ``web.RequestKey("request_id", str)``; a tracing middleware sets ``trace_id`` and
#: ``span_id`` the same way). A key is matched by its name, typed or a plain ``str``. Every
#: other line of the request gets them from ``structlog.contextvars`` (``merge_contextvars``).
ACCESS_CONTEXT_KEYS: Final = ("request_id", "trace_id", "span_id")
# The attribute of a LogRecord carrying an access line's fields to the formatter.
_FIELDS_ATTR: Final = "berth_fields"
# The response header middlewares.access_logging echoes the request id in; read when the
# request mapping has no id (a response built before the middleware ran, say).
_REQUEST_ID_HEADER: Final = "X-Request-ID"
_FORMATTER_FACTORY: Final = "runtime.workers.logconfig.make_formatter"


def _add_pid(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """``pid``: the process that logged (gunicorn runs several workers)."""
    record = event_dict.get("_record")
    event_dict.setdefault("pid", record.process if record is not None else os.getpid())
    return event_dict


def _add_record_fields(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """The fields :class:`StructuredLogger` put on an access record, as keys of the line."""
    fields = getattr(event_dict.get("_record"), _FIELDS_ATTR, None)
    if fields:
        event_dict.update(fields)
    return event_dict


def _shared_processors() -> list[Processor]:
    # The same chain as middlewares.access_logging.shared_processors() (which the workers
    # may not import: docs/architecture.md), so both configurations give the same lines.
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def make_formatter(
    json: bool = True, *, colors: bool | None = None, configure_structlog: bool = True
) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter: structlog events and plain ``logging`` records rendered alike.

    Used by :func:`logconfig_dict` as ``{"()": "runtime.workers.logconfig.make_formatter"}``.

    Args:
        json: one JSON object per line (tracebacks as a structured ``exception`` list), or
            console lines (aligned ``key=value``, tracebacks printed as Python prints them).
        colors: colour console lines; default: when stderr is a terminal.
        configure_structlog: when structlog has not been configured yet, configure it to hand
            its events to ``logging`` (so they reach this formatter) instead of printing
            them on stdout in its own default shape. An application that calls
            ``middlewares.access_logging.configure(install_handler=False)`` replaces that
            configuration with an equivalent one.

    Returns:
        The formatter.
    """
    if configure_structlog and not structlog.is_configured():
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                *_shared_processors(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    rendering: list[Processor]
    if json:
        rendering = [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        use_colors = colors if colors is not None else _stderr_is_a_terminal()
        rendering = [structlog.dev.ConsoleRenderer(colors=use_colors)]
    meta = structlog.stdlib.ProcessorFormatter.remove_processors_meta
    return structlog.stdlib.ProcessorFormatter(
        processors=[_add_pid, meta, *rendering],
        foreign_pre_chain=[*_shared_processors(), _add_record_fields],
    )


def _stderr_is_a_terminal() -> bool:
    try:
        return os.isatty(2)
    except OSError:
        return False


def logconfig_dict(
    json: bool = True,
    *,
    level: str = "INFO",
    extra_loggers: Mapping[str, Mapping[str, Any]] | None = None,
    colors: bool | None = None,
    access_log: bool = True,
) -> dict[str, Any]:
    """A complete ``logging.config.dictConfig`` dict for gunicorn's ``logconfig_dict``.

    Root, ``gunicorn.error``, ``gunicorn.access`` and ``runtime`` (the framework's
    ``runtime.*`` loggers) all go through one ``StreamHandler`` on stderr named
    :data:`HANDLER_NAME`, formatted by :func:`make_formatter`. Set ``logger_class =
    LOGGER_CLASS`` too, so the access line carries fields rather than a formatted string.

    Args:
        json: JSON lines (True) or console lines (False).
        level: the level of the root, ``gunicorn.error`` and ``runtime`` loggers (gunicorn's
            ``loglevel`` is overridden by this dict, which gunicorn applies after it).
            ``gunicorn.access`` logs at INFO.
        extra_loggers: the user's ``loggers`` entries. Each is merged into the factory's
            entry of the same name key by key (``{"gunicorn.error": {"level": "DEBUG"}}``
            keeps its handler), or added; an entry without ``handlers`` propagates to root
            and comes out in the same shape.
        colors: colour console lines; default: when stderr is a terminal.
        access_log: gunicorn's access line per request. With any ``logconfig_dict``
            gunicorn calls its access logger whatever ``accesslog`` says; False sets
            ``gunicorn.access`` to WARNING, which :class:`StructuredLogger` checks before
            building the fields (leave the access log to nginx, or to the access middleware).

    Returns:
        A new dict, safe to modify.
    """
    level = level.upper()
    formatter: dict[str, Any] = {"()": _FORMATTER_FACTORY, "json": json}
    if colors is not None:
        formatter["colors"] = colors
    loggers: dict[str, dict[str, Any]] = {
        "gunicorn.error": {"level": level, "handlers": [HANDLER_NAME], "propagate": False},
        "gunicorn.access": {
            "level": "INFO" if access_log else "WARNING",
            "handlers": [HANDLER_NAME],
            "propagate": False,
        },
        # No handler of its own: propagates to root, which removes the handler the worker
        # adds when logging is not configured (worker.py, _adopt_framework_logs).
        "runtime": {"level": level, "handlers": [], "propagate": True},
    }
    for name, entry in (extra_loggers or {}).items():
        loggers[name] = {**loggers.get(name, {}), **entry}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"berth": formatter},
        "handlers": {
            HANDLER_NAME: {
                "class": "logging.StreamHandler",
                "formatter": "berth",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": [HANDLER_NAME]},
        "loggers": loggers,
    }


def access_fields(
    resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any
) -> dict[str, Any]:
    """gunicorn's access atoms for one request, as named fields.

    The arguments are those of ``Logger.access`` (what the worker passes: an
    ``AccessResponse``, the framework's request, a WSGI-style environ, a ``timedelta``).
    ``path`` has no query string (queries carry tokens), as in the access middleware's event.

    Returns:
        ``method``, ``path``, ``protocol``, ``status``, ``bytes``, ``duration_ms``,
        ``remote``, ``user_agent``, ``referer``, and the :data:`ACCESS_CONTEXT_KEYS` the
        request carries.
    """
    status = resp.status
    if isinstance(status, str):
        status = int(status.split(None, 1)[0])
    fields: dict[str, Any] = {
        "method": environ.get("REQUEST_METHOD"),
        "path": environ.get("PATH_INFO"),
        "protocol": environ.get("SERVER_PROTOCOL"),
        "status": status,
        "bytes": getattr(resp, "sent", None),
        "duration_ms": round(request_time.total_seconds() * 1000, 3),
        "remote": environ.get("REMOTE_ADDR"),
        "user_agent": environ.get("HTTP_USER_AGENT"),
        "referer": environ.get("HTTP_REFERER"),
    }
    if isinstance(req, Mapping):
        for key, value in req.items():
            name = key.name if isinstance(key, RequestKey) else key
            if value is not None and name in ACCESS_CONTEXT_KEYS:
                fields[name] = value
    if "request_id" not in fields:
        for name, value in getattr(resp, "headers", ()):
            if name.lower() == _REQUEST_ID_HEADER.lower():
                fields["request_id"] = value
                break
    return fields


class StructuredLogger(Logger):  # type: ignore[misc] # gunicorn ships no type hints
    """gunicorn's logger with an access line of fields: ``logger_class = LOGGER_CLASS``.

    The record's message is ``"request"`` (the ``event``, as the access middleware's), and
    :func:`access_fields` rides on the record for :func:`make_formatter` to spread into the
    line. ``access_log_format`` is not used. Everything else is gunicorn's ``Logger``.
    """

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if not self.access_log_enabled or not self.access_log.isEnabledFor(logging.INFO):
            return
        try:
            fields = access_fields(resp, req, environ, request_time)
            self.access_log.info("request", extra={_FIELDS_ATTR: fields})
        except Exception:
            self.exception("Error in the access logger")
