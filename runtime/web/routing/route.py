"""Routes: a method and a handler bound to a resource (and the system route for 404/405)."""

from __future__ import annotations

import abc
import functools
import inspect
import os
import sys
import warnings
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from re import Pattern
from typing import TYPE_CHECKING, Any, Final, TypedDict

from yarl import URL

from ...http.grammar import METHOD_RE
from ..response import StreamResponse
from .view import METH_ANY, AbstractView

if TYPE_CHECKING:
    from ..app import Application
    from ..exceptions import HTTPException
    from ..request import Request
    from .resource import AbstractResource
    from .subapp import AbstractRuleMatching

__all__ = [
    "AbstractRoute",
    "ExpectHandler",
    "Handler",
    "InfoDict",
    "ResourceRoute",
    "SystemRoute",
]

Handler = Callable[["Request"], Awaitable[StreamResponse]]
ExpectHandler = Callable[["Request"], Awaitable[StreamResponse | None]]

_PACKAGE_DIR: Final = os.path.dirname(os.path.abspath(__file__))


class InfoDict(TypedDict, total=False):
    """What ``resource.get_info()`` / ``route.get_info()`` describe, by kind of resource."""

    path: str
    formatter: str
    pattern: Pattern[str]
    directory: Path
    prefix: str
    routes: Mapping[str, AbstractRoute]
    app: Application
    domain: str
    rule: AbstractRuleMatching
    http_exception: HTTPException


def _is_coroutine_function(func: object) -> bool:
    return inspect.iscoroutinefunction(func)


def _caller_stacklevel() -> int:
    """The stack level of the first frame outside this package, so that a warning points
    at the user's ``add_route`` call rather than at the router's internals."""
    frame = sys._getframe(1)
    level = 1
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == _PACKAGE_DIR:
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _checked_handler(handler: Any) -> Handler:
    """Accept a coroutine function or a View class; wrap a plain callable, as aiohttp 3.x
    does, with a DeprecationWarning (it blocks the event loop for as long as it runs)."""
    if _is_coroutine_function(handler):
        return handler  # type: ignore[no-any-return]
    if isinstance(handler, type) and issubclass(handler, AbstractView):
        return handler
    if not callable(handler):
        raise TypeError(f"A handler must be an async function or a View class, got {handler!r}")
    if inspect.isgeneratorfunction(handler):
        raise TypeError(
            f"Generator-based handlers are not supported, got {handler!r}: use 'async def'"
        )
    warnings.warn(
        f"Bare functions are deprecated, use async ones: {handler!r} should be 'async def'",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )

    @functools.wraps(handler)
    async def call_bare_function(request: Request) -> StreamResponse:
        result = handler(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, StreamResponse):
            raise TypeError(f"Handler {handler!r} returned {result!r}, not a response")
        return result

    return call_bare_function


class AbstractRoute(abc.ABC):
    """A handler for one method (or ``*``, any method) of a resource.

    Args:
        method: an HTTP method token, or ``"*"``; stored upper-cased.
        handler: ``async def handler(request) -> StreamResponse`` or a ``View`` subclass.
        expect_handler: a coroutine run for requests with an ``Expect`` header before the
            handler; a response it returns is sent instead of calling the handler.
        resource: the resource the route belongs to.

    Raises:
        ValueError: ``method`` is not a token.
        TypeError: ``handler`` is neither a coroutine function, a View class nor callable,
            or ``expect_handler`` is not a coroutine function.
    """

    def __init__(
        self,
        method: str,
        handler: Handler | type[AbstractView],
        *,
        expect_handler: ExpectHandler | None = None,
        resource: AbstractResource | None = None,
    ) -> None:
        if expect_handler is not None and not _is_coroutine_function(expect_handler):
            raise TypeError(f"expect_handler must be a coroutine function, got {expect_handler!r}")
        method = method.upper()
        if method != METH_ANY and not METHOD_RE.fullmatch(method):
            raise ValueError(f"{method!r} is not an HTTP method token (RFC 9110 5.6.2)")
        self._method = method
        self._handler = _checked_handler(handler)
        self._expect_handler = expect_handler
        self._resource = resource

    @property
    def method(self) -> str:
        """The upper-cased method, or ``"*"`` for any."""
        return self._method

    @property
    def handler(self) -> Handler:
        """The handler (a View subclass is returned as is: calling it gives an awaitable)."""
        return self._handler

    @property
    def resource(self) -> AbstractResource | None:
        """The resource this route belongs to."""
        return self._resource

    @property
    def expect_handler(self) -> ExpectHandler | None:
        """The custom ``Expect`` handler, or None: then the protocol answers
        ``100 Continue`` when the handler first reads the body."""
        return self._expect_handler

    @property
    @abc.abstractmethod
    def name(self) -> str | None:
        """The route's name: always its resource's name."""

    @abc.abstractmethod
    def get_info(self) -> InfoDict:
        """What the route matches, for introspection."""

    @abc.abstractmethod
    def url_for(self, *args: str, **kwargs: str) -> URL:
        """Build the URL of the route's resource."""

    async def handle_expect_header(self, request: Request) -> StreamResponse | None:
        """Run the custom ``Expect`` handler, if any.

        Returns:
            The response to send instead of calling the handler, or None to go on.
        """
        if self._expect_handler is None:
            return None
        return await self._expect_handler(request)


class ResourceRoute(AbstractRoute):
    """A route registered on a resource (``router.add_get`` and friends make these)."""

    def __init__(
        self,
        method: str,
        handler: Handler | type[AbstractView],
        resource: AbstractResource,
        *,
        expect_handler: ExpectHandler | None = None,
    ) -> None:
        super().__init__(method, handler, expect_handler=expect_handler, resource=resource)

    def __repr__(self) -> str:
        return f"<ResourceRoute [{self._method}] {self._resource} -> {self._handler!r}>"

    @property
    def name(self) -> str | None:
        return None if self._resource is None else self._resource.name

    def url_for(self, *args: str, **kwargs: str) -> URL:
        """Build the URL of the route's resource (see the resource's ``url_for``)."""
        assert self._resource is not None
        return self._resource.url_for(*args, **kwargs)

    def get_info(self) -> InfoDict:
        assert self._resource is not None
        return self._resource.get_info()


class SystemRoute(AbstractRoute):
    """The route of a failed match: its handler raises the 404 or 405."""

    def __init__(self, http_exception: HTTPException) -> None:
        super().__init__(METH_ANY, self._handle)
        self._http_exception = http_exception

    def url_for(self, *args: str, **kwargs: str) -> URL:
        raise RuntimeError(".url_for() is not allowed for SystemRoute")

    @property
    def name(self) -> str | None:
        return None

    def get_info(self) -> InfoDict:
        return {"http_exception": self._http_exception}

    async def _handle(self, request: Request) -> StreamResponse:
        raise self._http_exception

    @property
    def status(self) -> int:
        """The status of the failed match (404 or 405)."""
        return self._http_exception.status

    @property
    def reason(self) -> str:
        return self._http_exception.reason

    def __repr__(self) -> str:
        return f"<SystemRoute {self.status}: {self.reason}>"
