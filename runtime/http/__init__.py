"""The HTTP layer: bytes, messages and one connection; no applications (docs/architecture.md)."""

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
from .protocol import HttpProtocol, ProtocolConfig, RequestService
from .request_writer import serialize_request_head
from .response_parser import ResponseMessage, ResponseParser
from .streams import EMPTY_PAYLOAD, StreamReader
from .writer import ResponseWriter, http_date, reason_phrase

__all__ = [
    "EMPTY_PAYLOAD",
    "BadHttpMessage",
    "BadStatusLine",
    "HeadersTooLarge",
    "HttpProcessingError",
    "HttpProtocol",
    "HttpVersion",
    "HttpVersion10",
    "HttpVersion11",
    "Limits",
    "LineTooLong",
    "PayloadTooLarge",
    "ProtocolConfig",
    "RequestMessage",
    "RequestParser",
    "RequestService",
    "RequestTimeout",
    "ResponseMessage",
    "ResponseParser",
    "ResponseWriter",
    "StreamReader",
    "VersionNotSupported",
    "http_date",
    "reason_phrase",
    "serialize_request_head",
]
