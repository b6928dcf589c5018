"""The HTTP layer: bytes and messages, no event loop and no applications (docs/architecture.md)."""

from .errors import (
    BadHttpMessage,
    BadStatusLine,
    HeadersTooLarge,
    HttpProcessingError,
    LineTooLong,
    PayloadTooLarge,
    RequestTimeout,
    VersionNotSupported,
)
from .message import HttpVersion, HttpVersion10, HttpVersion11, RequestMessage
from .parser import Limits, RequestParser
from .request_writer import serialize_request_head
from .response_parser import ResponseMessage, ResponseParser
from .writer import ResponseWriter, http_date, reason_phrase

__all__ = [
    "BadHttpMessage",
    "BadStatusLine",
    "HeadersTooLarge",
    "HttpProcessingError",
    "HttpVersion",
    "HttpVersion10",
    "HttpVersion11",
    "Limits",
    "LineTooLong",
    "PayloadTooLarge",
    "RequestMessage",
    "RequestParser",
    "RequestTimeout",
    "ResponseMessage",
    "ResponseParser",
    "ResponseWriter",
    "VersionNotSupported",
    "http_date",
    "reason_phrase",
    "serialize_request_head",
]
