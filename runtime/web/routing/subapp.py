"""Resources that hand requests to a nested application: by path prefix or by Host."""

from __future__ import annotations

import abc
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from yarl import URL

from ..exceptions import HTTPMethodNotAllowed
from .match_info import UrlMappingMatchInfo
from .resource import AbstractResource, PrefixResource, Resolved
from .route import AbstractRoute, InfoDict

if TYPE_CHECKING:
    from ..app import Application
    from ..request import Request

__all__ = [
    "AbstractRuleMatching",
    "Domain",
    "MaskDomain",
    "MatchedSubAppResource",
    "PrefixedSubAppResource",
]


def _with_app(match_info: UrlMappingMatchInfo, app: Application) -> Resolved:
    """A sub-application answers for everything it owns, its 404s and 405s included."""
    match_info.add_app(app)
    if isinstance(match_info.http_exception, HTTPMethodNotAllowed):
        return match_info, match_info.http_exception.allowed_methods
    return match_info, set()


class PrefixedSubAppResource(PrefixResource):
    """``app.add_subapp(prefix, subapp)``: every path at or below ``prefix``.

    The sub-application's resources get the prefix put in front of their paths, so its
    router matches full paths and its ``url_for`` results include the prefix.

    Args:
        prefix: the prefix, without a trailing slash.
        app: the sub-application.
    """

    def __init__(self, prefix: str, app: Application) -> None:
        super().__init__(prefix)
        self._app = app
        self._add_prefix_to_resources(prefix)

    @property
    def app(self) -> Application:
        """The sub-application."""
        return self._app

    def add_prefix(self, prefix: str) -> None:
        super().add_prefix(prefix)
        self._add_prefix_to_resources(prefix)

    def _add_prefix_to_resources(self, prefix: str) -> None:
        if not prefix:
            return
        router = self._app.router
        for resource in router.resources():
            # The index key follows the path: take the resource out while it changes.
            router.unindex_resource(resource)
            resource.add_prefix(prefix)
            router.index_resource(resource)

    def url_for(self, *args: str, **kwargs: str) -> URL:
        raise RuntimeError(".url_for() is not supported by sub-application root")

    def get_info(self) -> InfoDict:
        return {"app": self._app, "prefix": self._prefix}

    async def resolve(self, request: Request) -> Resolved:
        if not self._matches_prefix(request.rel_url.path_safe):
            return None, set()
        return _with_app(await self._app.router.resolve(request), self._app)

    def __len__(self) -> int:
        return len(self._app.router.routes())

    def __iter__(self) -> Iterator[AbstractRoute]:
        return iter(self._app.router.routes())

    def __repr__(self) -> str:
        return f"<PrefixedSubAppResource {self._prefix} -> {self._app!r}>"


class AbstractRuleMatching(abc.ABC):
    """A rule deciding whether a request belongs to a ``MatchedSubAppResource``."""

    @abc.abstractmethod
    async def match(self, request: Request) -> bool:
        """Whether the request satisfies the rule."""

    @abc.abstractmethod
    def get_info(self) -> InfoDict:
        """What the rule matches, for introspection."""

    @property
    @abc.abstractmethod
    def canonical(self) -> str:
        """The rule as a string."""


def _split_host(host: str) -> tuple[str, str]:
    """``(hostname, port)`` of a Host header value (RFC 9110 7.2); an IPv6 literal keeps
    its brackets and a trailing dot (an absolute FQDN) is dropped."""
    host = host.lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        return name + "]", rest[1:] if rest.startswith(":") else ""
    name, _, port = host.partition(":")
    return name.rstrip("."), port


class Domain(AbstractRuleMatching):
    """Match requests whose ``Host`` is ``domain`` (case-insensitive; the request's port
    only matters when ``domain`` names one).

    Raises:
        TypeError: ``domain`` is not a str.
        ValueError: ``domain`` is empty, has a scheme, or is not a valid host name.
    """

    re_part: re.Pattern[str] = re.compile(r"(?!-)[a-z\d-]{1,63}(?<!-)", re.ASCII)

    def __init__(self, domain: str) -> None:
        super().__init__()
        self._domain = self.validation(domain)

    @property
    def canonical(self) -> str:
        return self._domain

    def validation(self, domain: str) -> str:
        """Returns: ``domain`` normalised: lower case, no trailing dot, ``:80`` dropped."""
        if not isinstance(domain, str):
            raise TypeError("Domain must be str")
        domain = domain.rstrip(".").lower()
        if not domain:
            raise ValueError("Domain cannot be empty")
        if "://" in domain:
            raise ValueError("Scheme not supported")
        url = URL("http://" + domain)
        host = url.raw_host
        if not host or not all(self.re_part.fullmatch(label) for label in host.split(".")):
            raise ValueError(f"Domain not valid: {domain!r}")
        if url.port == 80:
            return host
        return f"{host}:{url.port}"

    async def match(self, request: Request) -> bool:
        host = request.headers.get("Host")
        if not host:
            return False
        return self.match_domain(host)

    def match_domain(self, host: str) -> bool:
        """Whether a ``Host`` header value is this domain."""
        name, port = _split_host(host)
        wanted_name, _, wanted_port = self._domain.partition(":")
        if wanted_port and port != wanted_port:
            return False
        return name == wanted_name

    def get_info(self) -> InfoDict:
        return {"domain": self._domain}


class MaskDomain(Domain):
    """Like :class:`Domain`, where ``*`` stands for any run of characters, dots included:
    ``*.example.com`` matches ``api.example.com`` and ``a.b.example.com``, not
    ``example.com``."""

    re_part: re.Pattern[str] = re.compile(r"(?!-)[a-z\d*-]{1,63}(?<!-)", re.ASCII)

    def __init__(self, domain: str) -> None:
        super().__init__(domain)
        mask, _, self._port = self._domain.partition(":")
        regex = ".*".join(re.escape(piece) for piece in mask.split("*"))
        self._mask = re.compile(regex, re.ASCII)
        self._pattern = regex + (f":{self._port}" if self._port else "(:.*)?")

    @property
    def canonical(self) -> str:
        return self._pattern

    def match_domain(self, host: str) -> bool:
        name, port = _split_host(host)
        if self._port and port != self._port:
            return False
        return self._mask.fullmatch(name) is not None


class MatchedSubAppResource(PrefixedSubAppResource):
    """``app.add_domain(domain, subapp)``: requests that satisfy ``rule``.

    Args:
        rule: usually a :class:`Domain` or :class:`MaskDomain`.
        app: the sub-application.
    """

    def __init__(self, rule: AbstractRuleMatching, app: Application) -> None:
        AbstractResource.__init__(self)
        self._prefix = ""
        self._prefix2 = "/"
        self._match_prefix = ""
        self._app = app
        self._rule = rule

    @property
    def canonical(self) -> str:
        return self._rule.canonical

    @property
    def rule(self) -> AbstractRuleMatching:
        return self._rule

    def get_info(self) -> InfoDict:
        return {"app": self._app, "rule": self._rule}

    async def resolve(self, request: Request) -> Resolved:
        if not await self._rule.match(request):
            return None, set()
        return _with_app(await self._app.router.resolve(request), self._app)

    def __repr__(self) -> str:
        return f"<MatchedSubAppResource -> {self._app!r}>"
