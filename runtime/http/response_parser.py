"""httptools (llhttp) adapter for the client side: bytes in, response events out to a sink.

The mirror of :mod:`.parser` for responses. llhttp frames bodies by ``Content-Length``,
``chunked`` or the end of the connection, and knows that 1xx, 204 and 304 responses carry
none (RFC 9112 6.3). What it cannot know is the request method, so the caller announces
each request with :meth:`ResponseParser.expect` and this adapter ends a response to HEAD at
its head. Interim 1xx responses other than 101 are dropped (RFC 9110 15.2); a 101 stops
parsing and :meth:`ResponseParser.feed` hands back the bytes of the new protocol.
"""

from __future__ import annotations

from typing import Protocol

import httptools
from multidict import CIMultiDictProxy

from .errors import BadHttpMessage, BadStatusLine, HeadersTooLarge, HttpProcessingError
from .grammar import OWS_BYTES
from .message import HttpVersion, HttpVersion10, HttpVersion11, RawHeaders, decode_headers
from .parser import Limits

__all__ = ["ResponseMessage", "ResponseParser", "ResponseSink"]

_VERSIONS = {"1.1": HttpVersion11, "1.0": HttpVersion10}
# Room for the version, the status code and the CRLFs around a status line or a field.
_SLACK = 64


class ResponseMessage:
    """One response head. ``headers`` is built on first use from ``raw_headers``.

    ``keep_alive`` says whether the connection may carry another request once this
    response's body has been read; ``upgrade`` is true for ``101 Switching Protocols``.
    """

    __slots__ = (
        "_headers",
        "chunked",
        "content_length",
        "keep_alive",
        "raw_headers",
        "reason",
        "status",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        status: int,
        reason: str,
        version: HttpVersion,
        raw_headers: RawHeaders,
        keep_alive: bool = True,
        upgrade: bool = False,
        chunked: bool = False,
        content_length: int | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.raw_headers = raw_headers
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.chunked = chunked
        self.content_length = content_length
        self._headers: CIMultiDictProxy[str] | None = None

    @property
    def headers(self) -> CIMultiDictProxy[str]:
        headers = self._headers
        if headers is None:
            headers = self._headers = decode_headers(self.raw_headers)
        return headers

    def __repr__(self) -> str:
        major, minor = self.version
        return f"<ResponseMessage HTTP/{major}.{minor} {self.status} {self.reason}>"


class ResponseSink(Protocol):
    def on_response(self, message: ResponseMessage) -> None: ...

    def on_body(self, data: bytes) -> None: ...

    def on_response_complete(self) -> None: ...


class ResponseParser:
    """Feeds bytes to llhttp and reports response heads, body chunks and completions.

    Call :meth:`expect` before each request is sent, :meth:`feed` with what arrives and
    :meth:`feed_eof` when the peer closes. Malformed input raises
    :class:`~.errors.HttpProcessingError` subclasses.
    """

    __slots__ = (
        "_accounted",
        "_began_in_feed",
        "_chunked",
        "_content_length",
        "_head_bytes",
        "_head_only",
        "_headers",
        "_in_head",
        "_in_message",
        "_interim",
        "_limits",
        "_parser",
        "_reason",
        "_replace",
        "_sink",
        "_skipping",
        "_until_eof",
        "extra_after_head",
    )

    def __init__(self, sink: ResponseSink, limits: Limits | None = None) -> None:
        self._sink = sink
        self._limits = limits or Limits()
        self._parser = httptools.HttpResponseParser(self)
        self._head_only = False
        self._replace = False
        self._skipping = False
        self._in_message = False
        self._in_head = False
        self._until_eof = False
        self._interim = False
        self._began_in_feed = False
        self._head_bytes = 0
        self._accounted = 0
        self.extra_after_head = False
        self._reset_head()

    def _reset_head(self) -> None:
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._content_length: int | None = None
        self._chunked = False

    @property
    def in_message(self) -> bool:
        """True from the first byte of a response until its body is complete."""
        return self._in_message

    @property
    def in_head(self) -> bool:
        """True while a response head has begun but is not complete."""
        return self._in_head

    def expect(self, method: str) -> None:
        """Announce the request whose response comes next (``HEAD`` means no body)."""
        self._head_only = method == "HEAD"
        self.extra_after_head = False

    def feed(self, data: bytes) -> bytes | None:
        """Parse ``data``; after a ``101`` response return the bytes that follow its head."""
        self._began_in_feed = False
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            return data[exc.args[0] :]
        except httptools.HttpParserCallbackError as exc:
            if isinstance(exc.__context__, HttpProcessingError):
                raise exc.__context__ from None
            raise
        except httptools.HttpParserError as exc:
            if self._in_head and not self._headers and not self._reason:
                raise BadStatusLine(f"Invalid response status line: {exc}") from None
            raise BadHttpMessage(str(exc)) from None
        finally:
            if self._replace:
                # A response to HEAD ended at its head, but llhttp still waits for the
                # body its framing headers announce: start afresh for the next response.
                self._replace = False
                self._skipping = False
                self._parser = httptools.HttpResponseParser(self)
        if self._in_head:
            self._check_pending(len(data))
        return None

    def feed_eof(self) -> None:
        """The peer closed: end a body delimited by the close (RFC 9112 6.3, rule 8).

        Raises:
            BadHttpMessage: the connection closed inside a head or a framed body.
        """
        if not self._in_message:
            return
        if self._in_head:
            raise BadHttpMessage("Connection closed inside a response head")
        if not self._until_eof:
            raise BadHttpMessage("Connection closed before the response body was complete")
        self._finish()

    def _check_pending(self, fed: int) -> None:
        # llhttp keeps a partial field to itself until it is complete; bound it the way the
        # request parser does, so an endless header cannot grow memory unseen.
        if self._began_in_feed:
            self._head_bytes = self._accounted
            return
        self._head_bytes += fed
        if self._head_bytes - self._accounted > self._limits.max_field_size + _SLACK:
            raise HeadersTooLarge(
                f"A response header field is longer than {self._limits.max_field_size} bytes"
            )

    def _finish(self) -> None:
        self._in_message = False
        self._until_eof = False
        self._sink.on_response_complete()

    # -- httptools callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self._skipping:
            return
        self._in_message = True
        self._in_head = True
        self._began_in_feed = True
        self._accounted = 0
        self._head_bytes = 0
        self._reset_head()

    def on_status(self, reason: bytes) -> None:
        self._reason += reason
        self._accounted += len(reason)
        limit = self._limits.max_line_size
        if limit and len(self._reason) > limit:
            raise BadStatusLine(f"Response status line is longer than {limit} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._skipping:
            return
        size = len(name) + len(value)
        limits = self._limits
        if size > limits.max_field_size:
            raise HeadersTooLarge(
                f"A response header field is longer than {limits.max_field_size} bytes"
            )
        self._accounted += size + 4
        if len(self._headers) >= limits.max_headers:
            raise HeadersTooLarge(f"More than {limits.max_headers} response header fields")
        value = value.rstrip(OWS_BYTES)  # llhttp keeps trailing OWS (RFC 9112 5.1 excludes it)
        self._headers.append((name, value))
        if len(name) in (14, 17) and self._in_head:
            lname = name.lower()
            if lname == b"content-length":
                self._content_length = int(value)  # llhttp refused anything but digits
            elif lname == b"transfer-encoding":
                self._chunked = value.lower().rsplit(b",", 1)[-1].strip(OWS_BYTES) == b"chunked"

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        self._in_head = False
        if 100 <= status < 200 and status != 101:
            # An interim response (100 Continue, 103 Early Hints): the final one follows.
            self._interim = True
            return
        version = _VERSIONS.get(parser.get_http_version(), HttpVersion11)
        upgrade = status == 101
        if upgrade and not parser.should_upgrade():
            # llhttp cannot report where the new protocol starts without this (RFC 9110 7.8).
            raise BadHttpMessage("101 response without 'Connection: upgrade'")
        framed = self._chunked or self._content_length is not None
        no_body = self._head_only or status in (204, 304) or upgrade
        if self._head_only:
            keep_alive = self._persistent(version)
        else:
            keep_alive = bool(parser.should_keep_alive())
        self._until_eof = not no_body and not framed
        message = ResponseMessage(
            status,
            self._reason.decode("utf-8", "surrogateescape"),
            version,
            tuple(self._headers),
            keep_alive and not upgrade,
            upgrade,
            self._chunked,
            self._content_length,
        )
        self._headers = []
        self._sink.on_response(message)
        if self._head_only:
            self._skipping = True
            self._replace = True
            self._finish()

    def _persistent(self, version: HttpVersion) -> bool:
        # RFC 9112 9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        tokens: set[bytes] = set()
        for name, value in self._headers:
            if name.lower() == b"connection":
                tokens.update(t.strip(OWS_BYTES).lower() for t in value.split(b","))
        if version is HttpVersion10:
            return b"keep-alive" in tokens
        return b"close" not in tokens

    def on_body(self, data: bytes) -> None:
        if self._skipping:
            self.extra_after_head = True  # a body after a response to HEAD: do not reuse
            return
        self._sink.on_body(data)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self._in_message = False
            return
        if self._skipping:
            return
        self._finish()
