"""Focused RequestParser tests the corpus format does not express well: configured limits,
data dribbled in many segments, ``in_head``, the upgrade tail, and the parser after an error.
The request corpus itself is replayed by test_corpus.py."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from runtime.http.errors import (
    BadHttpMessage,
    BadStatusLine,
    HeadersTooLarge,
    HttpProcessingError,
    LineTooLong,
    VersionNotSupported,
)
from runtime.http.message import HttpVersion, HttpVersion10, HttpVersion11
from runtime.http.parser import Limits, RequestParser, _line_version
from tests.http.corpus import Recorder, replay, split

KB = 1024
MB = 1024 * KB
GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"
CHUNKED_HEAD = b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
WS_HEAD = (
    b"GET /chat HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n"
    b"Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)


def make(limits: Limits | None = None) -> tuple[RequestParser, Recorder]:
    recorder = Recorder()
    return RequestParser(recorder, limits), recorder


def dribble(
    parser: RequestParser, prefix: bytes, filler: bytes, total: int, piece: int
) -> tuple[HttpProcessingError | None, int]:
    """Feed ``prefix``, then ``total`` bytes of ``filler`` in ``piece``-sized segments.

    Returns the error raised (if any) and how many filler bytes had been fed by then.
    """
    parser.feed(prefix)
    fed = 0
    while fed < total:
        try:
            parser.feed(filler * piece)
        except HttpProcessingError as exc:
            return exc, fed + piece
        fed += piece
    return None, fed


def feed_all(parser: RequestParser, pieces: Iterable[bytes]) -> None:
    for piece in pieces:
        assert parser.feed(piece) is None


# -- limits -------------------------------------------------------------------------------


def test_default_limits_are_gunicorns() -> None:
    assert Limits() == Limits(max_line_size=8190, max_field_size=8190, max_headers=100)


@pytest.mark.parametrize("mode", ["whole", "bytewise", "seed-7"])
def test_small_line_limit(mode: str) -> None:
    limits = Limits(max_line_size=100)
    ok = replay(split(b"GET /" + b"a" * 50 + b" HTTP/1.1\r\nHost: h\r\n\r\n", mode), limits)
    assert ok.error is None
    assert [m.target for m in ok.outcome.messages] == [b"/" + b"a" * 50]

    too_long = replay(split(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: h\r\n\r\n", mode), limits)
    assert isinstance(too_long.error, LineTooLong)
    assert too_long.outcome.status == 414
    assert too_long.outcome.messages == ()


@pytest.mark.parametrize("mode", ["whole", "bytewise", "seed-7"])
def test_small_field_limit(mode: str) -> None:
    limits = Limits(max_field_size=100)
    short = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: " + b"v" * 50 + b"\r\n\r\n"
    assert replay(split(short, mode), limits).error is None

    long = b"GET / HTTP/1.1\r\nHost: h\r\nX-A: " + b"v" * 200 + b"\r\n\r\n"
    too_long = replay(split(long, mode), limits)
    assert isinstance(too_long.error, HeadersTooLarge)
    assert too_long.outcome.status == 431


@pytest.mark.parametrize("mode", ["whole", "bytewise"])
def test_small_header_count_limit(mode: str) -> None:
    limits = Limits(max_headers=3)
    three = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"
    assert replay(split(three, mode), limits).error is None
    four = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"
    result = replay(split(four, mode), limits)
    assert isinstance(result.error, HeadersTooLarge)


def test_header_count_limit_applies_per_message() -> None:
    # Two pipelined requests of 3 fields each under max_headers=3: the count restarts.
    limits = Limits(max_headers=3)
    one = b"GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"
    result = replay([one + one], limits)
    assert result.error is None
    assert len(result.outcome.messages) == 2


def test_header_count_at_default_limit() -> None:
    head = b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: v\r\n" * 99 + b"\r\n"
    result = replay([head])
    assert result.error is None
    assert len(result.outcome.messages[0].headers) == 100


@pytest.mark.parametrize("piece", [1 * KB, 64 * KB])
def test_line_limit_zero_means_unlimited(piece: int) -> None:
    parser, recorder = make(Limits(max_line_size=0))
    target = b"/" + b"a" * (100 * KB)
    data = b"GET " + target + b" HTTP/1.1\r\nHost: h\r\n\r\n"
    feed_all(parser, (data[i : i + piece] for i in range(0, len(data), piece)))
    assert [m.target for m in recorder.messages()] == [target]


def test_line_limit_zero_keeps_field_limit() -> None:
    parser, _ = make(Limits(max_line_size=0))
    error, _ = dribble(parser, b"GET / HTTP/1.1\r\nHost: h\r\nX-A: ", b"v", 1 * MB, 1 * KB)
    assert isinstance(error, HeadersTooLarge)


# -- limits hold across segments ----------------------------------------------------------


def test_megabyte_header_value_in_1kb_pieces_is_refused_early() -> None:
    parser, recorder = make()
    error, fed = dribble(parser, b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: ", b"v", 1 * MB, 1 * KB)
    assert isinstance(error, HeadersTooLarge)
    assert error.status == 431
    # Refused once the field cannot fit any more, not after buffering the whole megabyte.
    assert fed <= 8190 + 2 * KB
    assert len(recorder) == 0


def test_megabyte_header_name_in_1kb_pieces_is_refused_early() -> None:
    parser, _ = make()
    error, fed = dribble(parser, b"GET / HTTP/1.1\r\nHost: h\r\nX-", b"n", 1 * MB, 1 * KB)
    assert isinstance(error, HeadersTooLarge)
    assert fed <= 8190 + 2 * KB


def test_megabyte_first_header_in_1kb_pieces_is_431_not_414() -> None:
    # The request-line is complete; the endless bytes belong to a header field (RFC 6585 5).
    parser, _ = make()
    error, fed = dribble(parser, b"GET / HTTP/1.1\r\nX-Big: ", b"v", 1 * MB, 1 * KB)
    assert isinstance(error, HeadersTooLarge), repr(error)
    assert fed <= 8190 + 2 * KB


def test_megabyte_target_in_1kb_pieces_is_refused_early() -> None:
    parser, _ = make()
    error, fed = dribble(parser, b"GET /", b"a", 1 * MB, 1 * KB)
    assert isinstance(error, LineTooLong)
    assert error.status == 414
    assert fed <= 8190 + 2 * KB


def test_megabyte_trailer_value_in_1kb_pieces_is_refused_early() -> None:
    # Trailer fields are field lines too (RFC 9112 7.1.2): the same bound must hold, or a
    # client can make the server buffer an endless trailer.
    parser, recorder = make()
    error, fed = dribble(parser, CHUNKED_HEAD + b"0\r\nX-Big: ", b"v", 1 * MB, 1 * KB)
    assert isinstance(error, HeadersTooLarge), repr(error)
    assert fed <= 8190 + 2 * KB, f"refused only after {fed} bytes"
    assert recorder.messages()[0].complete is False


def test_unfinished_field_in_first_segment_is_refused_by_the_next() -> None:
    # The segment that starts a message already holds an over-long unfinished field: it is
    # refused at once or on the next byte, not after another field's worth of bytes.
    parser, _ = make()
    first = b"GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + b"v" * (20 * KB)
    with pytest.raises(HeadersTooLarge):
        parser.feed(first)
        parser.feed(b"v")


def test_long_body_is_not_limited_by_head_limits() -> None:
    parser, recorder = make(Limits(max_line_size=100, max_field_size=100, max_headers=3))
    body = b"x" * (256 * KB)
    head = b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % len(body)
    feed_all(parser, [head, *(body[i : i + KB] for i in range(0, len(body), KB))])
    [message] = recorder.messages()
    assert message.complete
    assert message.body == body


def test_long_chunked_body_is_not_limited_by_head_limits() -> None:
    parser, recorder = make(Limits(max_field_size=100))
    chunk = b"y" * (64 * KB)
    data = CHUNKED_HEAD + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 4 + b"0\r\n\r\n"
    feed_all(parser, (data[i : i + 1000] for i in range(0, len(data), 1000)))
    [message] = recorder.messages()
    assert message.complete
    assert message.body == chunk * 4


# -- error classes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error_class", "status"),
    [
        (b"G(T / HTTP/1.1\r\nHost: h\r\n\r\n", BadStatusLine, 400),
        (b"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", BadStatusLine, 400),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX : v\r\n\r\n", BadHttpMessage, 400),
        (b"GET / HTTP/1.1\r\n\r\n", BadHttpMessage, 400),
        (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n", LineTooLong, 414),
        (b"GET / HTTP/1.1\r\nHost: h\r\nX: " + b"v" * 9000 + b"\r\n\r\n", HeadersTooLarge, 431),
        (b"GET / HTTP/2.0\r\nHost: h\r\n\r\n", VersionNotSupported, 505),
    ],
    ids=["method", "target", "space-before-colon", "no-host", "line", "field", "version"],
)
def test_error_class_and_status(
    data: bytes, error_class: type[HttpProcessingError], status: int
) -> None:
    parser, _ = make()
    with pytest.raises(error_class) as info:
        parser.feed(data)
    assert info.value.status == status
    assert info.value.message


@pytest.mark.parametrize(
    ("version", "status", "message"),
    [
        (b"HTTP/3.0", 505, "HTTP/3.0 is not supported"),
        (b"HTTP/0.9", 400, "The request line has no HTTP/1.x version"),
        (b"HTTP/1.x", 400, "Invalid minor version"),
        (b"HTTX/1.1", 400, "Expected HTTP/, RTSP/ or ICE/"),
        (b"HTTP/11", 400, "Expected dot"),
    ],
)
def test_version_errors_say_which_rule(version: bytes, status: int, message: str) -> None:
    # RFC 9110 15.6.6: 505 names a well-formed version we do not speak; anything that is not
    # HTTP-name "/" DIGIT "." DIGIT (RFC 9112 2.3) is a 400 that says what is wrong.
    parser, _ = make()
    with pytest.raises(HttpProcessingError) as info:
        parser.feed(b"GET / " + version + b"\r\nHost: h\r\n\r\n")
    assert (info.value.status, info.value.message) == (status, message)
    assert isinstance(info.value, VersionNotSupported) == (status == 505)


# -- in_head --------------------------------------------------------------------------------


def test_in_head_tracks_an_unfinished_head() -> None:
    parser, _ = make()
    assert not parser.in_head
    parser.feed(b"G")
    assert parser.in_head
    parser.feed(b"ET / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n")
    assert parser.in_head
    parser.feed(b"\r\n")
    assert not parser.in_head  # the head is complete; waiting for the body is not "in head"
    parser.feed(b"ab")
    assert not parser.in_head
    parser.feed(b"c")
    assert not parser.in_head  # idle between requests
    parser.feed(b"GET /next HTTP/1.1\r\n")
    assert parser.in_head  # the next pipelined head has begun


def test_in_head_false_after_whole_requests_and_while_chunked_body() -> None:
    parser, _ = make()
    parser.feed(GET + GET)
    assert not parser.in_head
    parser.feed(CHUNKED_HEAD + b"5\r\nhel")
    assert not parser.in_head
    parser.feed(b"lo\r\n0\r\nX-T")  # inside the trailer section: not a head
    assert not parser.in_head
    parser.feed(b": 1\r\n\r\nGET")
    assert parser.in_head


def test_in_head_false_after_upgrade() -> None:
    parser, _ = make()
    assert parser.feed(WS_HEAD + b"\x81\x80") == b"\x81\x80"
    assert not parser.in_head


# -- upgrade tail -----------------------------------------------------------------------------


def test_upgrade_returns_bytes_after_head() -> None:
    parser, recorder = make()
    frame = b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
    assert parser.feed(WS_HEAD + frame) == frame
    [message] = recorder.messages()
    assert message.upgrade
    assert message.complete


def test_upgrade_head_ending_a_segment_returns_empty_tail() -> None:
    parser, _ = make()
    assert parser.feed(WS_HEAD) == b""


def test_upgrade_head_split_across_segments() -> None:
    parser, recorder = make()
    assert parser.feed(WS_HEAD[:-3]) is None
    assert len(recorder) == 0
    assert parser.feed(WS_HEAD[-3:] + b"frame") == b"frame"
    assert recorder.messages()[0].upgrade


def test_upgrade_tail_holds_a_pipelined_request_unparsed() -> None:
    # After a real upgrade the bytes belong to the new protocol, even if they look like HTTP.
    parser, recorder = make()
    assert parser.feed(WS_HEAD + GET) == GET
    assert len(recorder) == 1


def test_upgrade_after_a_pipelined_request() -> None:
    parser, recorder = make()
    assert parser.feed(GET + WS_HEAD + b"tail") == b"tail"
    assert [m.upgrade for m in recorder.messages()] == [False, True]


def test_upgrade_with_body_returns_no_tail() -> None:
    # The body is framed as HTTP (RFC 9110 7.8), so nothing is handed over as a tail.
    parser, recorder = make()
    head = WS_HEAD.replace(b"\r\n\r\n", b"\r\nContent-Length: 4\r\n\r\n")
    assert parser.feed(head + b"body" + GET) is None
    first, second = recorder.messages()
    assert (first.upgrade, first.body, first.complete) == (False, b"body", True)
    assert second.target == b"/"
    assert not parser.in_head


# -- after an error -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",  # refused by a parser callback
        b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",  # refused by llhttp itself
        b"GET /" + b"a" * 9000,  # refused by the request-line limit
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
    ],
    ids=["callback", "llhttp", "limit", "framing"],
)
def test_parser_stays_failed_after_an_error(bad: bytes) -> None:
    parser, recorder = make()
    with pytest.raises(HttpProcessingError):
        parser.feed(bad)
    # A caller that feeds again gets a protocol error again, never a request and never a raw
    # httptools exception.
    with pytest.raises(HttpProcessingError):
        parser.feed(GET)
    assert len(recorder) == 0


@pytest.mark.parametrize(
    "first",
    [
        b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
    ],
    ids=["close", "http10"],
)
def test_nothing_after_a_closing_request_is_reported(first: bytes) -> None:
    # RFC 9112 9.6: a server MUST NOT process further requests after "close". The closing
    # request itself is reported complete, so the protocol can still answer it.
    parser, recorder = make()
    try:
        parser.feed(first + GET)
    except HttpProcessingError:
        pass
    [message] = recorder.messages()
    assert message.complete
    assert not message.keep_alive


# -- the message ----------------------------------------------------------------------------


def test_headers_view_is_case_insensitive_and_keeps_obs_text() -> None:
    parser, recorder = make()
    parser.feed(b"GET / HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\nx-name: two\r\n\r\n")
    [head] = recorder.heads()
    assert head.headers["host"] == "h"
    assert head.headers.getall("X-NAME") == ["caf\udce9", "two"]
    assert head.headers["x-name"].encode("utf-8", "surrogateescape") == b"caf\xe9"


def test_trailers_are_set_when_the_message_completes() -> None:
    parser, recorder = make()
    parser.feed(CHUNKED_HEAD + b"3\r\nabc\r\n0\r\nX-T: 1\r\n")
    [head] = recorder.heads()
    assert head.trailers == ()
    parser.feed(b"\r\n")
    trailers: object = head.trailers  # set by the parser at completion
    assert trailers == ((b"X-T", b"1"),)


def test_body_arrives_as_fed_without_empty_chunks() -> None:
    parser, recorder = make()
    parser.feed(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nab")
    parser.feed(b"cd")
    parser.feed(b"ef")
    [message] = recorder.messages()
    assert message.body == b"abcdef"
    assert recorder.violations == []


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", HttpVersion11),
        (b"GET /HTTP/1.1 HTTP/1.0\r\nHost: a\r\n\r\n", HttpVersion10),  # the last token
        (b"GET / HTTP/1.1", None),  # the line is not all there
        (b"GET / HTTP/1.1\r", None),
        (b"GET / HTTP/1.0\nX: a\r\n", None),  # no CRLF where it would end
        (b"GET / HTTP/1.2\r\n", None),  # served as 1.1: llhttp's word and _other_version
        (b"GET / HTTX/1.1\r\n", None),
    ],
    ids=["1.1", "target-1.1", "partial", "partial-cr", "bare-lf", "1.2", "not-http"],
)
def test_the_version_read_off_a_request_line(line: bytes, expected: HttpVersion | None) -> None:
    method, target = line.split(b" ")[:2]
    assert _line_version(line, len(method) + len(target) + 2) is expected


def test_a_request_line_not_where_method_and_target_say_gives_no_version() -> None:
    # "POST /DHTTP/1.1": no space before the version, so there is none (llhttp: 0.9, a 400).
    assert _line_version(b"POST /DHTTP/1.1\r\n", len(b"POST") + len(b"/DHTTP/1.1") + 2) is None
    # Empty lines first: the request line does not start the read (feed never asks then).
    assert _line_version(b"\r\nGET /a HTTP/1.1\r\n", len(b"GET") + len(b"/a") + 2) is None


KEPT_10 = b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"


@pytest.mark.parametrize(
    ("pieces", "versions"),
    [
        ([b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"], ["1.0"]),
        ([GET + b"GET / HTTP/1.0\r\nHost: a\r\n\r\n"], ["1.1", "1.0"]),  # pipelined
        ([KEPT_10 + GET], ["1.0", "1.1"]),
        ([b"GET / HTTP/1.0", b"\r\nHost: a\r\n\r\n"], ["1.0"]),  # split in the line
        ([b"GET / HTTP/1.0\r\nHo", b"st: a\r\n\r\n"], ["1.0"]),  # split in a field
        ([b"\r\nGET / HTTP/1.0\r\nHost: a\r\n\r\n"], ["1.0"]),  # RFC 9112 2.2
        (  # one read ends a body that looks like a request line, and starts a request
            [
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n",
                b"x HTTP/1.1\r\nGET / HTTP/1.0\r\nHost: a\r\n\r\n",
            ],
            ["1.1", "1.0"],
        ),
        ([GET, KEPT_10, GET], ["1.1", "1.0", "1.1"]),  # read by read
    ],
    ids=[
        "1.0",
        "pipelined",
        "pipelined-1.0-first",
        "split-line",
        "split-field",
        "empty-line",
        "after-a-body",
        "keep-alive",
    ],
)
def test_every_request_gets_its_own_version(pieces: list[bytes], versions: list[str]) -> None:
    parser, recorder = make()
    feed_all(parser, pieces)
    messages = recorder.messages()
    assert [m.version for m in messages] == versions
    # HTTP/1.0 closes unless it asks to be kept alive (RFC 9112 9.3), which KEPT_10 does.
    assert [m.keep_alive for m in messages][:-1] == [True] * (len(versions) - 1)
    assert messages[-1].keep_alive is (versions[-1] == "1.1" or pieces[-1].endswith(KEPT_10))
