"""The router (``UrlDispatcher``): registers resources and resolves requests to routes.

Resolution follows aiohttp 3.10+: ``add_domain`` sub-applications first, then the resources
filed under the longest literal prefix of the path, then shorter prefixes; among resources
filed under the same prefix, the first registered match wins: order matters, which is why
routes are best registered in one place (docs/faq.md, "Are there any plans for an @app.route
decorator like in Flask?"). So ``/users/me`` wins over an earlier ``/users/{name}``.
Resources are indexed by what must be literally present in a matching path, and only
those candidates are tried:

- a plain path (no variables) by the whole path: one dict lookup;
- a pattern by its literal head, the segments before its first variable (``/users`` for
  ``/users/{id}``), and a prefix resource (static files, sub-app) by its prefix. A request
  path walks up its own segments (``/users/7``, ``/users``, ``/``) and collects those
  buckets, so a pattern is only tried on paths under its head;
- the rest (``add_domain`` sub-apps, custom resources) is tried first, for every request.

The other concepts live in their own modules and are re-exported here: routes
(``route.py``), resources (``resource.py``), sub-applications (``subapp.py``), match info
(``match_info.py``), class-based views (``view.py``) and route tables (``routedef.py``).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import keyword
import re
from collections.abc import Container, Iterable, Iterator, Mapping, Sized
from os import PathLike
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

from ..exceptions import HTTPMethodNotAllowed, HTTPNotFound
from ..request import PLAIN_REQUEST_CLASSES, Request
from ..request_target import remember_target
from .match_info import MatchInfoError, UrlMappingMatchInfo
from .resource import (
    AbstractResource,
    DynamicResource,
    PlainResource,
    PrefixResource,
    Resolved,
    Resource,
)
from .route import AbstractRoute, ExpectHandler, Handler, ResourceRoute, SystemRoute
from .routedef import (
    AbstractRouteDef,
    RouteDef,
    RouteTableDef,
    StaticDef,
    delete,
    get,
    head,
    options,
    patch,
    post,
    put,
    route,
    static,
    view,
)
from .static import StaticResource
from .subapp import (
    AbstractRuleMatching,
    Domain,
    MaskDomain,
    MatchedSubAppResource,
    PrefixedSubAppResource,
)
from .view import METH_ANY, AbstractView, View

if TYPE_CHECKING:
    from ..app import Application

__all__ = [
    "AbstractResource",
    "AbstractRoute",
    "AbstractRouteDef",
    "AbstractRuleMatching",
    "AbstractView",
    "Domain",
    "DynamicResource",
    "MaskDomain",
    "MatchInfoError",
    "MatchedSubAppResource",
    "PlainResource",
    "PrefixResource",
    "PrefixedSubAppResource",
    "Resource",
    "ResourceRoute",
    "ResourcesView",
    "RouteDef",
    "RouteTableDef",
    "RoutesView",
    "StaticDef",
    "SystemRoute",
    "UrlDispatcher",
    "UrlMappingMatchInfo",
    "View",
    "delete",
    "get",
    "head",
    "options",
    "patch",
    "post",
    "put",
    "route",
    "static",
    "view",
]

_Entry = tuple[int, AbstractResource]  # (registration number, resource)
_NAME_SPLIT: Final = re.compile(r"[.:-]")
_RESOURCE_RESOLVE: Final = Resource.resolve
_NO_PARTS: Final[dict[str, str]] = {}  # a plain route's match: no parts (never written to)
# A request target's path_safe form, and the plain routes it resolved to, by method.
_Target = tuple[str, dict[str, AbstractRoute]]


class ResourcesView(Sized, Iterable[AbstractResource], Container[AbstractResource]):
    """A read-only view of the router's resources, in registration order."""

    def __init__(self, resources: list[AbstractResource]) -> None:
        self._resources = resources

    def __len__(self) -> int:
        return len(self._resources)

    def __iter__(self) -> Iterator[AbstractResource]:
        return iter(self._resources)

    def __contains__(self, resource: object) -> bool:
        return resource in self._resources


class RoutesView(Sized, Iterable[AbstractRoute], Container[AbstractRoute]):
    """A read-only snapshot of every route of every resource (sub-apps' included)."""

    def __init__(self, resources: list[AbstractResource]) -> None:
        self._routes: list[AbstractRoute] = [r for resource in resources for r in resource]

    def __len__(self) -> int:
        return len(self._routes)

    def __iter__(self) -> Iterator[AbstractRoute]:
        return iter(self._routes)

    def __contains__(self, route: object) -> bool:
        return route in self._routes


def _check_name(name: str) -> None:
    for part in _NAME_SPLIT.split(name):
        if keyword.iskeyword(part):
            raise ValueError(
                f"Incorrect route name {name!r}, python keywords cannot be used for route name"
            )
        if not part.isidentifier():
            raise ValueError(
                f"Incorrect route name {name!r}, the name should be a sequence of python "
                "identifiers separated by dash, dot or column"
            )


class UrlDispatcher(Mapping[str, AbstractResource]):
    """The router: ``app.router``. As a mapping it holds the named resources."""

    NAME_SPLIT_RE = _NAME_SPLIT

    def __init__(self) -> None:
        self._resources: list[AbstractResource] = []
        self._named_resources: dict[str, AbstractResource] = {}
        self._frozen = False
        self._numbers = itertools.count()
        self._order: dict[AbstractResource, int] = {}
        self._plain: dict[str, list[_Entry]] = {}
        self._heads: dict[str, list[_Entry]] = {}
        self._unindexed: list[_Entry] = []
        self._plain_candidates: dict[str, list[_Entry]] = {}
        self._targets: dict[str, _Target] = {}  # recent request targets (_resolve_now)
        self._head_lengths: list[int] = []  # lengths of the head keys but "/", longest first

    # -- resolving ------------------------------------------------------------------------

    async def resolve(self, request: Request) -> UrlMappingMatchInfo:
        """Find the route for a request.

        Returns:
            The match info; for no match a :class:`MatchInfoError` whose handler raises
            404, or 405 (with ``Allow``) when the path matched but the method did not; the
            allowed methods are those of every resource whose path matched.
        """
        allowed: set[str] = set()
        for _, resource in self._candidates(request.rel_url.path_safe):
            match_info, methods = await resource.resolve(request)
            if match_info is not None:
                return match_info
            allowed |= methods
        if allowed:
            return MatchInfoError(HTTPMethodNotAllowed(request.method, allowed))
        # A new exception each time: it is the response, and responses are not shared.
        return MatchInfoError(HTTPNotFound())

    def _resolve_now(self, request: Request, app: Application) -> UrlMappingMatchInfo | None:
        """:meth:`resolve` without a coroutine, for the root application ``app``, when only
        built-in plain and dynamic resources are tried and one of them matches; the match
        info comes back with ``app`` added and frozen. None: ask :meth:`resolve`."""
        known: _Target | None = None
        if type(request) in PLAIN_REQUEST_CLASSES:
            # Path and method from the message, no property calls; a target seen before
            # knows its path_safe form, and the plain routes it resolved to.
            message = request._message
            method = message.method
            target = message.target
            known = self._targets.get(target)
            if known is None:
                known = (request.rel_url.path_safe, {})
                remember_target(self._targets, target, known)
            else:
                route = known[1].get(method)
                if route is not None:
                    return UrlMappingMatchInfo(_NO_PARTS, route, app)
            path = known[0]
        else:
            method = request.method
            path = request.rel_url.path_safe
        for _, resource in self._candidates(path):
            if type(resource).resolve is not _RESOURCE_RESOLVE:
                return None  # a prefix, static or custom resource: its own resolve decides
            resolved: Resolved = resource._resolve_now(path, method, app)  # type: ignore[attr-defined]
            match_info = resolved[0]
            if match_info is not None:
                if known is not None and type(resource) is PlainResource:
                    # What a built-in plain or dynamic resource matches depends on the path
                    # and the method alone: the same target and method resolve the same way
                    # until the index changes (_index_changed forgets them).
                    known[1][method] = match_info._route
                return match_info
        return None

    def _candidates(self, path: str) -> Iterable[_Entry]:
        """The resources that may match ``path``, in aiohttp 3.10+'s order (see _collect)."""
        if path not in self._plain:
            return self._collect(path)
        # Paths of plain routes are few and hot: remember their candidate lists.
        cached = self._plain_candidates.get(path)
        if cached is None:
            cached = self._plain_candidates[path] = list(self._collect(path))
        return cached

    def _collect(self, path: str) -> Iterable[_Entry]:
        # aiohttp's order: domain sub-applications first, then the resources filed under
        # the longest literal prefix of the path, then shorter ones; registration order
        # only among resources filed under the same prefix. So "/users/me" wins over an
        # earlier "/users/{name}", and "/a/b" over an earlier "/{tail:.*}".
        found: list[Iterable[_Entry]] = []
        if self._unindexed:
            found.append(self._unindexed)
        heads = self._heads
        plain = self._plain.get(path)
        same = heads.get(path) if path != "/" else None
        if plain and same:
            found.append(heapq.merge(plain, same))
        elif plain or same:
            found.append(plain or same or ())
        # A head key is a run of whole segments: it can only be the path cut just before
        # one of its slashes. Only cuts as long as some key are looked up, so a path of
        # many slashes costs no more than one of a few.
        size = len(path)
        for length in self._head_lengths:
            if length >= size or path[length] != "/":
                continue
            bucket = heads.get(path[:length])
            if bucket:
                found.append(bucket)
        root = heads.get("/")  # patterns with a variable first segment, prefix ""
        if root:
            found.append(root)
        if len(found) == 1:
            return found[0]
        return itertools.chain.from_iterable(found)

    def _slot(self, resource: AbstractResource) -> tuple[dict[str, list[_Entry]] | None, str]:
        """Where a resource is indexed: (index, key), or (None, "") for always-tried."""
        if isinstance(resource, PlainResource):
            return self._plain, resource.match_path
        if isinstance(resource, DynamicResource):
            return self._heads, resource.index_key
        if isinstance(resource, PrefixResource) and not isinstance(resource, MatchedSubAppResource):
            return self._heads, resource.match_prefix or "/"
        return None, ""

    def _index_changed(self) -> None:
        self._plain_candidates.clear()
        self._targets.clear()
        self._head_lengths = sorted({len(key) for key in self._heads if key != "/"}, reverse=True)

    def index_resource(self, resource: AbstractResource) -> None:
        """Put a registered resource in the lookup index (under its current path)."""
        number = self._order.setdefault(resource, next(self._numbers))
        index, key = self._slot(resource)
        bucket = self._unindexed if index is None else index.setdefault(key, [])
        bisect.insort(bucket, (number, resource), key=lambda entry: entry[0])
        self._index_changed()

    def unindex_resource(self, resource: AbstractResource) -> None:
        """Take a resource out of the lookup index (before its path changes)."""
        index, key = self._slot(resource)
        bucket = self._unindexed if index is None else index.get(key, [])
        bucket[:] = [entry for entry in bucket if entry[1] is not resource]
        if index is not None and not bucket:
            index.pop(key, None)
        self._index_changed()

    # -- the named-resource mapping -------------------------------------------------------

    def __iter__(self) -> Iterator[str]:
        return iter(self._named_resources)

    def __len__(self) -> int:
        return len(self._named_resources)

    def __contains__(self, name: object) -> bool:
        return name in self._named_resources

    def __getitem__(self, name: str) -> AbstractResource:
        return self._named_resources[name]

    def resources(self) -> ResourcesView:
        """Every resource, in registration order."""
        return ResourcesView(self._resources)

    def routes(self) -> RoutesView:
        """Every route of every resource."""
        return RoutesView(self._resources)

    def named_resources(self) -> Mapping[str, AbstractResource]:
        """The named resources, read-only."""
        return MappingProxyType(self._named_resources)

    # -- registering ----------------------------------------------------------------------

    @property
    def frozen(self) -> bool:
        return self._frozen

    def freeze(self) -> None:
        """Refuse registrations from now on (the application does this when it starts)."""
        self._frozen = True
        for resource in self._resources:
            resource.freeze()

    def _check_frozen(self, what: str) -> None:
        if self._frozen:
            raise RuntimeError(
                f"Cannot {what}: the router is frozen once the application starts (or is "
                "added as a sub-application); register routes before that"
            )

    def register_resource(self, resource: AbstractResource) -> None:
        """Add a resource made elsewhere (``add_subapp`` uses this).

        Raises:
            TypeError: ``resource`` is not an :class:`AbstractResource`.
            ValueError: the name is not valid or is taken.
            RuntimeError: the router is frozen.
        """
        if not isinstance(resource, AbstractResource):
            raise TypeError(f"Instance of AbstractResource is required, got {resource!r}")
        self._check_frozen(f"register {resource!r}")
        name = resource.name
        if name is not None:
            _check_name(name)
            if name in self._named_resources:
                raise ValueError(
                    f"Duplicate {name!r}, already handled by {self._named_resources[name]!r}"
                )
            self._named_resources[name] = resource
        self._resources.append(resource)
        self.index_resource(resource)

    def add_resource(self, path: str, *, name: str | None = None) -> Resource:
        """Get a resource for ``path``: the last one added when it has the same path and
        name (so ``add_get`` then ``add_post`` share one), else a new one.

        Args:
            path: ``/plain``, or with variables ``/users/{id}``, ``/users/{id:\\d+}``.
            name: the name for ``router[name].url_for(...)``.

        Raises:
            ValueError: the path does not start with ``/`` or is malformed.
            RuntimeError: the router is frozen.
        """
        self._check_frozen(f"add resource {path!r}")
        if path and not path.startswith("/"):
            raise ValueError(f"path should be started with / or be empty, got {path!r}")
        if self._resources:
            last = self._resources[-1]
            if isinstance(last, Resource) and last.name == name and last.raw_match(path):
                return last
        resource: Resource
        if "{" in path or "}" in path:
            resource = DynamicResource(path, name=name)
        else:
            resource = PlainResource(path, name=name)
        self.register_resource(resource)
        return resource

    def add_route(
        self,
        method: str,
        path: str,
        handler: Handler | type[AbstractView],
        *,
        name: str | None = None,
        expect_handler: ExpectHandler | None = None,
    ) -> AbstractRoute:
        """Route ``method`` (``"*"``: any) on ``path`` to ``handler``.

        Raises:
            RuntimeError: the router is frozen, or the method is already routed there.
        """
        self._check_frozen(f"add route {method} {path!r}")
        resource = self.add_resource(path, name=name)
        return resource.add_route(method, handler, expect_handler=expect_handler)

    def add_get(
        self,
        path: str,
        handler: Handler | type[AbstractView],
        *,
        name: str | None = None,
        allow_head: bool = True,
        **kwargs: Any,
    ) -> AbstractRoute:
        """Route GET (and HEAD, unless ``allow_head`` is false) to ``handler``."""
        self._check_frozen(f"add route GET {path!r}")
        resource = self.add_resource(path, name=name)
        if allow_head:
            resource.add_route("HEAD", handler, **kwargs)
        return resource.add_route("GET", handler, **kwargs)

    def add_head(self, path: str, handler: Handler, **kwargs: Any) -> AbstractRoute:
        """Route HEAD to ``handler``."""
        return self.add_route("HEAD", path, handler, **kwargs)

    def add_options(self, path: str, handler: Handler, **kwargs: Any) -> AbstractRoute:
        """Route OPTIONS to ``handler``."""
        return self.add_route("OPTIONS", path, handler, **kwargs)

    def add_post(self, path: str, handler: Handler, **kwargs: Any) -> AbstractRoute:
        """Route POST to ``handler``."""
        return self.add_route("POST", path, handler, **kwargs)

    def add_put(self, path: str, handler: Handler, **kwargs: Any) -> AbstractRoute:
        """Route PUT to ``handler``."""
        return self.add_route("PUT", path, handler, **kwargs)

    def add_patch(self, path: str, handler: Handler, **kwargs: Any) -> AbstractRoute:
        """Route PATCH to ``handler``."""
        return self.add_route("PATCH", path, handler, **kwargs)

    def add_delete(self, path: str, handler: Handler, **kwargs: Any) -> AbstractRoute:
        """Route DELETE to ``handler``."""
        return self.add_route("DELETE", path, handler, **kwargs)

    def add_view(self, path: str, handler: type[AbstractView], **kwargs: Any) -> AbstractRoute:
        """Route every method to a class-based view."""
        return self.add_route(METH_ANY, path, handler, **kwargs)

    def add_static(
        self,
        prefix: str,
        path: str | PathLike[str],
        *,
        name: str | None = None,
        expect_handler: ExpectHandler | None = None,
        chunk_size: int = 256 * 1024,
        show_index: bool = False,
        follow_symlinks: bool = False,
        append_version: bool = False,
    ) -> AbstractResource:
        """Serve the files under directory ``path`` at ``prefix`` (GET and HEAD).

        Raises:
            ValueError: ``prefix`` does not start with ``/`` or ``path`` is not a directory.
            RuntimeError: the router is frozen.
        """
        self._check_frozen(f"add static route {prefix!r}")
        if not prefix.startswith("/"):
            raise ValueError(f"A static prefix starts with '/', got {prefix!r}")
        resource: AbstractResource = StaticResource(
            prefix[:-1] if prefix.endswith("/") else prefix,
            path,
            name=name,
            expect_handler=expect_handler,
            chunk_size=chunk_size,
            show_index=show_index,
            follow_symlinks=follow_symlinks,
            append_version=append_version,
        )
        self.register_resource(resource)
        return resource

    def add_routes(self, routes: Iterable[AbstractRouteDef]) -> list[AbstractRoute]:
        """Register route definitions (a :class:`RouteTableDef`, or ``web.get(...)``...).

        Returns:
            The routes registered, in order.
        """
        registered: list[AbstractRoute] = []
        for route_def in routes:
            registered.extend(route_def.register(self))
        return registered
