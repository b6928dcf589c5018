"""Resources: what a path matches (a plain path, a pattern, or a prefix) and its routes.

Paths are matched in yarl's ``path_safe`` form, as aiohttp 3.10+ does: percent-decoded,
except that ``%2F`` and ``%25`` stay encoded, so an encoded slash never splits a segment.
Captured parts are then decoded fully (``a%2Fb`` -> ``a/b``). The literal text of a route
is compared as written, as aiohttp 3.14 compares it: a route is written decoded
(``/a,b``, ``/café``), and an escape in it is just text, so ``/a%2Cb`` never matches (the
request's ``%2C`` is decoded to ``,``) while ``/a%2Fb`` matches an encoded slash.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Iterable, Iterator, Sized
from typing import TYPE_CHECKING, Final, NamedTuple
from urllib.parse import quote

from yarl import URL

from .match_info import UrlMappingMatchInfo
from .route import AbstractRoute, ExpectHandler, Handler, InfoDict, ResourceRoute
from .view import METH_ANY, AbstractView

if TYPE_CHECKING:
    from ..app import Application
    from ..request import Request

__all__ = [
    "AbstractResource",
    "DynamicResource",
    "PlainResource",
    "PrefixResource",
    "Resolved",
    "Resource",
]

Resolved = tuple[UrlMappingMatchInfo | None, set[str]]

# RFC 3986 3.3: pchar minus "%" (which is quoted unless it already starts an escape).
_PATH_SAFE_CHARS: Final = "/:@!$&'()*+,;=-._~"
_VAR_NAME: Final = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
# A variable without a regex matches one path segment.
_SEGMENT: Final = r"[^{}/]+"


def quote_path_part(value: str) -> str:
    """Percent-encode a value for a path, ``%`` included; ``/`` is kept, as aiohttp does."""
    return quote(value, safe=_PATH_SAFE_CHARS)


def requote_path(path: str) -> str:
    """Encode what must be encoded in a path, keeping the ``%XX`` escapes already there."""
    return quote(path, safe=_PATH_SAFE_CHARS + "%")


def unquote_path_safe(value: str) -> str:
    """Decode the two escapes ``path_safe`` leaves encoded."""
    if "%" not in value:
        return value
    return value.replace("%2F", "/").replace("%25", "%")


class _Var(NamedTuple):
    name: str
    regex: str | None


def _closing_brace(path: str, start: int) -> int:
    """The index of the ``}`` closing the ``{`` at ``start``; a regex may nest braces
    (``{id:\\d{1,3}}``) and escape them."""
    depth = 0
    index = start
    while index < len(path):
        char = path[index]
        if char == "\\":
            index += 2
            continue
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise ValueError(f"Invalid path {path!r}: '{{' at {start} is never closed")


def parse_route_path(path: str) -> list[str | _Var]:
    """Split a route path into literal text and ``{name}`` / ``{name:regex}`` variables.

    Raises:
        ValueError: unbalanced braces, a bad variable name or an empty regex.
    """
    parts: list[str | _Var] = []
    literal_start = index = 0
    while index < len(path):
        char = path[index]
        if char == "}":
            raise ValueError(f"Invalid path {path!r}: unmatched '}}' at {index}")
        if char != "{":
            index += 1
            continue
        end = _closing_brace(path, index)
        if index > literal_start:
            parts.append(path[literal_start:index])
        name, colon, regex = path[index + 1 : end].partition(":")
        if not _VAR_NAME.fullmatch(name) or (colon and not regex):
            raise ValueError(f"Invalid path {path!r}: bad variable {path[index : end + 1]!r}")
        parts.append(_Var(name, regex if colon else None))
        index = literal_start = end + 1
    if literal_start < len(path):
        parts.append(path[literal_start:])
    return parts


def _check_prefix(prefix: str) -> None:
    if not prefix.startswith("/") or prefix.endswith("/") or len(prefix) < 2:
        raise ValueError(f"A prefix starts with '/' and does not end with one, got {prefix!r}")


class AbstractResource(Sized, Iterable[AbstractRoute]):
    """Something the router can match a request against; iterating gives its routes.

    Args:
        name: the name ``router[name]`` finds it by, for ``url_for``.
    """

    def __init__(self, *, name: str | None = None) -> None:
        self._name = name

    @property
    def name(self) -> str | None:
        return self._name

    @property
    @abc.abstractmethod
    def canonical(self) -> str:
        """The resource's path as registered, e.g. ``/users/{id}``."""

    @abc.abstractmethod
    def url_for(self, **kwargs: str) -> URL:
        """Build a URL to the resource."""

    @abc.abstractmethod
    async def resolve(self, request: Request) -> Resolved:
        """Match a request.

        Returns:
            ``(match_info, allowed_methods)``: the match info (None when nothing matched)
            and, when the path matched, the methods the resource has routes for.
        """

    @abc.abstractmethod
    def add_prefix(self, prefix: str) -> None:
        """Put ``prefix`` in front of the paths the resource matches (sub-applications)."""

    @abc.abstractmethod
    def get_info(self) -> InfoDict:
        """What the resource matches, for introspection."""

    def freeze(self) -> None:
        """Called when the router freezes."""

    @abc.abstractmethod
    def raw_match(self, path: str) -> bool:
        """Whether ``path`` is the path this resource was registered with."""


class Resource(AbstractResource):
    """A resource with routes per method; ``_match`` decides whether the path matches."""

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._routes: dict[str, ResourceRoute] = {}
        self._any_route: ResourceRoute | None = None
        self._allowed_methods: set[str] = set()
        self._frozen = False

    def add_route(
        self,
        method: str,
        handler: Handler | type[AbstractView],
        *,
        expect_handler: ExpectHandler | None = None,
    ) -> ResourceRoute:
        """Add a route for ``method`` (``"*"``: any method).

        Raises:
            RuntimeError: the method (or ``*``) already has a route here, or the router is
                frozen.
        """
        if self._frozen:
            raise RuntimeError(
                f"Cannot add a {method} route to {self!r}: the router is frozen once the "
                "application starts (or is added as a sub-application); add routes before"
            )
        existing = self._routes.get(method.upper(), self._any_route)
        if existing is not None:
            raise RuntimeError(
                f"Added route will never be executed, method {existing.method} is already "
                f"registered for {self.canonical}"
            )
        route = ResourceRoute(method, handler, self, expect_handler=expect_handler)
        self.register_route(route)
        return route

    def register_route(self, route: ResourceRoute) -> None:
        if not isinstance(route, ResourceRoute):
            raise TypeError(f"Instance of ResourceRoute is required, got {route!r}")
        if route.method == METH_ANY:
            self._any_route = route
        self._allowed_methods.add(route.method)
        self._routes[route.method] = route

    async def resolve(self, request: Request) -> Resolved:
        return self._resolve_now(request.rel_url.path_safe, request.method)

    def _resolve_now(self, path: str, method: str, root: Application | None = None) -> Resolved:
        # resolve() without the coroutine: the router calls it directly on the hot path,
        # with the root application to add (see UrlMappingMatchInfo).
        match_dict = self._match(path)
        if match_dict is None:
            return None, set()
        route = self._routes.get(method, self._any_route)
        if route is not None:
            return UrlMappingMatchInfo(match_dict, route, root), self._allowed_methods
        return None, self._allowed_methods

    @abc.abstractmethod
    def _match(self, path: str) -> dict[str, str] | None:
        """The captured parts if ``path`` (``path_safe`` form) matches, else None."""

    def freeze(self) -> None:
        self._frozen = True

    def __len__(self) -> int:
        return len(self._routes)

    def __iter__(self) -> Iterator[ResourceRoute]:
        return iter(self._routes.values())


class PlainResource(Resource):
    """A path without variables, matched by string comparison (and found by dict lookup).

    Args:
        path: starts with ``/``, or is empty (``/`` once frozen).
    """

    def __init__(self, path: str, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if path and not path.startswith("/"):
            raise ValueError(f"A path starts with '/', got {path!r}")
        self._orig_path = path
        self._set_path(path)

    def _set_path(self, path: str) -> None:
        self._raw = path
        self._path = requote_path(path)
        # An empty path is the root: aiohttp makes it "/" at freeze; matching it as "/"
        # from the start gives the same result without the two-phase state.
        self._safe = path or "/"

    @property
    def canonical(self) -> str:
        return self._path

    @property
    def match_path(self) -> str:
        """The path in the form requests are matched in (the router's index key)."""
        return self._safe

    def freeze(self) -> None:
        super().freeze()
        if not self._raw:
            self._set_path("/")

    def add_prefix(self, prefix: str) -> None:
        _check_prefix(prefix)
        self._set_path(prefix + self._raw)

    def _match(self, path: str) -> dict[str, str] | None:
        return {} if path == self._safe else None

    def raw_match(self, path: str) -> bool:
        return self._orig_path == path

    def get_info(self) -> InfoDict:
        return {"path": self._path}

    def url_for(self) -> URL:  # type: ignore[override]
        """Returns: the resource's URL (it has no parts to fill in)."""
        return URL.build(path=self._path, encoded=True)

    def __repr__(self) -> str:
        name = f"'{self.name}' " if self.name is not None else ""
        return f"<PlainResource {name} {self._path}>"


class DynamicResource(Resource):
    """A path with ``{name}`` (one segment) or ``{name:regex}`` variables.

    Regexes are compiled with ``re.ASCII``: ``\\d`` matches 0-9 only, never other scripts'
    digits.

    Args:
        path: the route path, e.g. ``/users/{id:\\d+}`` or ``/files/{tail:.+}``.

    Raises:
        ValueError: the path is malformed or a regex does not compile.
    """

    def __init__(self, path: str, *, name: str | None = None) -> None:
        super().__init__(name=name)
        if not path.startswith("/"):
            raise ValueError(f"A path starts with '/', got {path!r}")
        self._orig_path = path
        self._compile(path)

    def _compile(self, path: str) -> None:
        pattern: list[str] = []
        formatter: list[str] = []
        literal: list[str] = []  # the text before the first variable, as written
        seen_var = False
        for part in parse_route_path(path):
            if isinstance(part, _Var):
                seen_var = True
                pattern.append(f"(?P<{part.name}>{part.regex or _SEGMENT})")
                formatter.append("{" + part.name + "}")
            else:
                if not seen_var:
                    literal.append(part)
                pattern.append(re.escape(part))
                formatter.append(requote_path(part))
        try:
            compiled = re.compile("".join(pattern), re.ASCII)
        except re.error as exc:
            raise ValueError(f"Bad pattern in {path!r}: {exc}") from None
        self._raw = path
        self._pattern = compiled
        self._formatter = "".join(formatter)
        # The index key: the literal path before the first variable, cut back to a "/".
        self._head = "".join(literal).rpartition("/")[0].rstrip("/") or "/"

    @property
    def canonical(self) -> str:
        return self._formatter

    @property
    def index_key(self) -> str:
        """The literal segments before the first variable (``/users`` for
        ``/users/{id}``): only requests under that path can match."""
        return self._head

    def add_prefix(self, prefix: str) -> None:
        _check_prefix(prefix)
        self._compile(prefix + self._raw)

    def _match(self, path: str) -> dict[str, str] | None:
        match = self._pattern.fullmatch(path)
        if match is None:
            return None
        parts = match.groupdict()
        if "%" not in path and None not in parts.values():
            return parts  # the usual case: nothing to decode, no optional part left out
        return {key: unquote_path_safe(value) for key, value in parts.items() if value is not None}

    def raw_match(self, path: str) -> bool:
        return self._orig_path == path

    def get_info(self) -> InfoDict:
        return {"formatter": self._formatter, "pattern": self._pattern}

    def url_for(self, **parts: str) -> URL:
        """Fill the variables in.

        Values are percent-encoded (``/`` is kept, so a ``{tail:.+}`` can hold several
        segments); like aiohttp, they are not checked against the variables' regexes.

        Raises:
            KeyError: a variable has no value.
        """
        path = self._formatter.format_map({k: quote_path_part(v) for k, v in parts.items()})
        return URL.build(path=path, encoded=True)

    def __repr__(self) -> str:
        name = f"'{self.name}' " if self.name is not None else ""
        return f"<DynamicResource {name} {self._formatter}>"


class PrefixResource(AbstractResource):
    """Base of resources that own every path under a prefix (static files, sub-apps).

    A subclass implements ``resolve``, ``url_for``, ``get_info`` and iteration; ``_prefix``
    is the encoded prefix and ``_prefix2`` the prefix followed by ``/``.

    Args:
        prefix: starts with ``/`` and does not end with one (``""`` and ``"/"`` allowed).
    """

    def __init__(self, prefix: str, *, name: str | None = None) -> None:
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"A prefix starts with '/', got {prefix!r}")
        if prefix not in ("", "/") and prefix.endswith("/"):
            raise ValueError(f"A prefix does not end with '/', got {prefix!r}")
        super().__init__(name=name)
        self._prefix = requote_path(prefix)
        self._prefix2 = self._prefix + "/"
        self._match_prefix = prefix.rstrip("/")  # as written: compared with path_safe

    @property
    def canonical(self) -> str:
        return self._prefix

    def add_prefix(self, prefix: str) -> None:
        _check_prefix(prefix)
        self._prefix = requote_path(prefix) + self._prefix
        self._prefix2 = self._prefix + "/"
        self._match_prefix = prefix + self._match_prefix

    @property
    def match_prefix(self) -> str:
        """The prefix in the form requests are matched in (no trailing ``/``; ``""`` for
        the root)."""
        return self._match_prefix

    def raw_match(self, path: str) -> bool:
        return False

    def _matches_prefix(self, path: str) -> bool:
        """Whether a ``path_safe`` path is the prefix itself or below it."""
        prefix = self._match_prefix
        return path == prefix or path.startswith(prefix + "/")
