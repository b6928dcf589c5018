"""httptools (llhttp) adapter: bytes in, request events out to a sink.

llhttp already refuses most malformed input (bare CR/LF, obs-fold, NUL and CTLs, whitespace
before the colon, non-token names, bad chunk sizes, Content-Length with Transfer-Encoding,
non-decimal or duplicate Content-Length). This module adds what llhttp leaves to the server:
size limits that hold across TCP segments, Host rules, the exact Transfer-Encoding rule, the
HTTP version check, and framing of an upgrade request that carries a body.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Final, Protocol

import httptools

from .errors import (
    BadHttpMessage,
    BadStatusLine,
    HeadersTooLarge,
    HttpProcessingError,
    LineTooLong,
    VersionNotSupported,
)
from .grammar import OWS_BYTES
from .message import HttpVersion, HttpVersion10, HttpVersion11, RequestMessage

__all__ = ["Limits", "ParserSink", "RequestParser", "spent_parser"]

_VERSIONS = {"1.1": HttpVersion11, "1.0": HttpVersion10}
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
# RFC 9110 7.2 / RFC 3986 3.2: uri-host [ ":" port ] -- reg-name, IPv4 or IP-literal.
_HOST_RE = re.compile(
    rb"(?:\[(?P<literal>[A-Za-z0-9:._~!$&'()*+,;=-]+)\]|[A-Za-z0-9!$&'()*+,;=._~%-]*)"
    rb"(?::(?P<port>[0-9]*))?"
)
_MAX_PORT: Final = 65535
# Room for the method, the version and the CRLFs around a request line or a field.
_SLACK: Final = 64
# A chunk's size line and CRLFs, extensions aside (those count against the field limit).
_CHUNK_FRAMING: Final = 24


def _host_is_valid(value: bytes) -> bool:
    """Whether ``value`` is a Host field value a URL can be built from (RFC 9112 3.2: any
    other is a 400): ``uri-host [ ":" port ]`` whose port is at most 65535 and whose
    IP-literal is an IPv6 address (RFC 3986 3.2.2, 3.2.3). An IPvFuture literal, which no
    address family uses, is refused too: URLs here (yarl) cannot hold one."""
    match = _HOST_RE.fullmatch(value)
    if match is None:
        return False
    port = match.group("port")
    if port and int(port) > _MAX_PORT:  # the grammar's *DIGIT has no bound; TCP's has
        return False
    literal = match.group("literal")
    if literal is None:
        return True
    try:
        ipaddress.IPv6Address(literal.decode("ascii"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class Limits:
    """Size limits for a request head. ``max_line_size=0`` means no limit (gunicorn's 0)."""

    max_line_size: int = 8190
    max_field_size: int = 8190
    max_headers: int = 100


class ParserSink(Protocol):
    def on_request(self, message: RequestMessage) -> None: ...

    def on_body(self, data: bytes) -> None: ...

    def on_request_complete(self) -> None: ...


class RequestParser:
    """Feeds bytes to llhttp and reports whole request heads, body chunks and completions.

    ``feed`` returns the bytes that follow an upgrade request (``message.upgrade``), where
    HTTP parsing stops until the caller either switches protocols or feeds them back.
    Errors raise :class:`HttpProcessingError` subclasses carrying the status to answer.
    ``in_head`` is True while a request head has begun but is not complete (the protocol's
    slowloris deadline); read it, never set it.
    """

    __slots__ = (
        "_began_in_feed",
        "_chunked",
        "_completed_in_feed",
        "_content_length",
        "_error",
        "_expect",
        "_fed",
        "_has_expect",
        "_headers",
        "_host_seen",
        "_limits",
        "_line_data",
        "_max_field_size",
        "_max_headers",
        "_max_line_size",
        "_message",
        "_parser",
        "_reframe",
        "_reported",
        "_resume",
        "_sink",
        "_te_seen",
        "_url",
        "_valid_host",
        "_watching",
        "in_head",
    )
    # release() deletes llhttp's parser (a compiled class must be told it may).
    __deletable__ = ("_parser",)

    def __init__(self, sink: ParserSink, limits: Limits | None = None) -> None:
        self._sink = sink
        self._limits = limits or Limits()
        self._parser = _request_parser(self)
        self._message: RequestMessage | None = None
        self._reframe = False
        self._max_field_size = self._limits.max_field_size
        self._max_headers = self._limits.max_headers
        self._max_line_size = self._limits.max_line_size
        self._headers: list[tuple[bytes, bytes]] = []
        self._valid_host = b""
        self.in_head = False
        self._began_in_feed = False
        self._completed_in_feed = 0
        self._watching = False
        self._fed = 0
        self._reported = 0
        self._resume = False
        self._error: HttpProcessingError | None = None
        self._line_data: bytes | None = None
        self._reset_head()

    def _reset_head(self) -> None:
        self._url: bytes | bytearray = b""
        if self._headers:
            self._headers = []  # left over by an error; on_headers_complete takes the list
        self._content_length: int | None = None
        self._chunked = False
        self._te_seen = False
        self._host_seen = False
        self._expect = False
        self._has_expect = False

    def release(self) -> None:
        """The connection is done with HTTP: drop llhttp's parser, whose callbacks refer back
        here, so this parser and its sink are freed by reference counting, without waiting
        for the cycle collector. Nothing may be fed after this."""
        del self._parser
        self._error = None  # its traceback holds the frames that fed us

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; return the unparsed tail when an upgrade request stopped parsing.

        Raises:
            HttpProcessingError: with the status to answer; every later call raises it too.
        """
        if self._error is not None:
            raise self._error
        self._began_in_feed = False
        self._completed_in_feed = 0
        # Between messages, the next request line starts this read (unless empty lines come
        # first): on_headers_complete reads the version off it, since asking llhttp
        # (get_http_version) formats a string every time.
        if self._message is None and not self.in_head and data and data[0] > 0x20:
            self._line_data = data
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            offset = exc.args[0]
        except httptools.HttpParserError as exc:
            error = self._error = _translate(exc)
            raise error from None
        else:
            if self._watching:
                self._check_pending(len(data))
            return None
        finally:
            self._line_data = None  # (held only while this read is parsed)
        return self._after_upgrade(data[offset:])

    def _check_pending(self, fed: int) -> None:
        # httptools holds a partial header field (or trailer field) until it is complete, so
        # an endless field would grow memory unseen. Count the bytes fed since the message
        # began against the bytes reported through callbacks; what is neither reported nor
        # framing is a field in progress (RFC 9112 5 leaves the limit to us: 431).
        if self._began_in_feed:
            # Exact when the message began at the start of this data; otherwise (pipelined
            # requests before it) count from here on.
            self._fed = fed if self._completed_in_feed == 0 else self._reported
        else:
            self._fed += fed
        if self._fed - self._reported > self._max_field_size + _SLACK:
            error = self._error = HeadersTooLarge(
                f"A header field is longer than {self._max_field_size} bytes"
            )
            raise error

    def _after_upgrade(self, tail: bytes) -> bytes | None:
        if not self._resume:
            return tail
        self._resume = False
        if not self._reframe:
            return self.feed(tail) if tail else None  # an ignored Upgrade: carry on
        # httptools skips the body of any upgrade request, but the body belongs to HTTP
        # framing whatever becomes of the upgrade (RFC 9110 7.8). Re-frame it with a fresh
        # parser primed by a synthetic head that carries only the framing header.
        self._reframe = False
        framing = (
            b"Transfer-Encoding: chunked"
            if self._chunked
            else b"Content-Length: %d" % (self._content_length or 0)
        )
        forwarder = _Reframer(self)
        self._parser = httptools.HttpRequestParser(forwarder)
        self._parser.feed_data(b"POST / HTTP/1.1\r\n" + framing + b"\r\n\r\n")
        forwarder.priming = False
        return self.feed(tail) if tail else None

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.in_head = True
        self._watching = True
        self._began_in_feed = True
        self._reported = 0
        self._fed = 0
        self._reset_head()

    def on_url(self, url: bytes) -> None:
        if not self._url:
            self._url = url  # the usual case: the whole target in one piece
        else:
            if type(self._url) is bytes:
                self._url = bytearray(self._url)  # grows in place from here on
            self._url += url
        self._reported += len(url) + 1
        limit = self._max_line_size
        if limit and len(self._url) > limit:
            raise LineTooLong(f"Request line is longer than {limit} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value)
        if size > self._max_field_size:
            raise HeadersTooLarge(f"A header field is longer than {self._max_field_size} bytes")
        self._reported += size + 4
        headers = self._headers
        if len(headers) >= self._max_headers:
            # Trailer fields (RFC 9112 7.1.2) land here too and are bounded the same way.
            raise HeadersTooLarge(f"More than {self._max_headers} header fields")
        if len(name) in (4, 6, 14, 17) and self.in_head:
            self._framing_header(name.lower(), value)
        # RFC 9112 5.1: trailing OWS is not part of the value. Looked for before stripping:
        # compiled, the test is two compares, the rstrip call a few hundred instructions.
        last = value[-1] if value else 0
        if last in (0x20, 0x09):  # SP, HTAB (mypyc compiles this to two compares)
            value = value.rstrip(OWS_BYTES)
        headers.append((name, value))

    def _framing_header(self, lname: bytes, value: bytes) -> None:
        # bytes.lower() folds ASCII only, so non-ASCII that str.lower() would fold into ASCII
        # (the Kelvin sign in "chun\u212aed") never matches a framing header name or value.
        if lname == b"host":
            # RFC 9112 3.2: more than one Host, or an invalid Host, is a 400.
            value = value.rstrip(OWS_BYTES)
            if self._host_seen:
                raise BadHttpMessage("Duplicate Host header")
            if value != self._valid_host:  # keep-alive clients repeat the same Host
                if not _host_is_valid(value):
                    raise BadHttpMessage("Invalid Host header")
                self._valid_host = value
            self._host_seen = True
        elif lname == b"content-length":
            # llhttp has already refused duplicates and anything but ASCII digits.
            self._content_length = int(value)
        elif lname == b"transfer-encoding":
            # RFC 9112 6.1/6.3: a request whose final coding is not chunked cannot be framed;
            # we accept exactly one coding, chunked, and nothing else (no gzip, chunked).
            # A trailing tab is refused too: llhttp would read it as part of the coding, and
            # two readings of one framing header is how smuggling starts.
            if self._te_seen or value.rstrip(b" ").lower() != b"chunked":
                raise BadHttpMessage(f"Unsupported Transfer-Encoding: {value!r}")
            self._te_seen = True
            self._chunked = True
        elif lname == b"expect":
            self._expect = value.lower() == b"100-continue"
            self._has_expect = self._has_expect or bool(value.strip(OWS_BYTES))

    def on_headers_complete(self) -> None:
        parser = self._parser
        raw_method = parser.get_method()
        version = None
        line = self._line_data
        if line is not None:
            self._line_data = None  # only the first request of a read began at its start
            version = _line_version(line, len(raw_method) + len(self._url) + 2)
        if version is None:
            version = _VERSIONS.get(parser.get_http_version())
            if version is None:
                version = _other_version(parser.get_http_version())
        if version is HttpVersion11 and not self._host_seen:
            raise BadHttpMessage("Missing Host header")  # RFC 9112 3.2
        if self._te_seen and version is HttpVersion10:
            # RFC 9112 6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
            raise BadHttpMessage("Transfer-Encoding in an HTTP/1.0 request")
        method = _METHODS.get(raw_method) or raw_method.decode("ascii")
        upgrade = parser.should_upgrade()
        has_body = self._chunked or bool(self._content_length)
        if upgrade and method != "CONNECT" and (has_body or version is HttpVersion10):
            # RFC 9110 7.8: Upgrade is ignored in HTTP/1.0, and a body belongs to HTTP
            # framing whatever becomes of the upgrade; parsing carries on after it.
            self._resume = True
            self._reframe = has_body
            upgrade = False
        target = self._url.decode("ascii", "surrogateescape")
        self._reported += len(method) + 14  # the rest of the request line and the blank line
        self._watching = self._chunked  # trailers may still come
        message = RequestMessage(
            method,
            target,
            version,
            tuple(self._headers),
            parser.should_keep_alive() and method != "CONNECT",
            upgrade,
            self._chunked,
            self._content_length,
            self._expect and version is HttpVersion11,
            self._has_expect,
        )
        self._message = message
        self.in_head = False
        self._headers = []
        self._sink.on_request(message)

    def on_body(self, data: bytes) -> None:
        if self._watching:
            self._reported += len(data)
        self._sink.on_body(data)

    def on_chunk_header(self) -> None:
        self._reported += _CHUNK_FRAMING

    def on_message_complete(self) -> None:
        if self._reframe:
            return
        message = self._message
        if message is not None and self._headers:
            message.trailers = tuple(self._headers)
            self._headers = []
        self._message = None
        self._watching = False
        self._completed_in_feed += 1
        self._sink.on_request_complete()


class _Reframer:
    """Callbacks for the parser that re-frames an upgrade request's body: it swallows the
    synthetic head that primes it, then forwards everything to the real parser."""

    __slots__ = ("priming", "target")

    def __init__(self, target: RequestParser) -> None:
        self.target = target
        self.priming = True

    def on_message_begin(self) -> None:
        if not self.priming:
            self.target.on_message_begin()

    def on_url(self, url: bytes) -> None:
        if not self.priming:
            self.target.on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.priming:
            self.target.on_header(name, value)

    def on_headers_complete(self) -> None:
        if not self.priming:
            self.target.on_headers_complete()

    def on_body(self, data: bytes) -> None:
        self.target.on_body(data)

    def on_chunk_header(self) -> None:
        self.target.on_chunk_header()

    def on_message_complete(self) -> None:
        self.target.on_message_complete()


def _request_parser(callbacks: object) -> httptools.HttpRequestParser:
    parser = httptools.HttpRequestParser(callbacks)
    # llhttp checks the grammar of the version, HTTP-name "/" DIGIT "." DIGIT (RFC 9112 2.3),
    # and refuses anything else (a 400 here). Out of the box it also refuses the well-formed
    # versions it does not know (all but 0.9, 1.0, 1.1 and 2.0) with one generic error, so
    # HTTP/1.2 (served as 1.1) and HTTP/3.0 (a 505) would look alike. Its "lenient version"
    # flag lifts only that second check; on_headers_complete decides (_other_version).
    parser.set_dangerous_leniencies(lenient_version=True)
    return parser


def _line_version(line: bytes, at: int) -> HttpVersion | None:
    """The version of a request line that starts ``line``, when it is HTTP/1.1 or 1.0;
    None otherwise (ask llhttp). ``at`` is where the version stands if the line is method
    SP request-target SP version CRLF (RFC 9112 3): llhttp has accepted that grammar, and
    gave the method and the target, so only the space, the CRLF and the eight bytes between
    them are looked at. A line that does not start ``line`` does not have them there.
    """
    if len(line) < at + 10 or line[at - 1] != 0x20 or line[at + 8 : at + 10] != b"\r\n":
        return None
    tail = line[at : at + 8]
    if tail == b"HTTP/1.1":
        return HttpVersion11
    if tail == b"HTTP/1.0":
        return HttpVersion10
    return None


def _other_version(version: str) -> HttpVersion:
    """The version to serve a well-formed ``major.minor`` other than 1.0 and 1.1 as."""
    if version.startswith("1."):
        # RFC 9112 2.3: a minor version higher than ours, within a major version we
        # implement, is processed as the highest minor version we implement.
        return HttpVersion11
    if version == "0.9":
        # llhttp reports a request line with no HTTP-version at all (HTTP/0.9's form) as
        # 0.9, just as it does "HTTP/0.9": without a version the line is not an HTTP/1.1
        # request-line (RFC 9112 3), and the two cannot be told apart here, so both are 400.
        raise BadStatusLine("The request line has no HTTP/1.x version")
    # RFC 9110 15.6.6: 505 for a major version we do not support (HTTP/0.9, HTTP/2.0, ...).
    raise VersionNotSupported(f"HTTP/{version} is not supported")


def _translate(exc: Exception) -> HttpProcessingError:
    """llhttp's error -> ours, with the status to answer."""
    if isinstance(exc, httptools.HttpParserCallbackError):
        if isinstance(exc.__context__, HttpProcessingError):
            return exc.__context__
        raise exc  # a bug in a callback, not bad input
    if isinstance(exc, httptools.HttpParserInvalidMethodError):
        return BadStatusLine(f"Invalid method: {exc}")
    if isinstance(exc, httptools.HttpParserInvalidURLError):
        return BadStatusLine(f"Invalid request target: {exc}")
    return BadHttpMessage(str(exc))  # a malformed HTTP-version among them (RFC 9112 2.3)


class _NoSink:
    def on_request(self, message: RequestMessage) -> None:
        raise RuntimeError("HTTP request on a connection done with HTTP")

    def on_body(self, data: bytes) -> None:
        raise RuntimeError("HTTP body on a connection done with HTTP")

    def on_request_complete(self) -> None:
        raise RuntimeError("HTTP request on a connection done with HTTP")


@functools.cache
def spent_parser() -> RequestParser:
    """The parser a connection keeps once it is done with HTTP (upgraded or closed): never
    fed, it only answers ``in_head`` (False). One for all of them (~1 KiB saved on each)."""
    return RequestParser(_NoSink())
