"""The parsed request head, as the protocol layer hands it to the application layer."""

from __future__ import annotations

from typing import NamedTuple

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["HttpVersion", "HttpVersion10", "HttpVersion11", "RawHeaders", "RequestMessage"]


class HttpVersion(NamedTuple):
    major: int
    minor: int


HttpVersion10 = HttpVersion(1, 0)
HttpVersion11 = HttpVersion(1, 1)

RawHeaders = tuple[tuple[bytes, bytes], ...]


def decode_headers(raw: RawHeaders) -> CIMultiDictProxy[str]:
    """Build the case-insensitive view once; values decode as UTF-8 with surrogateescape
    (what aiohttp does, so obs-text survives a round trip)."""
    headers: CIMultiDict[str] = CIMultiDict()
    add = headers.add
    for name, value in raw:
        add(name.decode("ascii"), value.decode("utf-8", "surrogateescape"))
    return CIMultiDictProxy(headers)


class RequestMessage:
    """One request head. ``headers`` is built on first use from ``raw_headers``."""

    __slots__ = (
        "_headers",
        "chunked",
        "content_length",
        "expect_continue",
        "has_expect",
        "keep_alive",
        "method",
        "raw_headers",
        "target",
        "trailers",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: str,
        target: str,
        version: HttpVersion,
        raw_headers: RawHeaders,
        keep_alive: bool = True,
        upgrade: bool = False,
        chunked: bool = False,
        content_length: int | None = None,
        expect_continue: bool = False,
        has_expect: bool = False,
    ) -> None:
        self.method = method
        self.target = target
        self.version = version
        self.raw_headers = raw_headers
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.chunked = chunked
        self.content_length = content_length
        self.expect_continue = expect_continue
        # Any non-empty Expect field: the application decides on expectations other than
        # 100-continue (RFC 9110 10.1.1), without decoding the headers of every request.
        self.has_expect = has_expect
        self.trailers: RawHeaders = ()
        self._headers: CIMultiDictProxy[str] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        headers = self._headers
        if headers is None:
            headers = self._headers = decode_headers(self.raw_headers)
        return headers

    def replace_headers(self, raw_headers: RawHeaders) -> None:
        """Replace the header fields (the gunicorn worker drops some names before the
        request is built); ``headers`` is rebuilt from them on next use."""
        self.raw_headers = raw_headers
        self._headers = None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return (
            f"<RequestMessage {self.method} {self.target} HTTP/{self.version[0]}.{self.version[1]}>"
        )
