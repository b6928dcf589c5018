"""Behind a reverse proxy: trusted forwarding headers, allowed hosts, HTTPS and HSTS.

For deployments where something other than our gunicorn worker sits between the proxy and
the application (``python -m runtime``, ``web.run_app``, a unix socket behind nginx, a
chain of load balancers), these middlewares make ``request.remote``, ``request.scheme``
and ``request.host`` describe the *client* -- but only on the word of proxies you trust:

* :func:`x_forwarded_middleware` reads ``X-Forwarded-For``/``-Proto``/``-Host``;
* :func:`forwarded_middleware` reads RFC 7239 ``Forwarded``.

Both validate strictly, hop by hop, as aiohttp-remotes' ``XForwardedStrict`` and
``ForwardedStrict`` do. ``trusted`` describes the proxy chain, nearest proxy first: one set
of addresses or networks per proxy. A request whose peer is not in the first set did not
come through the proxy: its forwarding headers are ignored (a client cannot spoof its
address by sending them). A request from a trusted peer must list exactly one address per
trusted proxy, each in the matching set; anything else is answered ``400 Bad Request``.

Unix-socket peers (``request.remote`` is not an IP address) are trusted as the nearest
proxy by default, as gunicorn does: only processes allowed to open the socket file (the
co-located nginx) can connect.

* :func:`allowed_hosts_middleware` answers 400 to a ``Host`` it does not serve (host
  header attacks: poisoned password-reset links, cache poisoning);
* :func:`https_middleware` redirects plain-HTTP requests to HTTPS and adds
  ``Strict-Transport-Security`` to secure responses.

Install them first, in this order: forwarding headers, allowed hosts, HTTPS; then the
access log, which then logs the client's address.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, Final

import structlog

from middlewares._path_filter import PathFilter
from runtime import web
from runtime.http.grammar import OWS, parameter

__all__ = [
    "allowed_hosts_middleware",
    "forwarded_middleware",
    "https_middleware",
    "x_forwarded_middleware",
]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
TrustedHop = Iterable[str | IPAddress | IPNetwork]

_log = structlog.stdlib.get_logger("berth.proxy")

# RFC 9110 7.2 / RFC 3986 3.2.2: uri-host [":" port]. Narrower than reg-name on purpose: no
# sub-delims or percent-escapes, which have no business in a host we redirect to or log.
_HOST: Final = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9_](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?\.?))"
    r"(?::(?P<port>[0-9]{1,5}))?"
)
# RFC 7239 4: Forwarded = 1#forwarded-element; forwarded-element = forwarded-pair *( ";"
# forwarded-pair ); forwarded-pair = token "=" value; value = token / quoted-string.
# Whitespace is tolerated around the separators; empty elements and stray text are not.
# A forwarded-pair has the shape of an RFC 9110 5.6.6 parameter.
_ELEMENT: Final = rf"{parameter}(?:{OWS};{OWS}{parameter})*"
_FORWARDED: Final = re.compile(rf"{OWS}{_ELEMENT}(?:{OWS},{OWS}{_ELEMENT})*{OWS}")
# RFC 7239 6: node = nodename [ ":" node-port ], nodename = IPv4address / "[" IPv6address
# "]" / "unknown" / obfnode.
_NODE: Final = re.compile(
    r"(?:(?P<ipv4>[0-9.]+)|\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<hidden>unknown|_[A-Za-z0-9._-]+))"
    r"(?::(?:[0-9]{1,5}|_[A-Za-z0-9._-]+))?"
)
_SCHEMES: Final = frozenset({"http", "https"})
_REDIRECTS: Final[Mapping[int, type[web.HTTPException]]] = {
    301: web.HTTPMovedPermanently,
    302: web.HTTPFound,
    307: web.HTTPTemporaryRedirect,
    308: web.HTTPPermanentRedirect,
}
# hstspreload.org's submission requirements.
_PRELOAD_MIN_AGE: Final = 31536000


class _Rejected(Exception):
    """Forwarding headers that a strict reading refuses; the message says why."""


@functools.lru_cache(maxsize=4096)
def _ip(text: str | None) -> IPAddress | None:
    """``text`` as an address (IPv4-mapped IPv6 as IPv4), or None.

    Cached: the same few proxy addresses come with every request, and parsing is most of
    what these middlewares cost.
    """
    if not text:
        return None
    try:
        address = ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@functools.lru_cache(maxsize=4096)
def _text(node: IPAddress | str) -> str:
    """``node`` as ``request.remote`` shows it (an address in its normal form). Cached like
    :func:`_ip`: formatting an address is a join in Python, a few microseconds each time."""
    return str(node)


def _network(item: str | IPAddress | IPNetwork) -> IPNetwork:
    if isinstance(item, IPv4Network | IPv6Network):
        return item
    try:
        return ip_network(item)  # an address becomes a /32 or /128
    except ValueError:
        raise ValueError(f"{item!r} is not an IP address or network") from None


def _parse_chain(trusted: Sequence[TrustedHop]) -> tuple[tuple[IPNetwork, ...], ...]:
    shape = "trusted must be a sequence of sets of addresses/networks, nearest proxy first"
    if isinstance(trusted, str) or not isinstance(trusted, Sequence):
        raise TypeError(shape)
    if not trusted:
        raise ValueError("trusted must describe at least one proxy")
    chain = []
    for hop in trusted:
        if isinstance(hop, str) or not isinstance(hop, Iterable):
            raise TypeError(f"{shape}, e.g. [{{'10.0.0.0/8'}}], got {hop!r}")
        networks = tuple(_network(item) for item in hop)
        if not networks:
            raise ValueError("each trusted proxy needs at least one address or network")
        chain.append(networks)
    return tuple(chain)


class _Chain:
    """The trusted proxy chain, nearest proxy first."""

    def __init__(self, trusted: Sequence[TrustedHop], trust_unix_socket: bool) -> None:
        self.hops = _parse_chain(trusted)
        self.trust_unix_socket = trust_unix_socket
        self._peers: dict[str | None, bool] = {}  # remote -> is the nearest proxy

    def peer_is_proxy(self, remote: str | None) -> bool:
        known = self._peers.get(remote)
        if known is not None:
            return known
        peer = _ip(remote)
        if peer is None:  # a unix socket: no address to check
            trusted = self.trust_unix_socket
        else:
            trusted = any(peer in network for network in self.hops[0])
        if len(self._peers) >= 1024:
            self._peers.clear()  # direct clients churn; the proxies come back at once
        self._peers[remote] = trusted
        return trusted

    def client(self, nodes: list[IPAddress | str]) -> str:
        """Check the forwarded addresses (nearest first, client last) against the chain
        and return the client's."""
        if len(nodes) != len(self.hops):
            raise _Rejected(
                f"{len(nodes)} forwarded address(es) for {len(self.hops)} trusted proxies"
            )
        # nodes[i] is what proxy i saw: the address of proxy i+1, the client for the last.
        for index, (node, hop) in enumerate(zip(nodes[:-1], self.hops[1:], strict=True)):
            if not isinstance(node, IPv4Address | IPv6Address) or not any(
                node in network for network in hop
            ):
                raise _Rejected(f"hop {index + 2} is not a trusted proxy")
        return _text(nodes[-1])


def _split_host(host: str) -> tuple[str, int | None] | None:
    """``host[:port]`` as (lower-case name without a final dot, port), or None if invalid."""
    match = _HOST.fullmatch(host)
    if match is None:
        return None
    port = match["port"]
    if port is not None and int(port) > 65535:
        return None
    if match["ipv6"] is not None:
        if _ip(match["ipv6"]) is None:
            return None
        return f"[{match['ipv6'].lower()}]", int(port) if port else None
    return match["name"].lower().rstrip("."), int(port) if port else None


def _values(request: web.Request, name: str) -> list[str]:
    # RFC 9110 5.3: several field lines are one comma-separated list.
    lines = request.headers.getall(name, ())
    return [item.strip() for line in lines for item in line.split(",")]


def _scheme_and_host(scheme: str | None, host: str | None, overrides: dict[str, str]) -> None:
    if scheme is not None:
        if scheme.lower() not in _SCHEMES:
            raise _Rejected("the forwarded scheme is neither http nor https")
        overrides["scheme"] = scheme.lower()
    if host is not None:
        if _split_host(host) is None:
            raise _Rejected("the forwarded host is not a valid host[:port]")
        overrides["host"] = host


def _x_forwarded(request: web.Request, chain: _Chain) -> dict[str, str]:
    addresses: list[IPAddress | str] = []
    for text in reversed(_values(request, "X-Forwarded-For")):
        address = _ip(text)
        if address is None:
            raise _Rejected("X-Forwarded-For holds something other than IP addresses")
        addresses.append(address)
    overrides = {"remote": chain.client(addresses)}
    limit = len(chain.hops)
    protos = _values(request, "X-Forwarded-Proto")
    hosts = _values(request, "X-Forwarded-Host")
    if len(protos) > limit or len(hosts) > limit:
        raise _Rejected("more X-Forwarded-Proto/-Host values than trusted proxies")
    # The first value was written by the outermost proxy: the one the client talked to.
    _scheme_and_host(protos[0] if protos else None, hosts[0] if hosts else None, overrides)
    return overrides


def _node(value: str | None) -> IPAddress | str:
    if value is None:
        raise _Rejected("a Forwarded element has no for= parameter")
    match = _NODE.fullmatch(value)
    if match is None:
        raise _Rejected("a Forwarded for= value is not a node (RFC 7239 6)")
    if match["hidden"] is not None:
        return match["hidden"]  # "unknown" or an obfuscated identifier (RFC 7239 6.2, 6.3)
    address = _ip(match["ipv4"] or match["ipv6"])
    if address is None:
        raise _Rejected("a Forwarded for= value is not a valid IP address")
    return address


def _forwarded(request: web.Request, chain: _Chain) -> dict[str, str]:
    for line in request.headers.getall("Forwarded", ()):
        if not _FORWARDED.fullmatch(line):
            raise _Rejected("malformed Forwarded header (RFC 7239 4)")
    elements = request.forwarded  # first hop first, as the proxies appended them
    nodes = [_node(element.get("for")) for element in reversed(elements)]
    overrides = {"remote": chain.client(nodes)}
    outermost = elements[0]
    _scheme_and_host(outermost.get("proto"), outermost.get("host"), overrides)
    return overrides


def _strict_middleware(
    name: str,
    read: Callable[[web.Request, _Chain], dict[str, str]],
    trusted: Sequence[TrustedHop],
    trust_unix_socket: bool,
    exempt: Iterable[str],
) -> Middleware:
    chain = _Chain(trusted, trust_unix_socket)
    skip = PathFilter(exempt)

    @web.middleware
    async def strict_proxy_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not chain.peer_is_proxy(request.remote) or request.path in skip:
            return await handler(request)
        try:
            overrides = read(request, chain)
        except _Rejected as exc:
            _log.warning(
                "proxy_headers_rejected",
                middleware=name,
                reason=str(exc),
                peer=request.remote,
                path=request.path,
            )
            raise web.HTTPBadRequest(text=f"400 Bad Request: {exc}\n") from None
        clone: Any = request.clone(**overrides)
        return await handler(clone)

    strict_proxy_headers.__name__ = strict_proxy_headers.__qualname__ = name
    return strict_proxy_headers


def x_forwarded_middleware(
    trusted: Sequence[TrustedHop],
    *,
    trust_unix_socket: bool = True,
    exempt: Iterable[str] = (),
) -> Middleware:
    """Apply ``X-Forwarded-For``/``-Proto``/``-Host`` from a trusted proxy chain.

    From a trusted peer, ``X-Forwarded-For`` must hold exactly ``len(trusted)`` IP
    addresses (several field lines count as one list, RFC 9110 5.3); read from the right,
    each but the last must be in the matching set of ``trusted``; the last (leftmost) is
    the client and becomes ``request.remote``. ``X-Forwarded-Proto`` (``http``/``https``)
    and ``X-Forwarded-Host`` are optional, may hold at most ``len(trusted)`` values, and
    their first value sets ``request.scheme`` and ``request.host``. Any violation: 400.

    Args:
        trusted: one set of addresses or networks per proxy, nearest first, e.g.
            ``[{"127.0.0.1"}]`` for a local nginx, ``[{"10.0.0.0/8"}, {"203.0.113.7"}]``
            for an internal load balancer behind a CDN node.
        trust_unix_socket: treat unix-socket peers as the nearest proxy.
        exempt: paths handled without looking at the headers (health checks the proxy
            itself makes); ``"/prefix/*"`` for prefixes.

    Returns:
        The middleware.

    Raises:
        TypeError: ``trusted`` is not a sequence of sets.
        ValueError: an entry is not an address or network, or ``trusted`` is empty.
    """
    return _strict_middleware("x_forwarded", _x_forwarded, trusted, trust_unix_socket, exempt)


def forwarded_middleware(
    trusted: Sequence[TrustedHop],
    *,
    trust_unix_socket: bool = True,
    exempt: Iterable[str] = (),
) -> Middleware:
    """Apply RFC 7239 ``Forwarded`` from a trusted proxy chain.

    From a trusted peer, every ``Forwarded`` line must be well-formed (RFC 7239 4) and the
    header must hold exactly ``len(trusted)`` elements, one per proxy. Read from the last,
    each element's ``for=`` but the first's must be an IP address in the matching set of
    ``trusted``; the first element's ``for=`` is the client (an address, or ``unknown`` /
    an obfuscated identifier, RFC 7239 6.2-6.3, which then becomes ``request.remote`` as
    is), and its ``proto=`` and ``host=`` set ``request.scheme`` and ``request.host``.
    Any violation: 400.

    Args:
        trusted: one set of addresses or networks per proxy, nearest first.
        trust_unix_socket: treat unix-socket peers as the nearest proxy.
        exempt: paths handled without looking at the header.

    Returns:
        The middleware.

    Raises:
        TypeError: ``trusted`` is not a sequence of sets.
        ValueError: an entry is not an address or network, or ``trusted`` is empty.
    """
    return _strict_middleware("forwarded", _forwarded, trusted, trust_unix_socket, exempt)


class _HostPatterns:
    def __init__(self, patterns: Iterable[str]) -> None:
        exact: set[str] = set()
        suffixes: list[str] = []
        self.any = False
        for pattern in patterns:
            if pattern == "*":
                self.any = True
                continue
            wildcard = pattern.startswith("*.")
            parsed = _split_host(pattern[2:] if wildcard else pattern)
            if parsed is None or parsed[1] is not None:
                raise ValueError(f"{pattern!r} is not a host name, '*.' + a name, or '*'")
            if wildcard:
                suffixes.append("." + parsed[0])
            else:
                exact.add(parsed[0])
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)

    def match(self, name: str) -> bool:
        return (
            self.any or name in self.exact or (bool(self.suffixes) and name.endswith(self.suffixes))
        )


def allowed_hosts_middleware(hosts: Iterable[str], *, exempt: Iterable[str] = ()) -> Middleware:
    """Answer 400 to requests for a host this application does not serve.

    ``request.host`` (after the forwarding-header middlewares, so install it after them)
    is matched without its port, case-insensitively and ignoring a final dot. A ``Host``
    that is not a valid ``host[:port]`` is refused too.

    Args:
        hosts: names (``"example.com"``), wildcards (``"*.example.com"``: any subdomain,
            not the domain itself; list both for both), IP addresses (``"[::1]"`` for
            IPv6) or ``"*"`` (any valid host).
        exempt: paths served whatever the host (load balancer health checks by IP).

    Returns:
        The middleware.

    Raises:
        ValueError: a pattern is not a host name, a ``*.`` wildcard or ``*``.
    """
    patterns = _HostPatterns(hosts)
    skip = PathFilter(exempt)

    @web.middleware
    async def allowed_hosts(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in skip:
            parsed = _split_host(request.host)
            if parsed is None or not patterns.match(parsed[0]):
                _log.warning(
                    "unknown_host_rejected",
                    host=request.host,
                    peer=request.remote,
                    path=request.path,
                )
                raise web.HTTPBadRequest(text="400 Bad Request: unknown host\n")
        return await handler(request)

    return allowed_hosts


def _hsts_value(max_age: int, include_subdomains: bool, preload: bool) -> str:
    if max_age < 0:
        raise ValueError("hsts_max_age must be >= 0")
    if preload and (max_age < _PRELOAD_MIN_AGE or not include_subdomains):
        raise ValueError(f"preload needs include_subdomains and hsts_max_age >= {_PRELOAD_MIN_AGE}")
    # RFC 6797 6.1: max-age is required; includeSubDomains is a bare directive. "preload"
    # is not in the RFC; browsers' preload lists look for it.
    value = f"max-age={max_age}"
    if include_subdomains:
        value += "; includeSubDomains"
    if preload:
        value += "; preload"
    return value


def https_middleware(
    *,
    redirect: bool = True,
    redirect_status: int = 308,
    https_port: int | None = None,
    hsts_max_age: int | None = 31536000,
    include_subdomains: bool = False,
    preload: bool = False,
    exempt: Iterable[str] = (),
) -> Middleware:
    """Redirect plain-HTTP requests to HTTPS; send HSTS on secure responses.

    ``request.secure`` decides (install after the forwarding-header middleware, so that a
    TLS-terminating proxy's ``X-Forwarded-Proto: https`` counts). A non-secure request is
    redirected to the same host, path and query over https; ``Strict-Transport-Security``
    is added only to secure responses, never to plain-HTTP ones (RFC 6797 7.2).

    Args:
        redirect: redirect non-secure requests (False: only send HSTS).
        redirect_status: 308 (default; keeps the method and body, RFC 9110 15.4.9), 301,
            302 or 307.
        https_port: the port to redirect to; None or 443 leave it out of the URL.
        hsts_max_age: seconds browsers remember to use HTTPS only; None sends no HSTS.
        include_subdomains: add ``includeSubDomains`` (every subdomain must serve HTTPS).
        preload: add ``preload`` (needs ``include_subdomains`` and a year or more).
        exempt: paths never redirected (ACME http-01: ``"/.well-known/acme-challenge/*"``).

    Returns:
        The middleware.

    Raises:
        ValueError: an unsupported ``redirect_status``, a negative max-age, or ``preload``
            without its requirements.
    """
    if redirect_status not in _REDIRECTS:
        raise ValueError(f"redirect_status must be one of {sorted(_REDIRECTS)}")
    redirect_class: Any = _REDIRECTS[redirect_status]
    hsts = (
        _hsts_value(hsts_max_age, include_subdomains, preload) if hsts_max_age is not None else None
    )
    port_suffix = f":{https_port}" if https_port not in (None, 443) else ""
    skip = PathFilter(exempt)

    def add_hsts(response: web.StreamResponse) -> None:
        if hsts is not None and not response.prepared:
            response.headers.setdefault("Strict-Transport-Security", hsts)

    @web.middleware
    async def https(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.secure:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                add_hsts(exc)
                raise
            add_hsts(response)
            return response
        if not redirect or request.path in skip:
            return await handler(request)
        target = str(request.rel_url)
        parsed = _split_host(request.host)
        if parsed is None:
            raise web.HTTPBadRequest(text="400 Bad Request: invalid Host\n")
        if not target.startswith("/"):
            return await handler(request)  # "OPTIONS *": nothing to redirect to
        raise redirect_class(f"https://{parsed[0]}{port_suffix}{target}")

    return https
