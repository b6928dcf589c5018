"""Typed keys for the mappings users keep state in: applications, requests, responses.

``DB = web.AppKey("DB", Database)`` makes ``app[DB]`` a ``Database`` to mypy; ``RequestKey``
and ``ResponseKey`` do the same for ``request[...]`` and ``response[...]`` (aiohttp 3.14's
names).
"""

from __future__ import annotations

from typing import Generic, TypeVar, final

__all__ = ["AppKey", "NotAppKeyWarning", "RequestKey", "ResponseKey"]

_T = TypeVar("_T")


class NotAppKeyWarning(UserWarning):
    """aiohttp warns with this when an application is given a ``str`` key. Berth never
    does: ``app["db"] = db`` is a supported style (docs/faq.md, "Where to put my database
    connection so handlers can access it?"). The class exists so code that filters the
    warning (``warnings.filterwarnings(..., web.NotAppKeyWarning)``) runs unchanged."""


class _TypedKey(Generic[_T]):
    __slots__ = ("__orig_class__", "_name", "_t")

    def __init__(self, name: str, t: type[_T] | None = None) -> None:
        self._name = name
        self._t = t

    @property
    def name(self) -> str:
        return self._name

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _TypedKey):
            return self._name < other._name
        return True

    def __repr__(self) -> str:
        t = self._t
        type_name = "<<Unknown>>" if t is None else getattr(t, "__qualname__", repr(t))
        return f"<{type(self).__name__}({self._name}, type={type_name})>"


@final
class AppKey(_TypedKey[_T]):
    """A typed key for application state."""

    __slots__ = ()


@final
class RequestKey(_TypedKey[_T]):
    """A typed key for per-request data (``request[USER]``)."""

    __slots__ = ()


@final
class ResponseKey(_TypedKey[_T]):
    """A typed key for per-response data (``response[TIMING]``)."""

    __slots__ = ()
