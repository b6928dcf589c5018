"""One log shape (docs/observability.md): ``runtime.workers.logconfig_dict`` and
``StructuredLogger`` under a real gunicorn, and the factory's dict on its own."""

from __future__ import annotations

import datetime
import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from runtime.workers import LOGGER_CLASS, StructuredLogger, logconfig_dict
from runtime.workers.logconfig import HANDLER_NAME, access_fields, make_formatter
from tests.workers.harness import Launcher, get, wait_for

CORE = {"timestamp", "level", "logger", "event", "pid"}
CONFIG = "python:tests.workers.apps.one_log_shape"
TARGET = "tests.workers.apps.one_log_shape:create_app"


def _lines(text: str) -> list[dict[str, Any]]:
    """Every line on stderr, parsed: a line that is not JSON fails the test."""
    parsed = []
    for line in text.splitlines():
        try:
            parsed.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\n{text}") from None
    return parsed


@pytest.mark.slow
def test_every_line_on_stderr_is_json_with_the_same_core_keys(gunicorn: Launcher) -> None:
    instance = gunicorn("-c", CONFIG, "-w", "2", target=TARGET).start().wait_ready()
    headers = {"X-Request-ID": "req-abc.123", "User-Agent": "agent/1.0", "Referer": "http://r/"}
    reply = get(instance.address, "/work?token=secret", headers)
    assert reply.status == 200
    assert reply.headers["X-Request-ID"] == "req-abc.123"
    assert get(instance.address, "/boom", {"X-Request-ID": "req-boom"}).status == 500
    wait_for(lambda: '"path": "/work"' in instance.stderr, 5, "the access line")
    wait_for(lambda: '"path": "/boom"' in instance.stderr, 5, "the failed request's line")
    wait_for(lambda: instance.stderr.count("Booting worker") == 2, 10, "both workers")
    instance.signal(15)
    assert instance.wait(15) == 0
    assert instance.stdout == ""
    lines = _lines(instance.stderr)
    for line in lines:
        assert CORE <= line.keys(), line
        assert line["timestamp"].endswith("Z")

    by_logger: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_logger.setdefault(line["logger"], []).append(line)
    # gunicorn's own error log: the master and both workers.
    booted = [line for line in by_logger["gunicorn.error"] if "Booting worker" in line["event"]]
    assert len({line["pid"] for line in booted}) == 2
    assert all(line["level"] == "info" for line in booted)

    (event,) = by_logger["tests.app"]
    record, traceback = by_logger["tests.stdlib"]
    # Tracebacks are data in the line, not lines of their own; the request id is there too.
    assert traceback["event"] == "a stdlib record with a traceback"
    assert traceback["level"] == "error" and traceback["request_id"] == "req-boom"
    assert traceback["exception"][0]["exc_type"] == "ZeroDivisionError"
    (failed,) = by_logger["berth.access"]
    assert failed["event"] == "request_failed" and failed["request_id"] == "req-boom"
    assert failed["exception"][0]["exc_type"] == "RuntimeError"
    boom = [line for line in by_logger["gunicorn.access"] if line["path"] == "/boom"]
    assert [(line["status"], line["request_id"]) for line in boom] == [(500, "req-boom")]
    assert "tests.noisy" not in by_logger  # the extra logger's level applies
    assert event == {**event, "event": "structlog_event", "answer": 42, "level": "info"}
    assert record == {**record, "event": "a stdlib record with args", "level": "warning"}
    for line in (event, record):
        assert line["request_id"] == "req-abc.123"
        assert line["route"] == "/work"

    (access,) = [line for line in by_logger["gunicorn.access"] if line["path"] == "/work"]
    assert access == {
        **access,
        "event": "request",
        "level": "info",
        "method": "GET",
        "path": "/work",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 4,
        "remote": "127.0.0.1",
        "user_agent": "agent/1.0",
        "referer": "http://r/",
        "request_id": "req-abc.123",
    }
    assert "secret" not in json.dumps(access)  # the query string is left out
    assert access["duration_ms"] >= 0
    assert access["pid"] == event["pid"] == record["pid"]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """dictConfig changes process-wide state: put the root and the named loggers back."""
    names = ["gunicorn.error", "gunicorn.access", "runtime", "extra"]
    saved = {
        name: (lg.handlers[:], lg.level, lg.propagate)
        for name, lg in ((n, logging.getLogger(n)) for n in [*names, ""])
    }
    try:
        yield
    finally:
        for name, (handlers, level, propagate) in saved.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate = propagate


def test_extra_loggers_keep_gunicorns_loggers(restore_logging: None) -> None:
    config = logconfig_dict(
        json=True,
        extra_loggers={
            "extra": {"level": "DEBUG"},
            "gunicorn.error": {"level": "WARNING"},
        },
    )
    loggers = config["loggers"]
    assert loggers["gunicorn.access"]["handlers"] == [HANDLER_NAME]
    assert loggers["gunicorn.error"] == {
        "level": "WARNING",  # the user's key wins ...
        "handlers": [HANDLER_NAME],  # ... and the factory's others stay
        "propagate": False,
    }
    assert loggers["extra"] == {"level": "DEBUG"}
    assert config["root"]["handlers"] == [HANDLER_NAME]
    logging.config.dictConfig(config)
    assert logging.getLogger("gunicorn.access").handlers[0].get_name() == HANDLER_NAME
    assert logging.getLogger("gunicorn.error").level == logging.WARNING
    assert logging.getLogger("extra").level == logging.DEBUG
    # Each call is a new dict: changing one changes no other.
    assert logconfig_dict()["loggers"]["gunicorn.error"]["level"] == "INFO"


def test_access_log_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert logconfig_dict(access_log=False)["loggers"]["gunicorn.access"]["level"] == "WARNING"

    class Quiet(StructuredLogger):
        def __init__(self) -> None:  # no gunicorn config: only what access() reads
            self._access_log_enabled = True
            self.access_log = logging.getLogger("tests.quiet.access")
            self.access_log.setLevel(logging.WARNING)

    def boom(*args: Any) -> dict[str, Any]:
        raise AssertionError("fields built for a silenced access log")

    monkeypatch.setattr("runtime.workers.logconfig.access_fields", boom)
    Quiet().access(None, None, {}, datetime.timedelta())


def _render(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.handle(record)
    return stream.getvalue()


def _access_record() -> logging.LogRecord:
    class Resp:
        status = "404 Not Found"
        sent = 9
        headers = [("Content-Type", "text/plain"), ("X-Request-ID", "from-header")]

    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/missing",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
    }
    fields = access_fields(Resp(), {}, environ, datetime.timedelta(microseconds=1500))
    record = logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, "request", (), None)
    record.berth_fields = fields
    return record


def test_access_fields_and_json_lines() -> None:
    line = json.loads(
        _render(make_formatter(json=True, configure_structlog=False), _access_record())
    )
    assert line == {
        **line,
        "event": "request",
        "logger": "gunicorn.access",
        "status": 404,
        "bytes": 9,
        "duration_ms": 1.5,
        "remote": "203.0.113.9",
        "user_agent": None,
        "request_id": "from-header",
    }


def test_console_lines_are_not_json() -> None:
    formatter = make_formatter(json=False, colors=False, configure_structlog=False)
    text = _render(formatter, _access_record())
    assert "\x1b[" not in text
    assert "request" in text and "status=404" in text and "path=/missing" in text
    assert "gunicorn.access" in text
    with pytest.raises(ValueError):
        json.loads(text)
    structlog.contextvars.bind_contextvars(request_id="ctx-1")
    try:
        record = logging.LogRecord("app", logging.WARNING, __file__, 1, "hi %s", ("x",), None)
        text = _render(formatter, record)
    finally:
        structlog.contextvars.clear_contextvars()
    assert "hi x" in text and "request_id=ctx-1" in text and "warning" in text
    config = logconfig_dict(json=False, colors=False)
    assert config["formatters"]["berth"] == {
        "()": "runtime.workers.logconfig.make_formatter",
        "json": False,
        "colors": False,
    }


def test_logger_class_setting_names_the_class() -> None:
    module, _, name = LOGGER_CLASS.rpartition(".")
    assert getattr(__import__(module, fromlist=[name]), name) is StructuredLogger
