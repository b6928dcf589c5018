"""gunicorn's ``header_map`` and ``forwarder_headers``: request header names containing ``_``.

A WSGI environ names a header ``HTTP_`` + the name upper-cased with every ``-`` turned into
``_``, so ``X-Forwarded-For`` and ``X_Forwarded_For`` land on the same key: a client can slip a
header past a proxy that only strips the dashed spelling. gunicorn (22.0 and later)
therefore decides what happens to a header whose name contains ``_``:

- a name listed in ``forwarder_headers`` (compared with the name upper-cased; ``*`` lists every
  name), sent by a peer in ``forwarded_allow_ips`` (a unix-socket peer always is), is kept
  whatever ``header_map`` says;
- otherwise ``header_map = drop`` (the default) removes it as if it had never been sent,
  ``refuse`` answers the whole request with 400, and ``dangerous`` keeps it.

The worker applies the same rule to every request it serves, before the request object is
built, so the application, the ``pre_request``/``post_request`` hooks, the access log and StatsD
all see the same headers. Trailer fields are not filtered: they never reach an environ.
Settings: https://docs.gunicorn.org/en/stable/settings.html#header-map and
https://docs.gunicorn.org/en/stable/settings.html#forwarder-headers
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..http.message import RawHeaders
from .trust import AllowList

__all__ = ["HeaderMap", "RefusedHeaderName"]


class RefusedHeaderName(ValueError):
    """A header name with ``_`` under ``header_map = refuse``: the request gets a 400."""

    def __init__(self, name: bytes) -> None:
        self.name = name.decode("ascii", "backslashreplace")
        super().__init__(f"Invalid HTTP header name: {self.name!r}")


class HeaderMap:
    """What to do with request header names that contain ``_``.

    Args:
        refuse: ``header_map = refuse`` (else ``drop``; ``dangerous`` needs no ``HeaderMap``).
        forwarder_headers: names a trusted peer may send anyway, as configured. gunicorn
            compares them with the received name upper-cased, so they are meant upper-case.
        allow: the trusted peers (``forwarded_allow_ips``).
    """

    __slots__ = ("_allow", "_any_forwarder", "_forwarders", "refuse")

    def __init__(self, *, refuse: bool, forwarder_headers: Iterable[str], allow: AllowList) -> None:
        self.refuse = refuse
        names = list(forwarder_headers)
        self._any_forwarder = "*" in names
        self._forwarders = frozenset(name.encode("utf-8") for name in names)
        self._allow = allow

    @classmethod
    def from_config(cls, cfg: Any, allow: AllowList) -> HeaderMap | None:
        """The policy for gunicorn's settings; ``None`` for ``dangerous`` (keep everything).

        As in gunicorn, a value other than ``drop`` or ``dangerous`` refuses (its fail-safe).
        """
        mode = getattr(cfg, "header_map", "drop")
        if mode == "dangerous":
            return None
        forwarders = getattr(cfg, "forwarder_headers", None) or []
        if isinstance(forwarders, str):
            forwarders = [name.strip() for name in forwarders.split(",") if name.strip()]
        return cls(refuse=mode != "drop", forwarder_headers=forwarders, allow=allow)

    def apply(self, peername: Any, raw: RawHeaders) -> RawHeaders:
        """The headers to keep from ``raw``, which holds at least one name with ``_``.

        Raises:
            RefusedHeaderName: under ``refuse``, for the first name that is not kept.
        """
        trusted = self._allow.allows_peer(peername)
        kept = []
        for field in raw:
            name = field[0]
            if b"_" in name and not (trusted and self._forwarded(name)):
                if self.refuse:
                    raise RefusedHeaderName(name)
                continue  # drop: as if it had never been sent
            kept.append(field)
        return tuple(kept)

    def _forwarded(self, name: bytes) -> bool:
        # gunicorn upper-cases the received name and looks it up in the list as written.
        return self._any_forwarder or name.upper() in self._forwarders
