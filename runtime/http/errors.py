"""Protocol errors. Each carries the status the server answers with before closing."""

from __future__ import annotations

__all__ = [
    "BadHttpMessage",
    "BadStatusLine",
    "HeadersTooLarge",
    "HttpProcessingError",
    "LineTooLong",
    "PayloadTooLarge",
    "RequestTimeout",
    "VersionNotSupported",
]


class HttpProcessingError(Exception):
    """A request the protocol layer refuses; ``status`` is the response to send."""

    status: int = 400
    reason: str = "Bad Request"

    def __init__(self, message: str = "", *, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        self.message = message or self.reason
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status}: {self.message}>"


class BadHttpMessage(HttpProcessingError):
    """Malformed framing or head: RFC 9112 says answer 400 and close."""


class BadStatusLine(BadHttpMessage):
    """A request line that does not parse."""


class LineTooLong(HttpProcessingError):
    """The request target is longer than the configured limit (RFC 9112 3)."""

    status = 414
    reason = "URI Too Long"


class HeadersTooLarge(HttpProcessingError):
    """A header field, or the number of fields, is over its limit (RFC 6585 5)."""

    status = 431
    reason = "Request Header Fields Too Large"


class PayloadTooLarge(HttpProcessingError):
    """The request content is larger than the configured maximum (RFC 9110 15.5.14)."""

    status = 413
    reason = "Content Too Large"


class RequestTimeout(HttpProcessingError):
    """The request head or body did not arrive in time (RFC 9110 15.5.9)."""

    status = 408
    reason = "Request Timeout"


class VersionNotSupported(HttpProcessingError):
    """An HTTP major version other than 1 (RFC 9110 15.6.6)."""

    status = 505
    reason = "HTTP Version Not Supported"
