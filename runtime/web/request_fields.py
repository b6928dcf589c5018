"""The request header fields ``Request`` offers parsed: HTTP dates (``if_modified_since``
and the like), entity-tag lists (``if_match``, ``if_none_match``) and ``Range``
(``http_range``), as aiohttp's ``BaseRequest`` gives them."""

from __future__ import annotations

import datetime
import re
from email.utils import parsedate_to_datetime
from typing import Final

from ..http.fields import ETag, parse_etag_list

__all__ = ["byte_range", "entity_tags", "http_date"]

_RANGE: Final = re.compile(r"bytes=([0-9]*)-([0-9]*)", re.ASCII)


def http_date(value: str | None) -> datetime.datetime | None:
    """An HTTP date (RFC 9110 5.6.7) as an aware datetime (UTC when it names no zone); None
    when absent, empty or not a date."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def entity_tags(value: str | None) -> tuple[ETag, ...] | None:
    """A list of entity tags (``*`` is ``ETag("*")``); None when absent or empty."""
    if not value:
        return None
    return tuple(parse_etag_list(value))


def byte_range(value: str | None) -> slice:
    """A ``Range`` field as a slice; ASCII digits only (RFC 9110 14.1.1).

    Raises:
        ValueError: not one ``bytes=first-last`` range, or ``first`` after ``last``.
    """
    if value is None:
        return slice(None, None, None)
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        raise ValueError("range not in acceptable format")
    first, last = match.groups()
    start = int(first) if first else None
    end = int(last) if last else None
    if start is None and end is not None:
        return slice(-end, None, None)  # suffix range: the last N bytes
    if start is not None and end is not None:
        if start > end:
            raise ValueError("start cannot be after end")
        return slice(start, end + 1, None)
    if start is None:
        raise ValueError("No start or end of range specified")
    return slice(start, None, None)
