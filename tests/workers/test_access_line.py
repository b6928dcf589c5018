"""runtime/workers/access_line.py against gunicorn itself: for every atom of gunicorn's
access log format, on requests with and without the fields they read, the line written
from the format's own atoms is the line gunicorn's ``Logger.access`` writes."""

from __future__ import annotations

import base64
import datetime
import logging
from types import SimpleNamespace
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms

from runtime.http.message import HttpVersion10, HttpVersion11, RequestMessage
from runtime.server.streams import EMPTY_PAYLOAD
from runtime.web import BaseRequest, Response
from runtime.workers.access import AccessResponse, build_environ
from runtime.workers.access_line import AccessLine, format_keys, serves

SOCKNAME = ("127.0.0.1", 8000)
ALICE = "Basic " + base64.b64encode(b"alice:secret").decode()

FORMATS = [
    Config().access_log_format,  # gunicorn's default
    " ".join(f"%({key})s" for key in "hlutrsmUqHbBfaTDMLp") + " %(D)d %(B)05d %(T)x",
    "%({X-Req}i)s|%({x-req}I)s|%({missing}i)s|%({Content-Length}o)s|%({content-type}o)s|"
    "%({x-a}o)s|%({REMOTE_PORT}e)s|%({server_name}e)s|%({http_x_a}e)s|%({nope}e)s|%(zz)s|"
    "%({}i)s|%({x}q)s|%({user-agent}i)s|%(a)s|%(a)s",
    "plain text, no atoms at all",
]

REQUESTS: list[tuple[str, str, Any, list[tuple[bytes, bytes]]]] = [
    (
        "GET",
        "/a%20b/c?x=1&y=%22#frag",
        HttpVersion11,
        [
            (b"Host", b"example.com"),
            (b"User-Agent", b'curl "7"'),
            (b"Referer", b"https://example.com/"),
            (b"X-Req", b"one"),
            (b"x-req", b"two"),
            (b"X-A", b"1"),
            (b"X-A", b"2"),
            (b"Authorization", ALICE.encode()),
        ],
    ),
    ("HEAD", "/", HttpVersion10, []),
    ("POST", "/p", HttpVersion11, [(b"Authorization", b"Basic %%%not-base64")]),
    ("GET", "/", HttpVersion11, [(b"Authorization", b"Bearer abc")]),
]


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(record.getMessage())


def make_logger(log_format: str) -> tuple[Logger, Config, Capture]:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", log_format)
    log = Logger(cfg)
    capture = Capture()
    log.access_log.handlers = [capture]
    log.access_log.propagate = False
    log.now = lambda: "[08/Dec/2026:01:02:03 +0000]"  # type: ignore[method-assign]
    return log, cfg, capture


def make_request(
    method: str, target: str, version: Any, raw: list[tuple[bytes, bytes]], peer: Any
) -> BaseRequest:
    message = RequestMessage(method, target, version, tuple(raw))
    transport = SimpleNamespace(
        get_extra_info=lambda name: SOCKNAME if name == "sockname" else None
    )
    protocol = SimpleNamespace(peername=peer, transport=transport)
    return BaseRequest(message, EMPTY_PAYLOAD, protocol, None, None, None)  # type: ignore[arg-type]


def make_response(status: int, sent: int) -> Response:
    response = Response(status=status, text="x" * sent, headers={"X-A": "o1"})
    response.headers.add("X-A", 'o"2')
    response._writer = SimpleNamespace(bytes_sent=sent)  # type: ignore[assignment]
    return response


@pytest.mark.parametrize("log_format", FORMATS)
@pytest.mark.parametrize("case", range(len(REQUESTS)))
@pytest.mark.parametrize("peer", [("10.0.0.9", 51234), None])
@pytest.mark.parametrize("elapsed", [1.234567, 0.0])
def test_the_line_is_gunicorns(log_format: str, case: int, peer: Any, elapsed: float) -> None:
    method, target, version, raw = REQUESTS[case]
    request = make_request(method, target, version, raw, peer)
    response = make_response(200 if case != 2 else 404, 13 if method != "HEAD" else 0)

    log, cfg, theirs = make_logger(log_format)
    environ = build_environ(request, SOCKNAME)
    log.access(AccessResponse(response), request, environ, datetime.timedelta(seconds=elapsed))

    log, cfg, ours = make_logger(log_format)
    assert serves(log)
    AccessLine(log, cfg).write(request, response, elapsed)

    assert ours.lines == theirs.lines
    assert len(ours.lines) == 1


def test_what_the_format_leaves_out_is_still_there_for_a_filter() -> None:
    """``record.args`` answers any atom as gunicorn's SafeAtoms would, even one the format
    does not name (computed only when asked)."""
    log, cfg, capture = make_logger("%(s)s")
    request = make_request("GET", "/x?y=1", HttpVersion11, list(REQUESTS[0][3]), ("10.0.0.9", 1))
    response = make_response(200, 13)
    AccessLine(log, cfg).write(request, response, 0.5)
    (record,) = capture.records
    args: Any = record.args
    full = SafeAtoms(
        log.atoms(
            AccessResponse(response),
            request,
            build_environ(request, SOCKNAME),
            datetime.timedelta(seconds=0.5),
        )
    )
    assert capture.lines == ["200"]
    for key in ("a", "{User-Agent}i", "{x-a}o", "{remote_port}e", "D", "h", "nope"):
        assert args[key] == full[key], key
    assert args["a"] == 'curl \\"7\\"'


def test_format_keys_are_the_ones_percent_formatting_asks_for() -> None:
    assert format_keys('%(h)s "%(r)s" %(D)d %(h)s %%(x)s') == ("h", "r", "D")
    assert format_keys("%({a(b)c}i)s") == ("{a(b)c}i",)  # nested parentheses, as % reads them
    assert format_keys("no atoms") == ()
    assert format_keys("%(a)s %s") is None  # not a mapping format: left to gunicorn


def test_a_format_percent_cannot_apply_goes_to_gunicorn() -> None:
    log, cfg, capture = make_logger("%(a)s %s")
    calls: list[Any] = []
    log.access = lambda *args: calls.append(args)  # type: ignore[method-assign]
    request = make_request("GET", "/", HttpVersion11, [], None)
    AccessLine(log, cfg).write(request, make_response(200, 1), 0.1)
    assert len(calls) == 1 and capture.lines == []


def test_only_gunicorns_own_logger_is_served() -> None:
    class Quiet(Logger):
        """A subclass that changes nothing of the access line: still served."""

    class OwnAtoms(Logger):
        def atoms(self, *args: Any) -> dict[str, Any]:
            return {}

    class OwnWrapper(Logger):
        atoms_wrapper_class = dict

    assert serves(Logger(Config())) and serves(Quiet(Config()))
    assert not serves(OwnAtoms(Config()))
    assert not serves(OwnWrapper(Config()))
    assert not serves(SimpleNamespace(access=Logger.access))


# Octets that are not UTF-8 (obs-text, RFC 9110 5.5) next to UTF-8 text: Berth's headers
# hold the former as lone surrogates. gunicorn's own workers decode every field as
# ISO-8859-1, one character per octet, and so must the line.
NOT_UTF8 = [
    (b"Host", b"example.com"),
    (b"User-Agent", b"caf\xe5\xff"),
    (b"Referer", b"https://example.com/caf\xc3\xa9"),
    (b"X-Req", b"\xe5"),
]
NOT_UTF8_FORMAT = '%(a)s|%(f)s|%({x-req}i)s|%({http_user_agent}e)s|"%(r)s"'


def test_octets_that_are_not_utf8_are_logged_as_gunicorn_logs_them() -> None:
    request = make_request("GET", "/", HttpVersion11, NOT_UTF8, ("10.0.0.9", 51234))
    log, cfg, ours = make_logger(NOT_UTF8_FORMAT)
    AccessLine(log, cfg).write(request, make_response(200, 1), 0.5)
    agent, referer = b"caf\xe5\xff".decode("latin-1"), "https://example.com/caf\xc3\xa9"
    assert ours.lines == [f'{agent}|{referer}|\xe5|{agent}|"GET / HTTP/1.1"']
    ours.lines[0].encode("utf-8")  # a log file can hold it


def test_through_gunicorns_own_access_the_environ_has_the_same_text() -> None:
    # The path for other loggers (StatsD, a format % cannot apply): gunicorn reads the
    # environ Berth builds.
    request = make_request("GET", "/", HttpVersion11, NOT_UTF8, ("10.0.0.9", 51234))
    environ = build_environ(request, SOCKNAME)
    assert environ["HTTP_USER_AGENT"] == "caf\xe5\xff"
    assert environ["HTTP_REFERER"] == "https://example.com/caf\xc3\xa9"
    log, _, theirs = make_logger("%(a)s|%(f)s|%({http_x_req}e)s")
    log.access(AccessResponse(make_response(200, 1)), request, environ, datetime.timedelta())
    assert theirs.lines == ["caf\xe5\xff|https://example.com/caf\xc3\xa9|\xe5"]


def test_the_line_reaches_an_access_log_file(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before, the handler failed to encode the line: lost, and a traceback on stderr.
    path = tmp_path / "access.log"
    cfg = Config()
    cfg.set("accesslog", str(path))
    cfg.set("access_log_format", NOT_UTF8_FORMAT)
    log = Logger(cfg)
    try:
        request = make_request("GET", "/", HttpVersion11, NOT_UTF8, ("10.0.0.9", 51234))
        AccessLine(log, cfg).write(request, make_response(200, 1), 0.5)
    finally:
        for handler in log.access_log.handlers:
            handler.close()
    written = path.read_bytes()
    assert written.startswith("caf\xe5\xff|".encode())
    assert "Logging error" not in capsys.readouterr().err
