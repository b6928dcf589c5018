"""Which peers may speak for the client: ``forwarded_allow_ips`` and ``proxy_allow_ips``.

gunicorn's rules (27.0, ``http/message.py``): a list of addresses or CIDR networks, ``'*'``
for any, and a peer on a unix socket is always trusted (only local processes reach it). A
trusted peer's ``secure_scheme_headers`` decide the scheme, and contradicting ones are a
400. On top of gunicorn, which leaves ``REMOTE_ADDR`` alone, we take the client address from
``X-Forwarded-For`` so that ``request.remote`` names the client behind nginx.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

__all__ = ["AllowList", "ForwardedInfo", "ForwardedTrust"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_CACHE_SIZE = 1024


class AllowList:
    """A gunicorn allow list: addresses, networks, ``'*'``; unix-socket peers always pass."""

    def __init__(self, entries: Sequence[str], networks: Iterable[Network] | None = None) -> None:
        self.any = "*" in entries
        if networks is None:
            networks = [ipaddress.ip_network(entry) for entry in entries if entry != "*"]
        self._networks = tuple(networks)
        self._cache: dict[str, bool] = {}

    def allows_address(self, host: str) -> bool:
        """Whether an IP address (text) is on the list; anything else is not."""
        if self.any:
            return True
        known = self._cache.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host.partition("%")[0])  # drop an IPv6 zone
            except ValueError:
                known = False
            else:
                known = any(address in network for network in self._networks)
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            self._cache[host] = known
        return known

    def allows_peer(self, peername: Any) -> bool:
        """Whether a connection's peer is trusted: a unix socket (no address tuple) is."""
        if isinstance(peername, tuple):
            return self.allows_address(str(peername[0]))
        return True


class ForwardedInfo(NamedTuple):
    """What a trusted peer's headers say. ``None`` means "keep what the connection says"."""

    scheme: str | None
    remote: str | None
    conflict: bool  # secure_scheme_headers disagree: answer 400


_NOTHING = ForwardedInfo(None, None, False)


class ForwardedTrust:
    """Reads ``secure_scheme_headers`` and ``X-Forwarded-For`` from trusted peers only.

    Args:
        allow: the peers allowed to set them (``forwarded_allow_ips``).
        secure_scheme_headers: header name to the value that means HTTPS (gunicorn's
            setting; names compare case-insensitively, values exactly, as gunicorn does).
    """

    def __init__(self, allow: AllowList, secure_scheme_headers: Mapping[str, str]) -> None:
        self.allow = allow
        self._secure = {
            name.lower().encode("latin-1"): value.encode("latin-1")
            for name, value in secure_scheme_headers.items()
        }

    def resolve(self, peername: Any, raw_headers: Sequence[tuple[bytes, bytes]]) -> ForwardedInfo:
        """Scheme and client address for one request from ``peername``."""
        if not self.allow.allows_peer(peername):
            return _NOTHING
        secure = self._secure
        scheme: str | None = None
        conflict = False
        forwarded_for: list[bytes] = []
        for name, value in raw_headers:
            lname = name.lower()
            expected = secure.get(lname)
            if expected is not None:
                this = "https" if value == expected else "http"
                if scheme is not None and scheme != this:
                    conflict = True
                scheme = this
            elif lname == b"x-forwarded-for":
                forwarded_for.append(value)
        remote = self._client(forwarded_for) if forwarded_for else None
        if scheme is None and remote is None and not conflict:
            return _NOTHING
        return ForwardedInfo(scheme, remote, conflict)

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
