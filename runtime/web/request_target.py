"""The request target as a URL (``request.rel_url``), and the bounded memo per target that
both it and the router keep: clients repeat the same few targets, so each is parsed once."""

from __future__ import annotations

from typing import TypeVar

from yarl import URL

from .exceptions import HTTPBadRequest

__all__ = ["rel_url_of", "remember_target"]

_T = TypeVar("_T")
_REL_URLS: dict[str, URL] = {}


def remember_target(memo: dict[str, _T], target: str, value: _T) -> None:
    """Keep ``value`` for a request target: clients repeat the same few. Bounded whatever
    targets clients make up: one longer than 256 characters is not kept, and at 2,048
    targets ``memo`` starts over."""
    if len(target) <= 256:
        if len(memo) >= 2048:
            memo.clear()
        memo[target] = value


def rel_url_of(target: str) -> URL:
    """The target as a relative URL (``request.rel_url``); 400 for one yarl refuses."""
    url = _REL_URLS.get(target)
    if url is None:
        url = _parse_target(target)
        remember_target(_REL_URLS, target, url)  # URLs are immutable: shared
    return url


def _parse_target(target: str) -> URL:
    try:
        if target.startswith("/"):
            path, _, query = target.partition("?")
            path = path.partition("#")[0]
            return URL.build(path=path, query_string=query, encoded=True)
        url = URL(target)  # absolute-form (RFC 9112 3.2.2), authority-form or "*"
        return url.relative() if url.absolute else url
    except ValueError as exc:
        raise HTTPBadRequest(text=f"Invalid request target: {exc}") from None
