"""Header values: ``Cookie`` (RFC 6265 5.4) and ``Forwarded`` (RFC 7239) parsing, entity
tags (``web.ETag``) and their lists (``If-Match``, ``If-None-Match``: RFC 9110 13.1.1-2)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Final

from .grammar import OWS, etagc, parameter_name, parameter_value, unescape_quoted_pairs

__all__ = ["ETag", "parse_cookie_header", "parse_etag_list", "parse_forwarded"]

# RFC 7239 4: forwarded-pair = token "=" value, value = token / quoted-string: the shape of
# an RFC 9110 5.6.6 parameter.
_FORWARDED_PAIR = re.compile(rf"{OWS}({parameter_name})=({parameter_value}){OWS}")
# RFC 6265 4.1.1: a cookie name is a token; controls, spaces, DQUOTE, ";" and "=" never are.
_COOKIE_NAME = re.compile(r'[^\x00-\x20\x7f";=]+')
# The escapes SimpleCookie (our Set-Cookie writer) puts in quoted values: \" and \054.
_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7]{2})|(.))")


def parse_cookie_header(header: str) -> Iterator[tuple[str, str]]:
    """The ``(name, value)`` pairs of one ``Cookie`` header, quoted values unescaped."""
    # RFC 6265 5.4: a Cookie header holds only name=value pairs, so "path" or "expires" are
    # cookie names here, not attributes. A malformed pair is skipped without hiding the
    # pairs after it; values cannot contain ";" (RFC 6265 4.1.1), so splitting is exact.
    for pair in header.split(";"):
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or _COOKIE_NAME.fullmatch(name) is None:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _COOKIE_ESCAPE.sub(_unescape_cookie, value[1:-1])
        yield name, value


def _unescape_cookie(match: re.Match[str]) -> str:
    octal, char = match.groups()
    return chr(int(octal, 8)) if octal else char


def parse_forwarded(headers: Iterable[str]) -> Iterator[Mapping[str, str]]:
    """The elements of ``Forwarded`` headers (RFC 7239 4), first hop first, as read-only
    mappings with lower-cased names; a malformed element is skipped whole."""
    for header in headers:
        for element in _split_outside_quotes(header, ","):
            pairs: dict[str, str] = {}
            for pair in _split_outside_quotes(element, ";"):
                if not pair.strip():
                    continue
                match = _FORWARDED_PAIR.fullmatch(pair)
                if match is None:
                    pairs = {}
                    break
                name, value = match.groups()
                if value.startswith('"'):
                    value = unescape_quoted_pairs(value[1:-1])
                pairs.setdefault(name.lower(), value)
            if pairs:
                yield MappingProxyType(pairs)


def _split_outside_quotes(text: str, sep: str) -> Iterator[str]:
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == sep and not quoted:
            yield text[start:index]
            start = index + 1
    yield text[start:]


class ETag:
    """An entity tag (RFC 9110 8.8.3)."""

    __slots__ = ("is_weak", "value")

    def __init__(self, value: str, is_weak: bool = False) -> None:
        self.value = value
        self.is_weak = is_weak

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ETag) and other.value == self.value and other.is_weak == self.is_weak
        )

    def __hash__(self) -> int:
        return hash((self.value, self.is_weak))

    def __repr__(self) -> str:
        return f"ETag(value={self.value!r}, is_weak={self.is_weak})"


# RFC 9110 8.8.3: entity-tag = [ "W/" ] opaque-tag, opaque-tag = DQUOTE *etagc DQUOTE; the
# list elements are separated by commas with optional whitespace.
_ETAG_ELEMENT: Final = re.compile(rf'{OWS}(W/)?"({etagc}*)"{OWS}(?:,|\Z)')


def parse_etag_list(value: str) -> Iterator[ETag]:
    """The entity tags of an ``If-Match`` / ``If-None-Match`` value.

    ``*`` gives ``ETag("*")``; parsing stops at the first element that is not an
    entity-tag (the ones before it are kept, as aiohttp does).
    """
    if value.strip() == "*":
        yield ETag("*")
        return
    position = 0
    while position < len(value):
        match = _ETAG_ELEMENT.match(value, position)
        if match is None:
            return
        yield ETag(match.group(2), is_weak=match.group(1) is not None)
        position = match.end()
