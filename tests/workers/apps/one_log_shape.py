"""A gunicorn configuration module and an application for the "one log shape" tests.

``-c python:tests.workers.apps.one_log_shape`` sets ``logconfig_dict`` from the factory (JSON
lines) and ``logger_class``; ``tests.workers.apps.one_log_shape:create_app`` logs a structlog
event and a plain ``logging`` record inside its handler, with a request id bound the way
``middlewares.access_logging`` binds it.
"""

from __future__ import annotations

import logging

import structlog

from middlewares.access_logging import access_log_middleware
from runtime import web
from runtime.workers import LOGGER_CLASS
from runtime.workers import logconfig_dict as make_logconfig_dict

logconfig_dict = make_logconfig_dict(json=True, extra_loggers={"tests.noisy": {"level": "WARNING"}})
logger_class = LOGGER_CLASS

_log = structlog.stdlib.get_logger("tests.app")
_stdlib = logging.getLogger("tests.stdlib")


async def index(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def work(request: web.Request) -> web.Response:
    _log.info("structlog_event", answer=42)
    _stdlib.warning("a stdlib record with %s", "args")
    logging.getLogger("tests.noisy").info("filtered by the extra logger's level")
    return web.Response(text="done")


async def boom(request: web.Request) -> web.Response:
    try:
        1 / 0  # noqa: B018 - the point is the exception
    except ZeroDivisionError:
        _stdlib.exception("a stdlib record with a traceback")
    raise RuntimeError("unhandled")


def create_app() -> web.Application:
    # The factory's formatter configured structlog already; the middleware binds the
    # request id to structlog.contextvars and sets request["request_id"].
    app = web.Application(middlewares=[access_log_middleware(exclude=["/*"])])
    app.router.add_get("/", index)
    app.router.add_get("/work", work)
    app.router.add_get("/boom", boom)
    return app
