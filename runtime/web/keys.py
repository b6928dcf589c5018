"""Typed keys for the mappings users keep state in: applications, requests, responses.

``DB = web.AppKey("DB", Database)`` makes ``app[DB]`` a ``Database`` to mypy; ``RequestKey``
and ``ResponseKey`` do the same for ``request[...]`` and ``response[...]`` (aiohttp 3.14's
names). A ``str`` key still works but warns with :class:`NotAppKeyWarning`, as in aiohttp:
two libraries that both store ``app["db"]`` overwrite each other silently, two keys never
do (https://docs.aiohttp.org/en/stable/web_advanced.html#application-s-config).
"""

from __future__ import annotations

import functools
import sys
import warnings
from typing import Any, Final, Generic, TypeVar, final, get_args

__all__ = [
    "AppKey",
    "NotAppKeyWarning",
    "RequestKey",
    "ResponseKey",
    "is_foreign_key",
    "warn_str_key",
]

_T = TypeVar("_T")

_DOCS: Final = "https://docs.aiohttp.org/en/stable/web_advanced.html"


class NotAppKeyWarning(UserWarning):
    """A ``str`` key was given to an application, a request or a response: use a typed key.

    ``runtime.web`` filters it out by default, as aiohttp does; ``-W default``, ``-X dev``
    and pytest's warning filters show it (and ``filterwarnings = error`` fails on it).
    """


def _defining_module() -> str | None:
    """The module whose top-level code is running (where the key is defined), so that two
    modules' keys of the same name print apart, as aiohttp prints them."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "<module>":
            return str(frame.f_globals.get("__name__", "")) or None
        frame = frame.f_back  # type: ignore[assignment]
    return None  # e.g. created in a thread's target: no module code below it


def _type_repr(t: object) -> str:
    if isinstance(t, type):
        if t.__module__ == "builtins":
            return t.__qualname__
        return f"{t.__module__}.{t.__qualname__}"
    return repr(t)  # a generic alias such as Iterator[int], or Annotated[...]


@functools.total_ordering
class _TypedKey(Generic[_T]):
    __slots__ = ("__orig_class__", "_module", "_name", "_t")

    # Set by typing when the key is made as ``AppKey[Iterator[int]]("name")``: how a type
    # that is not a class reaches the key.
    __orig_class__: type[object]

    def __init__(self, name: str, t: type[_T] | None = None) -> None:
        self._name = name
        self._t = t
        self._module = _defining_module()

    @property
    def name(self) -> str:
        return self._name

    @property
    def _qualified_name(self) -> str:
        return self._name if self._module is None else f"{self._module}.{self._name}"

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _TypedKey):
            return self._qualified_name < other._qualified_name
        return True  # typed keys sort before other keys (str ones), as in aiohttp

    def __repr__(self) -> str:
        t: object = self._t
        if t is None:
            orig = getattr(self, "__orig_class__", None)
            args = get_args(orig) if orig is not None else ()
            t = args[0] if args else None
        type_name = "<<Unknown>>" if t is None else _type_repr(t)
        return f"<{type(self).__name__}({self._qualified_name}, type={type_name})>"


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


def is_foreign_key(key: object, typed: type) -> bool:
    """Whether ``key`` is aiohttp's own key of the kind ``typed`` is ours (``AppKey``,
    ``RequestKey``, ``ResponseKey``): an extension that imported aiohttp's keys (without
    the compatibility mode, or before it) stores under them, and they are typed keys too
    (docs/compat.md). Recognised without importing aiohttp."""
    cls = type(key)
    return cls.__name__ == typed.__name__ and cls.__module__.startswith("aiohttp.")
