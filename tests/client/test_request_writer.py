"""Request heads and chunk framing."""

from __future__ import annotations

import pytest

from runtime.http.request_writer import LAST_CHUNK, chunk, serialize_request_head


def test_head_is_serialised_in_order() -> None:
    head = serialize_request_head("GET", "/a?b=c", [("Host", "x"), ("X-Two", "1"), ("X-Two", "2")])
    assert head == b"GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-Two: 1\r\nX-Two: 2\r\n\r\n"


def test_values_are_utf8() -> None:
    assert serialize_request_head("GET", "/", [("X", "caf\u00e9")]).endswith(
        b"X: caf\xc3\xa9\r\n\r\n"
    )


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GET", "/", [("X", "a\r\nInjected: 1")]),
        ("GET", "/", [("X", "a\nb")]),
        ("GET", "/", [("X", "a\x00b")]),
        ("GET", "/", [("Bad Name", "v")]),
        ("GET", "/", [("Bad:Name", "v")]),
        ("GET", "/", [("", "v")]),
        ("GET", "/a b", []),
        ("GET", "/a\r\n", []),
        ("GET", "", []),
        ("G ET", "/", []),
        ("GET\r\n", "/", []),
    ],
)
def test_injection_is_refused(method: str, target: str, headers: list[tuple[str, str]]) -> None:
    with pytest.raises(ValueError):
        serialize_request_head(method, target, headers)


def test_chunk_framing() -> None:
    assert chunk(b"hello world, hello") == b"12\r\nhello world, hello\r\n"
    assert chunk(b"") == b""
    assert LAST_CHUNK == b"0\r\n\r\n"
