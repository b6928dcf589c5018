"""Route definitions: routes described as data (``web.get(...)``, ``RouteTableDef``) and
registered later with ``app.add_routes(...)``."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Any, Final, overload

from .view import METH_ANY, AbstractView

if TYPE_CHECKING:
    from .dispatcher import UrlDispatcher
    from .route import AbstractRoute

__all__ = [
    "AbstractRouteDef",
    "RouteDef",
    "RouteTableDef",
    "StaticDef",
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

_HandlerT = Any  # a coroutine function or a View class; the router checks which
# Methods with a router shortcut (add_get, ...): GET's adds HEAD too (allow_head).
_SHORTCUT_METHODS: Final = frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})


def _kwargs_repr(kwargs: dict[str, Any]) -> str:
    return "".join(f", {name}={value!r}" for name, value in sorted(kwargs.items()))


class AbstractRouteDef(abc.ABC):
    """Something ``router.add_routes`` can register."""

    __slots__ = ()

    @abc.abstractmethod
    def register(self, router: UrlDispatcher) -> list[AbstractRoute]:
        """Add the definition to ``router``.

        Returns:
            The routes added.
        """


@dataclass(frozen=True, repr=False, slots=True)
class RouteDef(AbstractRouteDef):
    """One route: ``method`` on ``path`` to ``handler``, with ``add_route`` keywords."""

    method: str
    path: str
    handler: _HandlerT
    kwargs: dict[str, Any]

    def __repr__(self) -> str:
        name = getattr(self.handler, "__name__", repr(self.handler))
        return f"<RouteDef {self.method} {self.path} -> {name!r}{_kwargs_repr(self.kwargs)}>"

    def register(self, router: UrlDispatcher) -> list[AbstractRoute]:
        if self.method in _SHORTCUT_METHODS:
            adder = getattr(router, "add_" + self.method.lower())
            return [adder(self.path, self.handler, **self.kwargs)]
        return [router.add_route(self.method, self.path, self.handler, **self.kwargs)]


@dataclass(frozen=True, repr=False, slots=True)
class StaticDef(AbstractRouteDef):
    """Static files under directory ``path`` served at ``prefix``."""

    prefix: str
    path: str | PathLike[str]
    kwargs: dict[str, Any]

    def __repr__(self) -> str:
        return f"<StaticDef {self.prefix} -> {self.path}{_kwargs_repr(self.kwargs)}>"

    def register(self, router: UrlDispatcher) -> list[AbstractRoute]:
        resource = router.add_static(self.prefix, self.path, **self.kwargs)
        return list(resource)


def route(method: str, path: str, handler: _HandlerT, **kwargs: Any) -> RouteDef:
    """A route for ``method`` (``"*"``: any) on ``path``."""
    return RouteDef(method, path, handler, kwargs)


def head(path: str, handler: _HandlerT, **kwargs: Any) -> RouteDef:
    """A HEAD route."""
    return route("HEAD", path, handler, **kwargs)


def options(path: str, handler: _HandlerT, **kwargs: Any) -> RouteDef:
    """An OPTIONS route."""
    return route("OPTIONS", path, handler, **kwargs)


def get(
    path: str,
    handler: _HandlerT,
    *,
    name: str | None = None,
    allow_head: bool = True,
    **kwargs: Any,
) -> RouteDef:
    """A GET route (with HEAD unless ``allow_head`` is false)."""
    return route("GET", path, handler, name=name, allow_head=allow_head, **kwargs)


def post(path: str, handler: _HandlerT, **kwargs: Any) -> RouteDef:
    """A POST route."""
    return route("POST", path, handler, **kwargs)


def put(path: str, handler: _HandlerT, **kwargs: Any) -> RouteDef:
    """A PUT route."""
    return route("PUT", path, handler, **kwargs)


def patch(path: str, handler: _HandlerT, **kwargs: Any) -> RouteDef:
    """A PATCH route."""
    return route("PATCH", path, handler, **kwargs)


def delete(path: str, handler: _HandlerT, **kwargs: Any) -> RouteDef:
    """A DELETE route."""
    return route("DELETE", path, handler, **kwargs)


def view(path: str, handler: type[AbstractView], **kwargs: Any) -> RouteDef:
    """A class-based view: every method."""
    return route(METH_ANY, path, handler, **kwargs)


def static(prefix: str, path: str | PathLike[str], **kwargs: Any) -> StaticDef:
    """Static files under directory ``path`` served at ``prefix``."""
    return StaticDef(prefix, path, kwargs)


_Deco = Callable[[_HandlerT], _HandlerT]


class RouteTableDef(Sequence[AbstractRouteDef]):
    """Routes declared with decorators, registered with ``app.add_routes(routes)``::

    routes = web.RouteTableDef()

    @routes.get("/")
    async def index(request): ...
    """

    def __init__(self) -> None:
        self._items: list[AbstractRouteDef] = []

    def __repr__(self) -> str:
        return f"<RouteTableDef count={len(self._items)}>"

    @overload
    def __getitem__(self, index: int) -> AbstractRouteDef: ...

    @overload
    def __getitem__(self, index: slice) -> list[AbstractRouteDef]: ...

    def __getitem__(self, index: int | slice) -> AbstractRouteDef | list[AbstractRouteDef]:
        return self._items[index]

    def __iter__(self) -> Iterator[AbstractRouteDef]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def route(self, method: str, path: str, **kwargs: Any) -> _Deco:
        """Decorator: route ``method`` (``"*"``: any) on ``path`` to the function."""

        def inner(handler: _HandlerT) -> _HandlerT:
            self._items.append(RouteDef(method, path, handler, kwargs))
            return handler

        return inner

    def head(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for a HEAD route."""
        return self.route("HEAD", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for a GET route (HEAD included unless ``allow_head=False``)."""
        return self.route("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for a POST route."""
        return self.route("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for a PUT route."""
        return self.route("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for a PATCH route."""
        return self.route("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for a DELETE route."""
        return self.route("DELETE", path, **kwargs)

    def options(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for an OPTIONS route."""
        return self.route("OPTIONS", path, **kwargs)

    def view(self, path: str, **kwargs: Any) -> _Deco:
        """Decorator for a class-based view (every method)."""
        return self.route(METH_ANY, path, **kwargs)

    def static(self, prefix: str, path: str | PathLike[str], **kwargs: Any) -> None:
        """Add static files under directory ``path`` served at ``prefix``."""
        self._items.append(StaticDef(prefix, path, kwargs))
