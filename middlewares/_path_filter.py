"""``PathFilter``: the set of request paths a middleware leaves alone (health checks, ACME).

Several middlewares in the catalogue take an ``exclude=`` (or ``exempt=``) list; they all
read it the same way, through this class, so that ``"/healthz"`` and ``"/internal/*"`` mean
the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["PathFilter"]


class PathFilter:
    """Exact paths and path prefixes, matched against the decoded ``request.path``.

    A pattern ending in ``*`` is a prefix (``"/internal/*"`` matches ``/internal/`` and
    everything below it; ``"/health*"`` matches ``/health`` and ``/healthz``); any other
    pattern must equal the path. Matching is case-sensitive, as paths are (RFC 3986 6.2.2.1
    only makes the scheme and host case-insensitive).

    Args:
        patterns: the exact paths and ``*``-terminated prefixes.

    Raises:
        ValueError: a pattern does not start with ``/``, or has a ``*`` anywhere but at
            the end.
    """

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, patterns: Iterable[str] = ()) -> None:
        exact: set[str] = set()
        prefixes: list[str] = []
        for pattern in patterns:
            if not pattern.startswith("/"):
                raise ValueError(f"Path pattern {pattern!r} must start with '/'")
            if "*" in pattern[:-1]:
                raise ValueError(f"Path pattern {pattern!r}: '*' is only allowed at the end")
            if pattern.endswith("*"):
                prefixes.append(pattern[:-1])
            else:
                exact.add(pattern)
        self._exact = frozenset(exact)
        self._prefixes = tuple(prefixes)

    def __contains__(self, path: object) -> bool:
        if not isinstance(path, str):
            return False
        return path in self._exact or (bool(self._prefixes) and path.startswith(self._prefixes))

    def __bool__(self) -> bool:
        return bool(self._exact or self._prefixes)

    def __repr__(self) -> str:
        patterns = sorted(self._exact) + [prefix + "*" for prefix in self._prefixes]
        return f"PathFilter({patterns!r})"
