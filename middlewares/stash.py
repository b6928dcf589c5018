"""Per-request resources, typed and lazy: "put data inside the request", made safe.

A middleware hands data to the handler through the request mapping (docs/faq.md, "How may
a middleware store data for a web handler to use later?"); this one does it for resources
that must be made on demand and given back.

Declare a typed key and how to make its value, install the middleware, and ask for the
value where it is needed::

    DB = web.RequestKey("db", Connection)

    async def connection(request: web.Request) -> AsyncIterator[Connection]:
        async with request.app[POOL].acquire() as conn:
            yield conn

    app = web.Application(middlewares=[stash_middleware(provide(DB, connection))])

    async def handler(request: web.Request) -> web.Response:
        conn = await stash.get(request, DB)  # a Connection to mypy

The value is made on first :func:`get` (a handler that never asks never pays), once per
request however many tasks ask, kept in the request mapping (``request[DB]`` afterwards),
and released when the handler is done: after it returned -- a streamed body has been
written by then -- or raised, or was cancelled because the client went away. Resources are
released in the reverse order of their making, and a context manager sees the handler's
exception, so a transaction provider rolls back on errors and commits otherwise.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import Any, Final, Generic, TypeVar, final, overload

from runtime import web
from runtime.web import RequestKey

__all__ = ["Provider", "RequestKey", "get", "provide", "stash_middleware"]

_T = TypeVar("_T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]
_Factory = Callable[[web.Request], Awaitable[_T] | AbstractAsyncContextManager[_T]]


@final
class Provider(Generic[_T]):
    """How to make the value of one key for a request: see :func:`provide`."""

    __slots__ = ("factory", "key")

    def __init__(self, key: RequestKey[_T], factory: _Factory[_T]) -> None:
        self.key = key
        self.factory = factory

    def __repr__(self) -> str:
        return f"<Provider {self.key.name} from {getattr(self.factory, '__qualname__', '?')}>"


@overload
def provide(
    key: RequestKey[_T], factory: Callable[[web.Request], AsyncIterator[_T]]
) -> Provider[_T]: ...


@overload
def provide(
    key: RequestKey[_T], factory: Callable[[web.Request], AbstractAsyncContextManager[_T]]
) -> Provider[_T]: ...


@overload
def provide(
    key: RequestKey[_T], factory: Callable[[web.Request], Awaitable[_T]]
) -> Provider[_T]: ...


def provide(key: RequestKey[_T], factory: Callable[[web.Request], Any]) -> Provider[_T]:
    """Say how to make ``key``'s value for a request.

    Args:
        key: the key handlers ask for.
        factory: called with the request on first use. Either a coroutine function
            returning the value (nothing to release), an async generator function that
            yields it once and releases it after the ``yield`` (wrapped in ``try``/
            ``finally`` or ``async with`` so errors release it too), or a function
            returning an async context manager (``@asynccontextmanager``, a pool's
            ``acquire``) whose ``__aenter__`` gives the value.

    Returns:
        The provider, for :func:`stash_middleware`.

    Raises:
        TypeError: ``factory`` is not callable.
    """
    if not callable(factory):
        raise TypeError(f"A provider's factory must be callable, not {type(factory).__name__}")
    if inspect.isasyncgenfunction(factory):
        factory = asynccontextmanager(factory)
    return Provider(key, factory)


class _Scope:
    """The providers and the resources made for one request (and its enclosing apps')."""

    __slots__ = ("_parent", "_pending", "_providers", "_stack")

    def __init__(
        self, providers: Mapping[RequestKey[Any], Provider[Any]], parent: _Scope | None
    ) -> None:
        self._providers = providers
        self._parent = parent
        self._stack: AsyncExitStack | None = None
        self._pending: dict[RequestKey[Any], tuple[asyncio.Task[Any] | None, asyncio.Future[None]]]
        self._pending = {}

    def owner(self, key: RequestKey[Any]) -> _Scope | None:
        scope: _Scope | None = self
        while scope is not None and key not in scope._providers:
            scope = scope._parent
        return scope

    async def make(self, request: web.Request, key: RequestKey[_T]) -> _T:
        """Run the factory, once per request even when several tasks ask at the same time."""
        while key not in request:
            pending = self._pending.get(key)
            if pending is None:
                return await self._make_once(request, key)
            task, done = pending
            if task is asyncio.current_task():
                raise RuntimeError(f"{key!r} depends on itself through its providers")
            # Shielded: a cancelled waiter must not cancel the maker's future for the others.
            await asyncio.shield(done)
        return request[key]

    async def _make_once(self, request: web.Request, key: RequestKey[_T]) -> _T:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending[key] = (asyncio.current_task(), done)
        try:
            value: _T = await self._enter(self._providers[key], request)
            request[key] = value
            return value
        finally:
            # Waiters look again: the value, or (the factory failed) their own try.
            del self._pending[key]
            done.set_result(None)

    async def _enter(self, provider: Provider[Any], request: web.Request) -> Any:
        made = provider.factory(request)
        if isinstance(made, AbstractAsyncContextManager):
            stack = self._stack
            if stack is None:
                stack = self._stack = AsyncExitStack()
            return await stack.enter_async_context(made)
        return await made

    async def close(self, exc: BaseException | None) -> None:
        """Release what was made, newest first, showing the context managers ``exc``."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if exc is None:
            await stack.aclose()
        else:
            # A provider cannot swallow the handler's error: the caller re-raises it.
            await stack.__aexit__(type(exc), exc, exc.__traceback__)


_SCOPE: Final = RequestKey("middlewares.stash.scope", _Scope)


async def get(request: web.Request, key: RequestKey[_T]) -> _T:
    """The value of ``key`` for this request, made by its provider on first use.

    A value already in the request mapping (``request[key] = ...`` by a test or another
    middleware) is returned as it is.

    Args:
        request: the current request (or a clone of it).
        key: the key.

    Returns:
        The value.

    Raises:
        LookupError: no installed :func:`stash_middleware` provides ``key``.
        RuntimeError: the key's providers depend on it in a cycle.
    """
    if key in request:
        return request[key]
    scope = request.get(_SCOPE)
    owner = scope.owner(key) if isinstance(scope, _Scope) else None
    if owner is None:
        raise LookupError(f"No stash_middleware provides {key!r} for this request")
    return await owner.make(request, key)


def stash_middleware(*providers: Provider[Any]) -> Middleware:
    """A middleware that makes the providers' values available to :func:`get`.

    Several may be installed (an application's and a sub-application's); :func:`get` looks
    through all of them, innermost first, and each releases what it made.

    Args:
        providers: from :func:`provide`, one per key.

    Returns:
        The middleware.

    Raises:
        ValueError: two providers for the same key.
    """
    table: dict[RequestKey[Any], Provider[Any]] = {}
    for provider in providers:
        if provider.key in table:
            raise ValueError(f"Two providers for {provider.key!r}")
        table[provider.key] = provider

    @web.middleware
    async def stash(request: web.Request, handler: Handler) -> web.StreamResponse:
        parent: _Scope | None = request.get(_SCOPE)
        scope = request[_SCOPE] = _Scope(table, parent)
        try:
            response = await handler(request)
        except BaseException as exc:  # cancellation too: the client went away
            await scope.close(exc)
            raise
        finally:
            if parent is None:
                del request[_SCOPE]
            else:
                request[_SCOPE] = parent
        await scope.close(None)
        return response

    return stash
