"""HTTP exceptions: raise them (or return them) from handlers.

Every ``HTTPxxx`` class below is generated from ``STATUS_TABLE`` by
``python -m runtime.web.exceptions --generate``, so the table is the one place to add a status;
``tests/web/test_exceptions.py`` fails when the classes and the table disagree.
Classes with constructor arguments of their own (redirects, 405, 413, 451) are written out.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterable
from typing import Any

from yarl import URL

from ..http.errors import HttpProcessingError
from .response import LooseHeaders, Response

__all__ = [
    "HTTPAccepted",
    "HTTPBadGateway",
    "HTTPBadRequest",
    "HTTPClientError",
    "HTTPConflict",
    "HTTPCreated",
    "HTTPError",
    "HTTPException",
    "HTTPExpectationFailed",
    "HTTPFailedDependency",
    "HTTPForbidden",
    "HTTPFound",
    "HTTPGatewayTimeout",
    "HTTPGone",
    "HTTPInsufficientStorage",
    "HTTPInternalServerError",
    "HTTPLengthRequired",
    "HTTPMethodNotAllowed",
    "HTTPMisdirectedRequest",
    "HTTPMove",
    "HTTPMovedPermanently",
    "HTTPMultipleChoices",
    "HTTPNetworkAuthenticationRequired",
    "HTTPNoContent",
    "HTTPNonAuthoritativeInformation",
    "HTTPNotAcceptable",
    "HTTPNotExtended",
    "HTTPNotFound",
    "HTTPNotImplemented",
    "HTTPNotModified",
    "HTTPOk",
    "HTTPPartialContent",
    "HTTPPaymentRequired",
    "HTTPPermanentRedirect",
    "HTTPPreconditionFailed",
    "HTTPPreconditionRequired",
    "HTTPProxyAuthenticationRequired",
    "HTTPRedirection",
    "HTTPRequestEntityTooLarge",
    "HTTPRequestHeaderFieldsTooLarge",
    "HTTPRequestRangeNotSatisfiable",
    "HTTPRequestTimeout",
    "HTTPRequestURITooLong",
    "HTTPResetContent",
    "HTTPSeeOther",
    "HTTPServerError",
    "HTTPServiceUnavailable",
    "HTTPSuccessful",
    "HTTPTemporaryRedirect",
    "HTTPTooManyRequests",
    "HTTPUnauthorized",
    "HTTPUnavailableForLegalReasons",
    "HTTPUnprocessableEntity",
    "HTTPUnsupportedMediaType",
    "HTTPUpgradeRequired",
    "HTTPUseProxy",
    "HTTPVariantAlsoNegotiates",
    "HTTPVersionNotSupported",
    "MalformedRequestBody",
    "RequestPayloadError",
    "http_exception_for",
]

# (class name, status, base class): the single source of the generated classes.
STATUS_TABLE: tuple[tuple[str, int, str], ...] = (
    ("HTTPOk", 200, "HTTPSuccessful"),
    ("HTTPCreated", 201, "HTTPSuccessful"),
    ("HTTPAccepted", 202, "HTTPSuccessful"),
    ("HTTPNonAuthoritativeInformation", 203, "HTTPSuccessful"),
    ("HTTPNoContent", 204, "HTTPSuccessful"),
    ("HTTPResetContent", 205, "HTTPSuccessful"),
    ("HTTPPartialContent", 206, "HTTPSuccessful"),
    ("HTTPMultipleChoices", 300, "HTTPMove"),
    ("HTTPMovedPermanently", 301, "HTTPMove"),
    ("HTTPFound", 302, "HTTPMove"),
    ("HTTPSeeOther", 303, "HTTPMove"),
    ("HTTPNotModified", 304, "HTTPRedirection"),
    ("HTTPUseProxy", 305, "HTTPMove"),
    ("HTTPTemporaryRedirect", 307, "HTTPMove"),
    ("HTTPPermanentRedirect", 308, "HTTPMove"),
    ("HTTPBadRequest", 400, "HTTPClientError"),
    ("HTTPUnauthorized", 401, "HTTPClientError"),
    ("HTTPPaymentRequired", 402, "HTTPClientError"),
    ("HTTPForbidden", 403, "HTTPClientError"),
    ("HTTPNotFound", 404, "HTTPClientError"),
    ("HTTPNotAcceptable", 406, "HTTPClientError"),
    ("HTTPProxyAuthenticationRequired", 407, "HTTPClientError"),
    ("HTTPRequestTimeout", 408, "HTTPClientError"),
    ("HTTPConflict", 409, "HTTPClientError"),
    ("HTTPGone", 410, "HTTPClientError"),
    ("HTTPLengthRequired", 411, "HTTPClientError"),
    ("HTTPPreconditionFailed", 412, "HTTPClientError"),
    ("HTTPRequestURITooLong", 414, "HTTPClientError"),
    ("HTTPUnsupportedMediaType", 415, "HTTPClientError"),
    ("HTTPRequestRangeNotSatisfiable", 416, "HTTPClientError"),
    ("HTTPExpectationFailed", 417, "HTTPClientError"),
    ("HTTPMisdirectedRequest", 421, "HTTPClientError"),
    ("HTTPUnprocessableEntity", 422, "HTTPClientError"),
    ("HTTPFailedDependency", 424, "HTTPClientError"),
    ("HTTPUpgradeRequired", 426, "HTTPClientError"),
    ("HTTPPreconditionRequired", 428, "HTTPClientError"),
    ("HTTPTooManyRequests", 429, "HTTPClientError"),
    ("HTTPRequestHeaderFieldsTooLarge", 431, "HTTPClientError"),
    ("HTTPInternalServerError", 500, "HTTPServerError"),
    ("HTTPNotImplemented", 501, "HTTPServerError"),
    ("HTTPBadGateway", 502, "HTTPServerError"),
    ("HTTPServiceUnavailable", 503, "HTTPServerError"),
    ("HTTPGatewayTimeout", 504, "HTTPServerError"),
    ("HTTPVersionNotSupported", 505, "HTTPServerError"),
    ("HTTPVariantAlsoNegotiates", 506, "HTTPServerError"),
    ("HTTPInsufficientStorage", 507, "HTTPServerError"),
    ("HTTPNotExtended", 510, "HTTPServerError"),
    ("HTTPNetworkAuthenticationRequired", 511, "HTTPServerError"),
)


class HTTPException(Response, Exception):
    """An HTTP response that can be raised; its body defaults to ``"<status>: <reason>"``."""

    status_code = -1
    empty_body = False

    def __init__(
        self,
        *,
        headers: LooseHeaders | None = None,
        reason: str | None = None,
        body: Any = None,
        text: str | None = None,
        content_type: str | None = None,
    ) -> None:
        if body is not None:
            if text is not None:
                raise ValueError("body and text are not allowed together")
            # The message starts as aiohttp's does, so filters written for it still match.
            warnings.warn(
                "body argument is deprecated for http web exceptions: pass "
                f"{type(self).__name__}(text=..., content_type=...) for a text body; for "
                "bytes, set exc.body after creating the exception",
                DeprecationWarning,
                stacklevel=_stacklevel_outside_this_module(),
            )
        Response.__init__(
            self,
            # The bare base class has no status (aiohttp's -1, which no response can carry);
            # raised as it is (``raise web.HTTPException() from exc``), it answers 500.
            status=self.status_code if self.status_code != -1 else 500,
            headers=headers,
            reason=reason,
            body=body,
            text=text,
            content_type=content_type,
        )
        Exception.__init__(self, self.reason)
        if self.body is None and not self.empty_body:
            self.text = f"{self.status}: {self.reason}"

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {self.reason}>"

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)


def _stacklevel_outside_this_module() -> int:
    """The stack level, from ``HTTPException.__init__``, of the first frame that is not in
    this module: the code that built the exception (a subclass's ``__init__`` chains up)."""
    frame = sys._getframe(2)
    level = 2
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


class HTTPError(HTTPException):
    """Base for 4xx and 5xx."""


class HTTPRedirection(HTTPException):
    """Base for 3xx."""


class HTTPSuccessful(HTTPException):
    """Base for 2xx."""


class HTTPClientError(HTTPError):
    """Base for 4xx."""


class HTTPServerError(HTTPError):
    """Base for 5xx."""


class HTTPMove(HTTPRedirection):
    """Base for the 3xx answers that carry a ``Location`` (every 3xx but 304)."""

    def __init__(
        self,
        location: str | URL,
        *,
        headers: LooseHeaders | None = None,
        reason: str | None = None,
        body: Any = None,
        text: str | None = None,
        content_type: str | None = None,
    ) -> None:
        if not location:
            raise ValueError("HTTP redirects need a location to redirect to.")
        super().__init__(
            headers=headers, reason=reason, body=body, text=text, content_type=content_type
        )
        # Parsed as a URL, as aiohttp does: tabs, CR and LF are dropped (WHATWG URL), so the
        # value can never split the head, and what is not ASCII is percent-encoded.
        self.headers["Location"] = str(URL(location))
        self.location = location


class HTTPMethodNotAllowed(HTTPClientError):
    """405, with the ``Allow`` header RFC 9110 15.5.6 requires."""

    status_code = 405

    def __init__(
        self,
        method: str,
        allowed_methods: Iterable[str],
        *,
        headers: LooseHeaders | None = None,
        reason: str | None = None,
        body: Any = None,
        text: str | None = None,
        content_type: str | None = None,
    ) -> None:
        allow = ",".join(sorted(allowed_methods))
        super().__init__(
            headers=headers, reason=reason, body=body, text=text, content_type=content_type
        )
        self.headers["Allow"] = allow
        self.allowed_methods: set[str] = set(allowed_methods)
        self.method = method.upper()


class HTTPRequestEntityTooLarge(HTTPClientError):
    """413, saying the limit and the size seen."""

    status_code = 413

    def __init__(self, max_size: float, actual_size: float, **kwargs: Any) -> None:
        kwargs.setdefault(
            "text",
            f"Maximum request body size {max_size} exceeded, actual body size {actual_size}",
        )
        super().__init__(**kwargs)


class HTTPUnavailableForLegalReasons(HTTPClientError):
    """451, with a ``Link`` to the blocking authority (RFC 7725)."""

    status_code = 451

    def __init__(self, link: str | URL | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._link = None
        if link:
            self._link = URL(link)
            self.headers["Link"] = f'<{self._link!s}>; rel="blocked-by"'

    @property
    def link(self) -> URL | None:
        return self._link


def _generate() -> str:
    """The class statements for ``STATUS_TABLE`` (pasted below the marker)."""
    out = []
    for name, status, base in STATUS_TABLE:
        extra = "    empty_body = True\n" if status in (204, 304) else ""
        out.append(f"\n\nclass {name}({base}):\n    status_code = {status}\n{extra}")
    return "".join(out)


# --- generated from STATUS_TABLE: do not edit by hand -----------------------------------
class HTTPOk(HTTPSuccessful):
    status_code = 200


class HTTPCreated(HTTPSuccessful):
    status_code = 201


class HTTPAccepted(HTTPSuccessful):
    status_code = 202


class HTTPNonAuthoritativeInformation(HTTPSuccessful):
    status_code = 203


class HTTPNoContent(HTTPSuccessful):
    status_code = 204
    empty_body = True


class HTTPResetContent(HTTPSuccessful):
    status_code = 205


class HTTPPartialContent(HTTPSuccessful):
    status_code = 206


class HTTPMultipleChoices(HTTPMove):
    status_code = 300


class HTTPMovedPermanently(HTTPMove):
    status_code = 301


class HTTPFound(HTTPMove):
    status_code = 302


class HTTPSeeOther(HTTPMove):
    status_code = 303


class HTTPNotModified(HTTPRedirection):
    status_code = 304
    empty_body = True


class HTTPUseProxy(HTTPMove):
    status_code = 305


class HTTPTemporaryRedirect(HTTPMove):
    status_code = 307


class HTTPPermanentRedirect(HTTPMove):
    status_code = 308


class HTTPBadRequest(HTTPClientError):
    status_code = 400


class HTTPUnauthorized(HTTPClientError):
    status_code = 401


class HTTPPaymentRequired(HTTPClientError):
    status_code = 402


class HTTPForbidden(HTTPClientError):
    status_code = 403


class HTTPNotFound(HTTPClientError):
    status_code = 404


class HTTPNotAcceptable(HTTPClientError):
    status_code = 406


class HTTPProxyAuthenticationRequired(HTTPClientError):
    status_code = 407


class HTTPRequestTimeout(HTTPClientError):
    status_code = 408


class HTTPConflict(HTTPClientError):
    status_code = 409


class HTTPGone(HTTPClientError):
    status_code = 410


class HTTPLengthRequired(HTTPClientError):
    status_code = 411


class HTTPPreconditionFailed(HTTPClientError):
    status_code = 412


class HTTPRequestURITooLong(HTTPClientError):
    status_code = 414


class HTTPUnsupportedMediaType(HTTPClientError):
    status_code = 415


class HTTPRequestRangeNotSatisfiable(HTTPClientError):
    status_code = 416


class HTTPExpectationFailed(HTTPClientError):
    status_code = 417


class HTTPMisdirectedRequest(HTTPClientError):
    status_code = 421


class HTTPUnprocessableEntity(HTTPClientError):
    status_code = 422


class HTTPFailedDependency(HTTPClientError):
    status_code = 424


class HTTPUpgradeRequired(HTTPClientError):
    status_code = 426


class HTTPPreconditionRequired(HTTPClientError):
    status_code = 428


class HTTPTooManyRequests(HTTPClientError):
    status_code = 429


class HTTPRequestHeaderFieldsTooLarge(HTTPClientError):
    status_code = 431


class HTTPInternalServerError(HTTPServerError):
    status_code = 500


class HTTPNotImplemented(HTTPServerError):
    status_code = 501


class HTTPBadGateway(HTTPServerError):
    status_code = 502


class HTTPServiceUnavailable(HTTPServerError):
    status_code = 503


class HTTPGatewayTimeout(HTTPServerError):
    status_code = 504


class HTTPVersionNotSupported(HTTPServerError):
    status_code = 505


class HTTPVariantAlsoNegotiates(HTTPServerError):
    status_code = 506


class HTTPInsufficientStorage(HTTPServerError):
    status_code = 507


class HTTPNotExtended(HTTPServerError):
    status_code = 510


class HTTPNetworkAuthenticationRequired(HTTPServerError):
    status_code = 511


# --- end of generated classes -----------------------------------------------------------


class RequestPayloadError(Exception):
    """A request body that cannot be read to its end: malformed inside (a bad chunk) or
    not valid for its ``Content-Encoding`` (aiohttp's name, for ``except`` clauses)."""


class MalformedRequestBody(HTTPBadRequest, RequestPayloadError):
    """What ``read()``, ``text()``, ``json()``, ``post()`` and a decoded
    ``request.content`` raise for such a body: a 400 when it escapes the handler."""


def http_exception_for(error: HttpProcessingError) -> HTTPException:
    """The web exception for a protocol error met while reading a body (a handler's
    ``read()``/``post()``): 408 for a body too slow, 413 past a limit, 400 otherwise."""
    if error.status == 408:
        return HTTPRequestTimeout(text=error.message)
    if error.status == 413:
        return HTTPRequestEntityTooLarge(max_size=0, actual_size=0, text=error.message)
    return MalformedRequestBody(text=error.message)


if __name__ == "__main__" and sys.argv[1:] == ["--generate"]:
    print(_generate())
