"""Following redirects (RFC 9110 15.4): the next method, URL and headers."""

from __future__ import annotations

from multidict import CIMultiDict
from yarl import URL

from .errors import InvalidURL

__all__ = ["REDIRECT_STATUSES", "redirect_headers", "redirect_method", "redirect_url"]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CONTENT_HEADERS = ("Content-Type", "Content-Length", "Content-Encoding", "Transfer-Encoding")


def redirect_method(status: int, method: str) -> tuple[str, bool]:
    """The method of the next request, and whether the body goes with it.

    303 turns anything but HEAD into a GET (RFC 9110 15.4.4); 301 and 302 turn a POST into
    a GET, as browsers and aiohttp do (RFC 9110 15.4.2-3 allow it); 307 and 308 keep the
    method and the body (15.4.8-9).
    """
    if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
        return "GET", False
    return method, True


def redirect_url(current: URL, location: str) -> URL:
    """Resolve ``Location`` against the current URL.

    Raises:
        InvalidURL: the target is not an http or https URL with a host.
    """
    try:
        target = current.join(URL(location))
    except ValueError as exc:
        raise InvalidURL(location, f"invalid redirect location: {exc}") from None
    if target.scheme not in ("http", "https") or not target.raw_host:
        raise InvalidURL(location, "redirect to a non-HTTP URL")
    return target.with_fragment(None)


def redirect_headers(
    headers: CIMultiDict[str], current: URL, target: URL, keep_body: bool
) -> CIMultiDict[str]:
    """The caller's headers for the next request: without the body's headers when the body
    is dropped, and without credentials when the origin changes."""
    result = CIMultiDict(headers)
    result.popall("Host", None)
    if not keep_body:
        for name in _CONTENT_HEADERS:
            result.popall(name, None)
    if current.origin() != target.origin():
        result.popall("Authorization", None)
        result.popall("Cookie", None)
    return result
