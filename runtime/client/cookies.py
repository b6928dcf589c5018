"""Per-session cookies, kept by name: deliberately not a full RFC 6265 cookie jar.

A cookie a response sets is sent back to the host that set it (or to the hosts its
``Domain`` attribute names), only over https when it is ``Secure``, and is dropped when it
expires. Paths are not matched, and a second cookie of the same name replaces the first.
Cookies given to the session directly are sent to every host.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from http.cookies import CookieError, Morsel, SimpleCookie
from typing import Any

from yarl import URL

__all__ = ["CookieJar"]

client_logger = logging.getLogger("runtime.client")

CookieSource = Mapping[str, Any] | Iterable[tuple[str, Any]] | SimpleCookie


class CookieJar:
    """The cookies of one :class:`ClientSession`."""

    __slots__ = ("_cookies",)

    def __init__(self) -> None:
        # name -> (morsel, host it may go to ("" = any), expiry as time.time() or None)
        self._cookies: dict[str, tuple[Morsel[str], str, float | None]] = {}

    def __len__(self) -> int:
        return len(self._cookies)

    def __iter__(self) -> Iterator[Morsel[str]]:
        return iter([entry[0] for entry in self._cookies.values()])

    def clear(self) -> None:
        self._cookies.clear()

    def update_cookies(self, cookies: CookieSource, response_url: URL | None = None) -> None:
        """Store cookies: name/value pairs, ``Morsel``s or a ``SimpleCookie``.

        Args:
            cookies: what to store.
            response_url: the URL of the response that set them; cookies without it are
                sent to every host.
        """
        items = cookies.items() if isinstance(cookies, Mapping) else cookies
        host = (response_url.raw_host or "") if response_url is not None else ""
        for name, value in items:
            morsel = value if isinstance(value, Morsel) else _morsel(name, value)
            if morsel is None:
                continue
            self._store(name, morsel, host)

    def update_from_headers(self, set_cookie: Iterable[str], response_url: URL) -> None:
        """Store what ``Set-Cookie`` header values say (bad ones are logged and skipped)."""
        for header in set_cookie:
            parsed: SimpleCookie = SimpleCookie()
            try:
                parsed.load(header)
            except CookieError:
                client_logger.warning("Ignoring an invalid Set-Cookie header: %r", header)
                continue
            self.update_cookies(parsed, response_url)

    def _store(self, name: str, morsel: Morsel[str], host: str) -> None:
        domain = morsel["domain"].lstrip(".").lower()
        if domain and host and not _domain_match(host, domain):
            return  # a host may not set cookies for another domain
        expiry = _expiry(morsel)
        if expiry is not None and expiry <= time.time():
            self._cookies.pop(name, None)  # Max-Age=0 or a past Expires deletes
            return
        self._cookies[name] = (morsel, ("." + domain) if domain else host, expiry)

    def filter_cookies(self, request_url: URL) -> SimpleCookie:
        """The cookies to send with a request to ``request_url``."""
        found: SimpleCookie = SimpleCookie()
        if not self._cookies:
            return found
        host = (request_url.raw_host or "").lower()
        secure = request_url.scheme in ("https", "wss")
        now = time.time()
        for name, (morsel, scope, expiry) in list(self._cookies.items()):
            if expiry is not None and expiry <= now:
                del self._cookies[name]
                continue
            if morsel["secure"] and not secure:
                continue
            if scope.startswith("."):
                if not _domain_match(host, scope[1:]):
                    continue
            elif scope and scope != host:
                continue
            found[name] = morsel
        return found


def _morsel(name: str, value: Any) -> Morsel[str] | None:
    morsel: Morsel[str] = Morsel()
    real, coded = SimpleCookie().value_encode(str(value))  # quotes what needs quoting
    try:
        morsel.set(name, real, coded)
    except CookieError:
        client_logger.warning("Ignoring a cookie with an invalid name: %r", name)
        return None
    return morsel


def _domain_match(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _expiry(morsel: Morsel[str]) -> float | None:
    max_age = morsel["max-age"]
    if max_age:
        try:
            return time.time() + int(max_age)
        except ValueError:
            return None
    expires = morsel["expires"]
    if expires:
        try:
            return parsedate_to_datetime(expires).timestamp()
        except (TypeError, ValueError):
            return None
    return None
