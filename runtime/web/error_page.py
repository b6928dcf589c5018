"""The 500 answer to a handler's unhandled exception, as aiohttp writes it.

Plain text (``500 Internal Server Error``, a blank line, the status's description), or an
HTML page when the request's ``Accept`` names ``text/html``; in debug mode the traceback
replaces the description. Built only when a handler failed: never on the common path.
"""

from __future__ import annotations

import traceback
from html import escape
from http import HTTPStatus
from typing import Final

from multidict import CIMultiDictProxy

from .exceptions import HTTPInternalServerError

__all__ = ["internal_error_page"]

_STATUS: Final = HTTPStatus.INTERNAL_SERVER_ERROR
_TITLE: Final = f"{_STATUS.value} {_STATUS.phrase}"


def internal_error_page(
    headers: CIMultiDictProxy[str], exc: BaseException, debug: bool
) -> HTTPInternalServerError:
    """The 500 response for ``exc``, negotiated on the request's ``Accept`` header."""
    detail = "".join(traceback.format_exception(exc)) if debug else _STATUS.description
    if "text/html" in headers.get("Accept", ""):
        body = escape(detail)
        if debug:
            body = f"<h2>Traceback:</h2>\n<pre>{body}</pre>"
        page = (
            f"<html><head><title>{_TITLE}</title></head><body>\n"
            f"<h1>{_TITLE}</h1>\n{body}\n</body></html>\n"
        )
        return HTTPInternalServerError(text=page, content_type="text/html")
    return HTTPInternalServerError(text=f"{_TITLE}\n\n{detail}")
