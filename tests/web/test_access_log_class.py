"""A custom ``access_log_class`` is called as aiohttp calls it."""

from __future__ import annotations

import logging
from contextvars import ContextVar
from pathlib import Path

import pytest

from runtime import web
from runtime.web.middleware import Handler
from tests.support import Connection, fetch, serve

_REQUEST_ID: ContextVar[str] = ContextVar("request_id")


async def test_a_custom_logger_is_called_whatever_the_level_and_sees_the_handlers_context() -> None:
    """It may log elsewhere than ``self.logger`` (metrics, a queue): aiohttp's
    ``AbstractAccessLogger.enabled`` is True, and log() runs in the request's context."""
    lines: list[str] = []

    class Logger(web.AbstractAccessLogger):
        def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
            lines.append(f"{response.status} {_REQUEST_ID.get('-')}")

    @web.middleware
    async def request_id(request: web.Request, handler: Handler) -> web.StreamResponse:
        _REQUEST_ID.set("abc")
        return await handler(request)

    async def ok(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application(middlewares=[request_id])
    app.router.add_get("/", ok)
    quiet = logging.getLogger("tests.quiet-access")
    quiet.setLevel(logging.WARNING)
    async with (
        serve(app, access_log=quiet, access_log_class=Logger) as port,
        await Connection.open(port) as conn,
    ):
        await conn.request()
    assert lines == ["200 abc"]


def test_the_default_logger_formats_nothing_when_its_logger_is_off() -> None:
    quiet = logging.getLogger("tests.quiet-access")
    quiet.setLevel(logging.WARNING)
    assert not web.AccessLogger(quiet).enabled
    quiet.setLevel(logging.INFO)
    assert web.AccessLogger(quiet).enabled


async def test_the_default_logger_writes_octets_that_are_not_utf8_as_escapes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A User-Agent with an octet that is not UTF-8 (obs-text, RFC 9110 5.5) reaches a log
    file as ``\\xNN``: as a lone surrogate, the handler failed to encode the whole line."""
    path = tmp_path / "access.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    log = logging.getLogger("tests.file-access")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(handler)

    async def ok(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_get("/", ok)
    try:
        async with serve(app, access_log=log, access_log_format="%{User-Agent}i|%s") as port:
            reply = await fetch(port, "GET", headers={"User-Agent": "caf\udce5 \u00e9"})
    finally:
        log.removeHandler(handler)
        handler.close()
    assert reply.status == 200
    assert path.read_text(encoding="utf-8") == "caf\\xe5 \u00e9|200\n"
    assert "Logging error" not in capsys.readouterr().err
