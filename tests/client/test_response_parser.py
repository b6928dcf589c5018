"""The response parser adapter: exact bytes in, events out, fed whole, byte by byte and in
random chunks."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from runtime.http.errors import BadHttpMessage, BadStatusLine, HeadersTooLarge
from runtime.http.message import HttpVersion10, HttpVersion11
from runtime.http.parser import Limits
from runtime.http.response_parser import ResponseMessage, ResponseParser


class Sink:
    def __init__(self) -> None:
        self.messages: list[ResponseMessage] = []
        self.bodies: list[bytes] = []
        self.completed = 0

    def on_response(self, message: ResponseMessage) -> None:
        self.messages.append(message)
        self.bodies.append(b"")

    def on_body(self, data: bytes) -> None:
        self.bodies[-1] += data

    def on_response_complete(self) -> None:
        self.completed += 1


def splits(data: bytes) -> Iterator[list[bytes]]:
    yield [data]
    yield [data[i : i + 1] for i in range(len(data))]
    rng = random.Random(len(data))
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(data)), min(4, len(data) - 1)))
        yield [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def feed_all(data: bytes, method: str = "GET") -> Iterator[tuple[Sink, ResponseParser]]:
    for pieces in splits(data):
        sink = Sink()
        parser = ResponseParser(sink)
        parser.expect(method)
        for piece in pieces:
            assert parser.feed(piece) is None
        yield sink, parser


def test_content_length_body() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b  \r\n\r\nhello"
    for sink, parser in feed_all(raw):
        (message,) = sink.messages
        assert (message.status, message.reason, message.version) == (200, "OK", HttpVersion11)
        assert message.headers["X-A"] == "b"  # trailing whitespace is not part of the value
        assert message.content_length == 5
        assert message.keep_alive
        assert sink.bodies == [b"hello"]
        assert sink.completed == 1
        assert not parser.in_message


def test_chunked_body_and_two_responses_in_a_row() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    )
    for sink, _ in feed_all(raw):
        assert [m.status for m in sink.messages] == [200, 404]
        assert sink.messages[0].chunked
        assert sink.bodies == [b"abcde", b""]
        assert sink.completed == 2


def test_body_until_close() -> None:
    raw = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it"
    for sink, parser in feed_all(raw):
        (message,) = sink.messages
        assert message.version == HttpVersion10
        assert not message.keep_alive
        assert sink.completed == 0
        parser.feed_eof()
        assert sink.completed == 1
        assert sink.bodies == [b"all of it"]


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n", False),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n", True),
        (b"HTTP/1.1 200 OK\r\n", False),  # delimited by the close
    ],
)
def test_keep_alive(head: bytes, keep_alive: bool) -> None:
    sink = Sink()
    ResponseParser(sink).feed(head + b"\r\n")
    assert sink.messages[0].keep_alive is keep_alive


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses(status: int) -> None:
    raw = b"HTTP/1.1 %d X\r\nContent-Length: 10\r\n\r\n" % status
    for sink, _ in feed_all(raw):
        assert sink.completed == 1
        assert sink.bodies == [b""]


def test_head_response_ends_at_its_head_and_the_next_one_parses() -> None:
    sink = Sink()
    parser = ResponseParser(sink)
    parser.expect("HEAD")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n")
    parser.feed(b"\r\n")
    assert sink.completed == 1
    assert sink.messages[0].keep_alive
    parser.expect("GET")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert sink.completed == 2
    assert sink.bodies == [b"", b"ok"]
    assert not parser.extra_after_head


def test_bytes_after_a_head_response_are_flagged() -> None:
    sink = Sink()
    parser = ResponseParser(sink)
    parser.expect("HEAD")
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody")
    assert sink.completed == 1
    assert parser.extra_after_head


def test_interim_responses_are_skipped() -> None:
    raw = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
        b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
    )
    for sink, _ in feed_all(raw):
        assert [m.status for m in sink.messages] == [201]
        assert sink.bodies == [b"ok"]
        assert sink.completed == 1


def test_switching_protocols_returns_the_tail() -> None:
    sink = Sink()
    parser = ResponseParser(sink)
    tail = parser.feed(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"\r\n\x81\x00"
    )
    assert tail == b"\x81\x00"
    (message,) = sink.messages
    assert message.upgrade
    assert not message.keep_alive


def test_switching_protocols_without_connection_upgrade_is_refused() -> None:
    with pytest.raises(BadHttpMessage, match="Connection: upgrade"):
        ResponseParser(Sink()).feed(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
        b"HTTP/1.1 200 OK\r\nContent-Le",
    ],
)
def test_eof_inside_a_message_is_an_error(raw: bytes) -> None:
    parser = ResponseParser(Sink())
    parser.feed(raw)
    with pytest.raises(BadHttpMessage):
        parser.feed_eof()


def test_eof_between_messages_is_fine() -> None:
    sink = Sink()
    parser = ResponseParser(sink)
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    parser.feed_eof()
    assert sink.completed == 1


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"HTTP/1.1 2x0 OK\r\n\r\n", BadStatusLine),
        (b"SPDY/3 200 OK\r\n\r\n", BadStatusLine),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", BadHttpMessage),
        (b"HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n", BadHttpMessage),
        (b"HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", BadHttpMessage),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            BadHttpMessage,
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", BadHttpMessage),
    ],
)
def test_malformed_responses(raw: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        ResponseParser(Sink()).feed(raw)


def test_header_limits() -> None:
    limits = Limits(max_line_size=100, max_field_size=50, max_headers=3)
    with pytest.raises(HeadersTooLarge):
        ResponseParser(Sink(), limits).feed(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 60 + b"\r\n\r\n")
    with pytest.raises(HeadersTooLarge):
        ResponseParser(Sink(), limits).feed(b"HTTP/1.1 200 OK\r\n" + b"A: b\r\n" * 4 + b"\r\n")
    parser = ResponseParser(Sink(), limits)
    with pytest.raises(HeadersTooLarge):  # an endless field, fed piece by piece
        parser.feed(b"HTTP/1.1 200 OK\r\nX: ")
        for _ in range(20):
            parser.feed(b"a" * 10)
    with pytest.raises(BadStatusLine):
        ResponseParser(Sink(), limits).feed(b"HTTP/1.1 200 " + b"R" * 120 + b"\r\n\r\n")
