"""``middlewares.access_logging``: access events, request-scoped context, request ids, errors.

Everything goes through a real server on loopback; log lines are captured as the JSON
renderer writes them, so the tests see exactly what production would log.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import logging.config
import random
import re
import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from middlewares import access_logging
from middlewares.access_logging import access_log_middleware, configure, make_formatter
from runtime import web
from tests.support import Connection, fetch, serve
from tests.web.routing_support import make_request

HEX32 = re.compile(r"[0-9a-f]{32}")


class ListHandler(logging.Handler):
    """Keeps each formatted line, parsed back from JSON when the renderer is JSON."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines]

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


@contextlib.contextmanager
def configured(**options: Any) -> Iterator[None]:
    """``configure(renderer="json", cache_loggers=False, **options)``, undone afterwards."""
    root = logging.getLogger()
    level = root.level
    configure(renderer="json", cache_loggers=False, **options)
    try:
        yield
    finally:
        for installed in [h for h in root.handlers if h.get_name() == "berth-structlog"]:
            root.removeHandler(installed)
        root.setLevel(level)
        structlog.reset_defaults()


@pytest.fixture
def logs() -> Iterator[ListHandler]:
    handler = ListHandler()
    with configured(handler=handler):
        yield handler


async def settle() -> None:
    """Let the handler tasks' done-callbacks (which log the access events) run."""
    for _ in range(5):
        await asyncio.sleep(0)


def make_app(*middlewares: Any, **options: Any) -> web.Application:
    inner = structlog.stdlib.get_logger("tests.app")
    plain = logging.getLogger("tests.plain")

    async def hello(request: web.Request) -> web.StreamResponse:
        inner.info("inside", user="alice")
        plain.warning("plain stdlib line")
        return web.Response(text="hello world")

    async def item(request: web.Request) -> web.StreamResponse:
        return web.Response(text=request.match_info["id"])

    async def boom(request: web.Request) -> web.StreamResponse:
        raise RuntimeError("kaboom")

    async def missing(request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound(text="no such thing")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(3):
            await response.write(b"x" * 1000)
        return response

    async def snapshot(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(random.random() / 100)
        structlog.stdlib.get_logger("tests.app").info("snapshot")
        return web.json_response(structlog.contextvars.get_contextvars())

    app = web.Application(middlewares=[*middlewares, access_log_middleware(**options)])
    app.router.add_get("/hello", hello, name="hello")
    app.router.add_get("/items/{id}", item)
    app.router.add_get("/boom", boom)
    app.router.add_get("/missing", missing)
    app.router.add_get("/stream", stream)
    app.router.add_get("/snapshot", snapshot, name="snapshot")
    app.router.add_get("/healthz", hello)
    app.router.add_get("/internal/status", hello)
    return app


# -- the access event -------------------------------------------------------------------------


async def test_one_access_event_with_every_field(logs: ListHandler) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/hello?token=secret", [("User-Agent", "probe/1.0")])
        await settle()
    assert reply.status == 200
    [event] = logs.named("request")
    assert event == {
        "event": "request",
        "method": "GET",
        "path": "/hello",
        "route": "hello",
        "status": 200,
        "duration_ms": event["duration_ms"],
        "bytes": len(b"hello world"),
        "remote": "127.0.0.1",
        "user_agent": "probe/1.0",
        "request_id": reply.headers["X-Request-ID"],
        "level": "info",
        "logger": "berth.access",
        "timestamp": event["timestamp"],
    }
    assert isinstance(event["duration_ms"], float) and event["duration_ms"] >= 0
    assert "secret" not in "".join(logs.lines)  # the query string is never logged


async def test_route_is_the_pattern_for_unnamed_routes_and_none_for_404(logs: ListHandler) -> None:
    async with serve(make_app()) as port:
        await fetch(port, "GET", "/items/42")
        await fetch(port, "GET", "/nowhere")
        await fetch(port, "GET", "/missing")
        await settle()
    item, nowhere, missing = logs.named("request")
    assert (item["route"], item["status"], item["bytes"]) == ("/items/{id}", 200, 2)
    assert (nowhere["route"], nowhere["status"]) == (None, 404)
    assert (missing["route"], missing["status"], missing["bytes"]) == ("/missing", 404, 13)


async def test_streamed_and_head_responses_count_the_bytes_actually_sent(logs: ListHandler) -> None:
    async with serve(make_app()) as port:
        streamed = await fetch(port, "GET", "/stream")
        await fetch(port, "HEAD", "/hello")
        await settle()
    assert streamed.body == b"x" * 3000
    stream, head = logs.named("request")
    assert (stream["bytes"], head["bytes"], head["method"]) == (3000, 0, "HEAD")


async def test_excluded_paths_have_no_access_event_but_keep_the_request_id(
    logs: ListHandler,
) -> None:
    app = make_app(exclude=["/healthz", "/internal/*"])
    async with serve(app) as port:
        health = await fetch(port, "GET", "/healthz")
        await fetch(port, "GET", "/internal/status")
        await fetch(port, "GET", "/hello")
        await settle()
    assert HEX32.fullmatch(health.headers["X-Request-ID"])
    assert [e["path"] for e in logs.named("request")] == ["/hello"]


class RecordingLogger:
    """A logger that says whether info is enabled (``is_enabled_for``, as structlog's loggers
    do) and records the events it is asked to log."""

    def __init__(self, level: int) -> None:
        self.level = level
        self.events: list[tuple[str, dict[str, Any]]] = []

    def is_enabled_for(self, level: int) -> bool:
        return level >= self.level

    def info(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    error = info


async def test_below_the_level_no_access_event_is_built_and_the_id_is_still_echoed() -> None:
    logger = RecordingLogger(logging.WARNING)
    async with serve(make_app(logger=logger)) as port:
        response = await fetch(port, "GET", "/items/7")
        await settle()
        assert HEX32.fullmatch(response.headers["X-Request-ID"])
        assert logger.events == []  # not even handed to the logger to drop
        logger.level = logging.INFO  # levels can change while the server runs
        await fetch(port, "GET", "/items/8")
        await settle()
        await fetch(port, "GET", "/boom")
        await settle()
    assert [(event, fields["path"]) for event, fields in logger.events] == [
        ("request", "/items/8"),
        ("request_failed", "/boom"),
        ("request", "/boom"),
    ]


async def test_a_logger_that_cannot_say_its_level_gets_every_event() -> None:
    logger = RecordingLogger(logging.CRITICAL)
    logger.is_enabled_for = None  # type: ignore[assignment,method-assign]
    async with serve(make_app(logger=logger)) as port:
        await fetch(port, "GET", "/items/7")
        await settle()
    assert [event for event, _ in logger.events] == ["request"]


async def test_the_stdlib_logger_level_decides_through_structlog(logs: ListHandler) -> None:
    access = logging.getLogger(access_logging.ACCESS_LOGGER_NAME)
    access.setLevel(logging.WARNING)
    try:
        async with serve(make_app()) as port:
            await fetch(port, "GET", "/items/7")
            await settle()
            assert logs.named("request") == []
            access.setLevel(logging.NOTSET)
            await fetch(port, "GET", "/items/8")
            await settle()
    finally:
        access.setLevel(logging.NOTSET)
    assert [e["path"] for e in logs.named("request")] == ["/items/8"]


async def test_client_gone_is_logged_as_499(logs: ListHandler) -> None:
    started = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    app = web.Application(middlewares=[access_log_middleware()])
    app.router.add_get("/hang", hang)
    async with serve(app, handler_cancellation=True) as port:
        conn = await Connection.open(port)
        conn.writer.write(b"GET /hang HTTP/1.1\r\nHost: x\r\n\r\n")
        await started.wait()
        # A reset, not a polite half-close: the server then sees the connection lost.
        sock = conn.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await conn.close()
        for _ in range(200):
            if logs.named("request"):
                break
            await asyncio.sleep(0.01)
    [event] = logs.named("request")
    assert (event["status"], event["bytes"]) == (499, None)


# -- request ids ---------------------------------------------------------------------------------


async def test_trusted_request_id_is_used_and_echoed(logs: ListHandler) -> None:
    nginx_id = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/hello", [("X-Request-ID", nginx_id)])
        await settle()
    assert reply.headers["X-Request-ID"] == nginx_id
    assert {e["request_id"] for e in logs.events if "request_id" in e} == {nginx_id}


async def test_untrusted_request_id_is_replaced(logs: ListHandler) -> None:
    async with serve(make_app(trust_request_id=False)) as port:
        reply = await fetch(port, "GET", "/hello", [("X-Request-ID", "chosen-by-client")])
        await settle()
    assert HEX32.fullmatch(reply.headers["X-Request-ID"])
    assert "chosen-by-client" not in "".join(logs.lines)


@pytest.mark.parametrize(
    "injected",
    [
        'abc" "status": 200',  # forge JSON-looking fields
        "abc event=request status=200",  # forge console key=value pairs
        "abc\x1b[2J",  # terminal escape
        "a" * 129,  # longer than any real id
        "-leading-dash",
        "abc;def",
        "abc=",
        " ",
        "caf\u00e9",
    ],
)
async def test_malformed_request_ids_are_never_trusted(logs: ListHandler, injected: str) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/hello", [("X-Request-ID", injected)])
        await settle()
    if "\x1b" in injected:
        # RFC 9110 5.5: control characters are not allowed in a field value; the
        # parser refuses the request before any middleware runs.
        assert reply.status == 400
        return
    assert reply.status == 200
    assert HEX32.fullmatch(reply.headers["X-Request-ID"])
    [event] = logs.named("request")
    assert event["request_id"] == reply.headers["X-Request-ID"]
    assert injected.strip() not in "".join(logs.lines) or not injected.strip()


async def test_custom_header_pattern_and_generator() -> None:
    ids = iter(["gen-1", "gen-2"])
    app = make_app(
        request_id_header="X-Trace",
        request_id_pattern=r"t-[0-9]{4}",
        generate_request_id=lambda: next(ids),
    )
    async with serve(app) as port:
        good = await fetch(port, "GET", "/hello", [("X-Trace", "t-1234")])
        bad = await fetch(port, "GET", "/hello", [("X-Trace", "t-12345")])
        none = await fetch(port, "GET", "/hello")
    assert [good.headers["X-Trace"], bad.headers["X-Trace"], none.headers["X-Trace"]] == [
        "t-1234",
        "gen-1",
        "gen-2",
    ]
    assert "X-Request-ID" not in good.headers


# -- request-scoped context -------------------------------------------------------------------


async def test_every_line_logged_during_the_request_carries_its_id_and_route(
    logs: ListHandler,
) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/hello")
        await settle()
    rid = reply.headers["X-Request-ID"]
    inside = logs.named("inside")[0]
    plain = logs.named("plain stdlib line")[0]
    assert (inside["request_id"], inside["route"], inside["user"]) == (rid, "hello", "alice")
    assert (plain["request_id"], plain["route"], plain["level"]) == (rid, "hello", "warning")


@web.middleware
async def context_probe(request: web.Request, handler: Any) -> web.StreamResponse:
    """Installed outside the access log: the context must be empty before and after it."""
    before = dict(structlog.contextvars.get_contextvars())
    response: web.StreamResponse = await handler(request)
    after = dict(structlog.contextvars.get_contextvars())
    response.headers["X-Before"] = json.dumps(before)
    response.headers["X-After"] = json.dumps(after)
    return response


async def test_nothing_leaks_across_keep_alive_requests(logs: ListHandler) -> None:
    async with serve(make_app(context_probe)) as port:
        conn = await Connection.open(port)
        replies = [
            await conn.request("GET", "/snapshot", [("X-Request-ID", "first-0001")]),
            await conn.request("GET", "/snapshot"),
            await conn.request("GET", "/items/7"),
            await conn.request("GET", "/snapshot", [("X-Request-ID", "third-0003")]),
        ]
        await conn.close()
        await settle()
    assert [r.status for r in replies] == [200] * 4
    for reply in replies:
        assert reply.headers["X-Before"] == "{}" == reply.headers["X-After"]
    snapshots = [json.loads(r.body) for r in replies if r.headers["Content-Type"].startswith("app")]
    assert snapshots == [
        {"request_id": "first-0001", "route": "snapshot"},
        {"request_id": replies[1].headers["X-Request-ID"], "route": "snapshot"},
        {"request_id": "third-0003", "route": "snapshot"},
    ]
    assert [e["request_id"] for e in logs.named("snapshot")] == [
        "first-0001",
        replies[1].headers["X-Request-ID"],
        "third-0003",
    ]


async def test_nothing_leaks_between_concurrent_requests(logs: ListHandler) -> None:
    ids = [f"req-{n:04d}" for n in range(40)]
    async with serve(make_app(context_probe)) as port:
        replies = await asyncio.gather(
            *(fetch(port, "GET", "/snapshot", [("X-Request-ID", rid)]) for rid in ids)
        )
        await settle()
    for rid, reply in zip(ids, replies, strict=True):
        assert json.loads(reply.body) == {"request_id": rid, "route": "snapshot"}
        assert reply.headers["X-Before"] == "{}" == reply.headers["X-After"]
    assert sorted(e["request_id"] for e in logs.named("snapshot")) == ids
    access = {e["request_id"]: e for e in logs.named("request")}
    assert sorted(access) == ids


async def test_context_is_reset_even_when_requests_share_a_task(logs: ListHandler) -> None:
    # The server gives each request a task (and so a context copy) of its own; this checks
    # the middleware's own reset, with two requests handled in this one task.
    app = make_app()
    app.freeze()
    for rid in ("shared-task-1", "shared-task-2"):
        request = make_request("GET", "/items/1", {"X-Request-ID": rid})
        await app._handle(request.clone(remote="192.0.2.1"))  # type: ignore[arg-type]
        assert structlog.contextvars.get_contextvars() == {}


# -- errors --------------------------------------------------------------------------------------


async def test_unhandled_exception_is_logged_once_with_a_structured_traceback(
    logs: ListHandler,
) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/boom", [("X-Request-ID", "err-0001")])
        await settle()
    assert reply.status == 500
    [failure] = logs.named("request_failed")
    assert (failure["level"], failure["request_id"], failure["route"]) == (
        "error",
        "err-0001",
        "/boom",
    )
    [exc] = failure["exception"]
    assert (exc["exc_type"], exc["exc_value"]) == ("RuntimeError", "kaboom")
    assert exc["frames"][-1]["name"] == "boom"
    [access] = logs.named("request")
    assert (access["status"], access["request_id"]) == (500, "err-0001")


async def test_the_exception_is_marked_as_logged_and_reraised() -> None:
    app = make_app()
    app.freeze()
    with pytest.raises(RuntimeError) as info:
        await app._handle(make_request("GET", "/boom").clone(remote="192.0.2.1"))  # type: ignore[arg-type]
    assert getattr(info.value, access_logging.LOGGED_MARKER) is True


async def test_the_server_does_not_log_a_marked_exception_twice(logs: ListHandler) -> None:
    async with serve(make_app()) as port:
        await fetch(port, "GET", "/boom")
        await settle()
    tracebacks = [e for e in logs.events if "exception" in e]
    assert [e["event"] for e in tracebacks] == ["request_failed"]


async def test_http_exceptions_carry_the_request_id_and_are_not_errors(logs: ListHandler) -> None:
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/missing", [("X-Request-ID", "nf-0001")])
        await settle()
    assert (reply.status, reply.headers["X-Request-ID"]) == (404, "nf-0001")
    assert logs.named("request_failed") == []


# -- configuration ------------------------------------------------------------------------


async def test_console_renderer(logs: ListHandler) -> None:
    handler = ListHandler()
    configure(renderer="console", handler=handler, cache_loggers=False, colors=False)
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/hello")
        await settle()
    line = next(line for line in handler.lines if "request " in line and "status" in line)
    assert reply.headers["X-Request-ID"] in line
    assert "\x1b[" not in line


def test_configure_twice_replaces_its_handler(logs: ListHandler) -> None:
    first = configure(renderer="json", cache_loggers=False)
    second = configure(renderer="json", cache_loggers=False)
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "berth-structlog"]
    assert ours == [second] and first is not second


def test_configure_without_a_handler_leaves_logging_alone() -> None:
    before = list(logging.getLogger().handlers)
    try:
        assert configure(install_handler=False, cache_loggers=False) is None
        assert logging.getLogger().handlers == before
    finally:
        structlog.reset_defaults()


def test_unknown_renderer_is_refused() -> None:
    with pytest.raises(ValueError, match="renderer"):
        make_formatter("xml")  # type: ignore[arg-type]


async def test_make_formatter_works_from_dict_config() -> None:
    # What a gunicorn logconfig_dict does: a formatter made by the factory named in "()".
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {
                "structlog": {
                    "()": "middlewares.access_logging.make_formatter",
                    "renderer": "json",
                }
            },
            "handlers": {"capture": {"()": ListHandler, "formatter": "structlog"}},
            "loggers": {
                "berth.access": {"handlers": ["capture"], "level": "INFO", "propagate": False}
            },
        }
    )
    access = logging.getLogger("berth.access")
    [handler] = access.handlers
    assert isinstance(handler, ListHandler)
    try:
        configure(install_handler=False, cache_loggers=False)
        async with serve(make_app()) as port:
            await fetch(port, "GET", "/hello")
            await settle()
        [event] = handler.named("request")
        assert (event["route"], event["logger"]) == ("hello", "berth.access")
    finally:
        access.handlers.clear()
        access.propagate = True
        access.setLevel(logging.NOTSET)
        structlog.reset_defaults()


# -- direct_stream: structlog's events skip the standard library ------------------------------


@pytest.fixture
def direct() -> Iterator[tuple[io.StringIO, ListHandler]]:
    """``configure(direct_stream=...)``: structlog lines in the stream, plain ``logging``
    records in the handler."""
    stream, handler = io.StringIO(), ListHandler()
    with configured(handler=handler, direct_stream=stream):
        yield stream, handler


def stream_events(stream: io.StringIO, name: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [e for e in events if e["event"] == name]


async def test_direct_stream_writes_the_same_events_without_logging(
    direct: tuple[io.StringIO, ListHandler],
) -> None:
    stream, handler = direct
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/hello", [("User-Agent", "probe/1.0")])
        await settle()
    request_id = reply.headers["X-Request-ID"]
    [event] = stream_events(stream, "request")
    assert event == {
        "event": "request",
        "method": "GET",
        "path": "/hello",
        "route": "hello",
        "status": 200,
        "duration_ms": event["duration_ms"],
        "bytes": len(b"hello world"),
        "remote": "127.0.0.1",
        "user_agent": "probe/1.0",
        "request_id": request_id,
        "level": "info",
        "logger": "berth.access",
        "timestamp": event["timestamp"],
    }
    [inside] = stream_events(stream, "inside")  # the app's own structlog line
    assert (inside["logger"], inside["request_id"], inside["user"]) == (
        "tests.app",
        request_id,
        "alice",
    )
    # Plain logging records still go through the handler, with the request's context.
    [plain] = handler.named("plain stdlib line")
    assert (plain["request_id"], plain["level"]) == (request_id, "warning")
    assert not handler.named("request")  # structlog's events did not go through logging


async def test_direct_stream_keeps_structured_tracebacks(
    direct: tuple[io.StringIO, ListHandler],
) -> None:
    stream, _ = direct
    async with serve(make_app()) as port:
        reply = await fetch(port, "GET", "/boom", [("X-Request-ID", "err-0002")])
        await settle()
    assert reply.status == 500
    [failure] = stream_events(stream, "request_failed")
    assert (failure["level"], failure["request_id"]) == ("error", "err-0002")
    [exc] = failure["exception"]
    assert (exc["exc_type"], exc["exc_value"]) == ("RuntimeError", "kaboom")


async def test_direct_stream_filters_by_level() -> None:
    stream = io.StringIO()
    with configured(install_handler=False, direct_stream=stream, level="WARNING"):
        async with serve(make_app()) as port:
            await fetch(port, "GET", "/hello")
            await fetch(port, "GET", "/boom")
            await settle()
    assert not stream_events(stream, "request")  # info: below the level
    assert len(stream_events(stream, "request_failed")) == 1  # error: above it
