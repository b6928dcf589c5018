"""The ``Expect`` request header (RFC 9110 10.1.1): what a route does without its own
``expect_handler``.

``100-continue`` needs nothing here: the connection sends ``100 Continue`` when the handler
first reads the body, and never if it answers without reading. Any other expectation is
one we cannot meet: 417, and the handler is not called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..http.grammar import displayed_field_value
from ..http.message import HttpVersion11
from .exceptions import HTTPExpectationFailed

if TYPE_CHECKING:
    from .request import Request

__all__ = ["default_expect_handler"]


async def default_expect_handler(request: Request) -> None:
    """Refuse a request whose ``Expect`` holds anything but ``100-continue``.

    Only in HTTP/1.1: Expect means nothing in HTTP/1.0 (RFC 9110 10.1.1 has a server ignore
    100-continue there), and aiohttp ignores it too.

    Raises:
        HTTPExpectationFailed: an expectation other than 100-continue (RFC 9110 15.5.18).
    """
    if request.version != HttpVersion11:
        return
    value = ",".join(request.headers.getall("Expect", ()))
    # A list (RFC 9110 5.6.1): every member must be one we meet; empty members are allowed.
    members = [member.strip(" \t").lower() for member in value.split(",")]
    unknown = [member for member in members if member and member != "100-continue"]
    if unknown:
        raise HTTPExpectationFailed(text=f"Unknown Expect: {displayed_field_value(value)}")
