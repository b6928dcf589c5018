"""Which peers may speak for the client, and what their header fields say.

A server behind a reverse proxy sees the proxy as its peer. The proxy tells who the client
is and which scheme it used in header fields, which only a peer we trust may set. The rules
are gunicorn's (27.0, ``http/message.py`` and the ``forwarded_allow_ips``,
``secure_scheme_headers``, ``header_map`` and ``forwarder_headers`` settings:
https://docs.gunicorn.org/en/stable/settings.html), which the gunicorn worker applies to every
request:

- an allow list of addresses or CIDR networks, ``'*'`` for any; a peer on a unix socket is
  always trusted (only local processes reach it);
- a trusted peer's ``secure_scheme_headers`` decide the scheme, and contradicting ones are a
  400. On top of gunicorn, which leaves ``REMOTE_ADDR`` alone, the client address comes from
  ``X-Forwarded-For``, so that ``request.remote`` names the client behind nginx;
- a header name containing ``_`` is dropped (or refused), unless a trusted peer sends one of
  the ``forwarder_headers``. A WSGI environ names a header ``HTTP_`` + the name upper-cased
  with every ``-`` turned into ``_``, so ``X-Forwarded-For`` and ``X_Forwarded_For`` land on
  the same key: a client could slip a header past a proxy that strips only the dashed one.

This module runs once per request under gunicorn and is compiled (docs/compiled.md): the
usual request, whose names carry no ``_`` and none of the forwarded names, costs one look
at the length of each name and one pass over its bytes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, final

from .message import RawHeaders

__all__ = ["AllowList", "Forwarded", "ForwardedTrust", "HeaderNamePolicy"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CACHE_SIZE: Final = 1024
_X_FORWARDED_FOR: Final = b"x-forwarded-for"


@final
class AllowList:
    """An allow list of peers: addresses, networks, ``'*'``; unix-socket peers always pass.

    Args:
        entries: the list as configured (``'*'``, addresses, CIDR networks).
        networks: the networks already parsed (gunicorn parses them once), else from
            ``entries``.
    """

    def __init__(self, entries: Sequence[str], networks: Iterable[Network] | None = None) -> None:
        self.any: bool = "*" in entries
        if networks is None:
            networks = [ipaddress.ip_network(entry) for entry in entries if entry != "*"]
        self._networks: tuple[Network, ...] = tuple(networks)
        self._cache: dict[str, bool] = {}

    def allows_address(self, host: str) -> bool:
        """Whether an IP address (text) is on the list; anything else is not."""
        if self.any:
            return True
        known = self._cache.get(host)
        if known is not None:
            return known
        try:
            address = ipaddress.ip_address(host.partition("%")[0])  # drop an IPv6 zone
        except ValueError:
            allowed = False
        else:
            allowed = any(address in network for network in self._networks)
        if len(self._cache) >= _CACHE_SIZE:
            self._cache.clear()
        self._cache[host] = allowed
        return allowed

    def allows_peer(self, peername: Any) -> bool:
        """Whether a connection's peer is trusted: a unix socket (no address tuple) is."""
        if isinstance(peername, tuple):
            return self.allows_address(str(peername[0]))
        return True


@final
class HeaderNamePolicy:
    """What to do with request header names that contain ``_`` (gunicorn's ``header_map``).

    Args:
        refuse: answer such a request with 400 (``refuse``), else drop the names (``drop``).
            ``dangerous`` keeps them all and needs no policy.
        forwarder_headers: names a trusted peer may send anyway, as configured. gunicorn
            compares them with the received name upper-cased, so they are meant upper-case;
            ``'*'`` lists every name.
    """

    def __init__(self, *, refuse: bool, forwarder_headers: Iterable[str]) -> None:
        self.refuse = refuse
        names = list(forwarder_headers)
        self._any_forwarder = "*" in names
        self._forwarders = frozenset(name.encode("utf-8") for name in names)

    def apply(self, trusted: bool, raw: RawHeaders) -> tuple[RawHeaders, bytes | None]:
        """The fields to keep from ``raw``, and under ``refuse`` the first name refused."""
        kept = []
        for field in raw:
            name = field[0]
            if name.find(b"_") >= 0 and not (trusted and self._forwarded(name)):
                if self.refuse:
                    return raw, name
                continue  # drop: as if it had never been sent
            kept.append(field)
        return tuple(kept), None

    def _forwarded(self, name: bytes) -> bool:
        # gunicorn upper-cases the received name and looks it up in the list as written.
        return self._any_forwarder or name.upper() in self._forwarders


@final
class Forwarded:
    """What one request's fields say, where it differs from what the connection says."""

    def __init__(
        self,
        scheme: str | None = None,
        remote: str | None = None,
        *,
        conflict: bool = False,
        headers: RawHeaders | None = None,
        refused_name: bytes | None = None,
    ) -> None:
        #: ``'https'``/``'http'`` from a trusted peer's secure scheme headers, else None.
        self.scheme = scheme
        #: The client address from a trusted peer's ``X-Forwarded-For``, else None.
        self.remote = remote
        #: The secure scheme headers contradict each other: answer 400.
        self.conflict = conflict
        #: The fields left once names with ``_`` are dropped; None when none is.
        self.headers = headers
        #: Under ``refuse``: the first name with ``_`` not let through (answer 400).
        self.refused_name = refused_name

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Forwarded):
            return NotImplemented
        return (
            self.scheme == other.scheme
            and self.remote == other.remote
            and self.conflict == other.conflict
            and self.headers == other.headers
            and self.refused_name == other.refused_name
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: compared, never a key

    def __repr__(self) -> str:
        return (
            f"Forwarded(scheme={self.scheme!r}, remote={self.remote!r}, "
            f"conflict={self.conflict!r}, headers={self.headers!r}, "
            f"refused_name={self.refused_name!r})"
        )


@final
class ForwardedTrust:
    """Reads ``secure_scheme_headers`` and ``X-Forwarded-For`` from trusted peers only, and
    applies the header name policy to every peer.

    Args:
        allow: the peers allowed to set them (``forwarded_allow_ips``).
        secure_scheme_headers: header name to the value that means HTTPS (names compare
            case-insensitively, values exactly, as gunicorn does).
        names: the policy for names containing ``_``; None keeps them (``dangerous``).
    """

    def __init__(
        self,
        allow: AllowList,
        secure_scheme_headers: Mapping[str, str],
        names: HeaderNamePolicy | None = None,
    ) -> None:
        self.allow = allow
        self.names = names
        self._secure: dict[bytes, bytes] = {
            name.lower().encode("latin-1"): value.encode("latin-1")
            for name, value in secure_scheme_headers.items()
        }
        # Indexed by a name's length: nonzero where one of the names we look for has it.
        # Most fields are none of them, and their length says so without lower-casing.
        lengths = [len(name) for name in self._secure] + [len(_X_FORWARDED_FOR)]
        table = bytearray(max(lengths) + 1)
        for length in lengths:
            table[length] = 1
        self._lengths = bytes(table)

    def resolve(self, peername: Any, raw: RawHeaders) -> Forwarded | None:
        """What ``raw``, received from ``peername``, changes; None when it changes nothing."""
        trusted = self.allow.allows_peer(peername)
        found = self._read(raw) if trusted else None
        names = self.names
        if names is None or not _any_underscore(raw):
            return found
        kept, refused = names.apply(trusted, raw)
        if refused is None and len(kept) == len(raw):
            return found  # every name with "_" came from a trusted forwarder
        if found is None:
            found = Forwarded()
        if refused is not None:
            found.refused_name = refused
        else:
            found.headers = kept
        return found

    def _read(self, raw: RawHeaders) -> Forwarded | None:
        lengths = self._lengths
        top = len(lengths)
        secure = self._secure
        scheme: str | None = None
        conflict = False
        forwarded_for: list[bytes] | None = None
        for name, value in raw:
            size = len(name)
            if size >= top or lengths[size] == 0:
                continue
            lname = name.lower()
            expected = secure.get(lname)
            if expected is not None:
                this = "https" if value == expected else "http"
                if scheme is not None and scheme != this:
                    conflict = True
                scheme = this
            elif lname == _X_FORWARDED_FOR:
                if forwarded_for is None:
                    forwarded_for = []
                forwarded_for.append(value)
        remote = self._client(forwarded_for) if forwarded_for is not None else None
        if scheme is None and remote is None and not conflict:
            return None
        return Forwarded(scheme, remote, conflict=conflict)

    def _client(self, values: list[bytes]) -> str | None:
        """The client in ``X-Forwarded-For``: the nearest hop that is not a trusted proxy.

        Each proxy appends the address it received the request from, so the list reads
        client, proxy1, proxy2; walking from the right past our own trusted proxies stops at
        the first address nobody we trust vouches for. If every hop is trusted, the leftmost
        one is the client.
        """
        hops = [
            hop.strip()
            for value in values
            for hop in value.decode("latin-1").split(",")
            if hop.strip()
        ]
        if not hops:
            return None
        for hop in reversed(hops):
            if not self.allow.allows_address(hop):
                return hop
        return hops[0]


def _any_underscore(raw: RawHeaders) -> bool:
    # Compiled, an indexed loop over the bytes is the cheapest test: no call and no new
    # object (about 5 ns a name here, against 50 for name.find(b"_") and 30 for iterating the
    # bytes, which boxes each one). Not ``b"_" in name``: bytes' ``in`` first tries its
    # operand as an integer and pays for a TypeError each time.
    for name, _ in raw:
        for i in range(len(name)):
            if name[i] == 0x5F:  # "_"
                return True
    return False
