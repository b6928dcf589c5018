"""The header fields a response offers as attributes: cookies, ``content_type`` and
``charset``, ``last_modified``, ``etag`` (aiohttp's ``StreamResponse`` API), over the
response's own header multidict."""

from __future__ import annotations

import datetime
import math
import time
from email.utils import format_datetime, parsedate_to_datetime
from http.cookies import SimpleCookie

from multidict import CIMultiDict, istr

from ..http.fields import ETag
from ..http.grammar import ETAGC_RE
from ..http.header_params import parse_content_type

__all__ = ["HeaderFields"]

_CONTENT_TYPE = istr("Content-Type")


class HeaderFields:
    """Typed views of a response's headers; :class:`~runtime.web.StreamResponse` has them."""

    _headers: CIMultiDict[str]
    # Set-Cookie values, added to the headers when the head is written; made on first use.
    _cookies: SimpleCookie | None = None

    @property
    def cookies(self) -> SimpleCookie:
        if self._cookies is None:
            self._cookies = SimpleCookie()
        return self._cookies

    def set_cookie(
        self,
        name: str,
        value: str,
        *,
        expires: str | None = None,
        domain: str | None = None,
        max_age: int | str | None = None,
        path: str = "/",
        secure: bool | None = None,
        httponly: bool | None = None,
        samesite: str | None = None,
    ) -> None:
        """Add a ``Set-Cookie`` header; ``max_age`` and ``expires`` as in RFC 6265 5.2."""
        cookies = self.cookies
        old = cookies.get(name)
        if old is not None and old.coded_value == "":
            cookies.pop(name, None)  # a del_cookie() earlier in this response
        cookies[name] = value
        morsel = cookies[name]
        if expires is not None:
            morsel["expires"] = expires
        elif morsel.get("expires") == "Thu, 01 Jan 1970 00:00:00 GMT":
            del morsel["expires"]
        if domain is not None:
            morsel["domain"] = domain
        if max_age is not None:
            morsel["max-age"] = str(max_age)
        elif "max-age" in morsel:
            del morsel["max-age"]
        morsel["path"] = path
        if secure is not None:
            morsel["secure"] = secure
        if httponly is not None:
            morsel["httponly"] = httponly
        if samesite is not None:
            morsel["samesite"] = samesite

    def del_cookie(
        self,
        name: str,
        *,
        domain: str | None = None,
        path: str = "/",
        secure: bool | None = None,
        httponly: bool | None = None,
        samesite: str | None = None,
    ) -> None:
        """Expire a cookie in the client."""
        self.cookies.pop(name, None)
        self.set_cookie(
            name,
            "",
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            domain=domain,
            path=path,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    @property
    def content_type(self) -> str:
        value = self._headers.get(_CONTENT_TYPE)
        return parse_content_type(value)[0] if value else "application/octet-stream"

    @content_type.setter
    def content_type(self, value: str) -> None:
        charset = self.charset
        self._headers[_CONTENT_TYPE] = str(value)
        if charset is not None:
            self.charset = charset

    @property
    def charset(self) -> str | None:
        value = self._headers.get(_CONTENT_TYPE)
        return parse_content_type(value)[1].get("charset") if value else None

    @charset.setter
    def charset(self, value: str | None) -> None:
        ctype = self.content_type
        if ctype == "application/octet-stream" and _CONTENT_TYPE not in self._headers:
            if value is None:
                return
            raise RuntimeError(
                "Setting charset for application/octet-stream doesn't make sense, "
                "setup content_type first"
            )
        self._headers[_CONTENT_TYPE] = (
            ctype if value is None else f"{ctype}; charset={value.lower()}"
        )

    @property
    def last_modified(self) -> datetime.datetime | None:
        value = self._headers.get("Last-Modified")
        if value is None:
            return None
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None

    @last_modified.setter
    def last_modified(self, value: int | float | datetime.datetime | str | None) -> None:
        if value is None:
            self._headers.popall("Last-Modified", None)
        elif isinstance(value, (int, float)):
            self._headers["Last-Modified"] = time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(math.ceil(value))
            )
        elif isinstance(value, datetime.datetime):
            self._headers["Last-Modified"] = format_datetime(
                value.astimezone(datetime.UTC), usegmt=True
            )
        else:
            self._headers["Last-Modified"] = value

    @property
    def etag(self) -> ETag | None:
        value = self._headers.get("ETag")
        if not value:
            return None
        weak = value.startswith("W/")
        tag = value[2:] if weak else value
        if len(tag) < 2 or tag[0] != '"' or tag[-1] != '"':
            return None
        return ETag(value=tag[1:-1], is_weak=weak)

    @etag.setter
    def etag(self, value: ETag | str | None) -> None:
        if value is None:
            self._headers.popall("ETag", None)
            return
        if isinstance(value, str):
            if value == "*":
                self._headers["ETag"] = value
                return
            value = ETag(value=value)
        if ETAGC_RE.fullmatch(value.value) is None:
            raise ValueError(f"Invalid ETag value {value.value!r}")  # RFC 9110 8.8.3
        self._headers["ETag"] = f'W/"{value.value}"' if value.is_weak else f'"{value.value}"'
