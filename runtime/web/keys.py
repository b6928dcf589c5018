"""Typed keys for the mappings users keep state in: applications, requests, responses.

``DB = web.AppKey("DB", Database)`` makes ``app[DB]`` a ``Database`` to mypy; ``RequestKey``
and ``ResponseKey`` do the same for ``request[...]`` and ``response[...]`` (aiohttp 3.14's
names). A ``str`` key still works but warns with :class:`NotAppKeyWarning`, as in aiohttp:
two libraries that both store ``app["db"]`` overwrite each other silently, two keys never
do (https://docs.aiohttp.org/en/stable/web_advanced.html#application-s-config).
"""

from __future__ import annotations

import warnings
from typing import Any, Final, Generic, TypeVar, final

__all__ = ["AppKey", "NotAppKeyWarning", "RequestKey", "ResponseKey", "warn_str_key"]

_T = TypeVar("_T")

_DOCS: Final = "https://docs.aiohttp.org/en/stable/web_advanced.html"


class NotAppKeyWarning(UserWarning):
    """A ``str`` key was given to an application, a request or a response: use a typed key.

    ``runtime.web`` filters it out by default, as aiohttp does; ``-W default``, ``-X dev``
    and pytest's warning filters show it (and ``filterwarnings = error`` fails on it).
    """


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


# What each mapping's warning says: its typed key and aiohttp's documentation section.
_ADVICE: Final = {
    AppKey: ("Application", "app", "#application-s-config"),
    RequestKey: ("Request", "request", "#request-s-storage"),
    ResponseKey: ("Response", "response", "#response-s-storage"),
}


def warn_str_key(key: object, typed: type[_TypedKey[Any]], *, stacklevel: int) -> None:
    """Warn that ``key`` should have been a ``typed`` key; ``stacklevel`` counts from the
    caller of this function, as :func:`warnings.warn`'s does from its caller."""
    owner, var, anchor = _ADVICE[typed]
    kind = typed.__name__
    warnings.warn(
        f"{owner} key {key!r} is a str: use a web.{kind} instance instead "
        f"(KEY = web.{kind}({key!r}, ValueType); {var}[KEY] = value), which types the "
        f"value and cannot clash with another library's key; see {_DOCS}{anchor}",
        NotAppKeyWarning,
        stacklevel=stacklevel + 1,
    )
