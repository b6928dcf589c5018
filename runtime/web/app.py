"""``Application``: shared resources, typed keys, signals, middlewares and sub-applications."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager
from functools import partial, update_wrapper
from types import EllipsisType
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from .chain_map import ChainMapProxy
from .expect import default_expect_handler
from .keys import AppKey, is_foreign_key, warn_str_key
from .middleware import is_new_style, new_style, old_style, warn_old_style
from .request import Request
from .routing.dispatcher import (
    Domain,
    MaskDomain,
    MatchedSubAppResource,
    PrefixedSubAppResource,
    UrlDispatcher,
)
from .server import Server
from .signals import FrozenList, Signal

if TYPE_CHECKING:
    from ..http.message import RequestMessage
    from ..http.writer import ResponseWriter
    from ..server.protocol import HttpProtocol
    from ..server.streams import StreamReader
    from .response import StreamResponse
    from .routing.dispatcher import AbstractResource, AbstractRoute

__all__ = ["AppKey", "Application", "ChainMapProxy", "CleanupError"]

web_logger = logging.getLogger("runtime.web")

_T = TypeVar("_T")
_U = TypeVar("_U")
Handler = Callable[["Request"], Awaitable["StreamResponse"]]
# ``async def mw(request, handler)``; called with ``handler=`` as a keyword.
Middleware = Callable[..., Awaitable["StreamResponse"]]
CleanupCtx = Callable[["Application"], AsyncIterator[None] | AbstractAsyncContextManager[None]]

# Development mode (python -X dev, PYTHONASYNCIODEBUG=1), where aiohttp checks attributes.
_DEV_MODE = sys.flags.dev_mode or (
    not sys.flags.ignore_environment and bool(os.environ.get("PYTHONASYNCIODEBUG"))
)
# The attributes an application sets on itself; in development mode, setting any other one
# warns, as aiohttp's does: state belongs in the mapping, under a typed key.
_ATTRS = frozenset(
    {
        "_chains",
        "_cleanup_ctx",
        "_client_max_fields",
        "_client_max_size",
        "_debug",
        "_frozen",
        "_handler_args",
        "_loop",
        "_middlewares",
        "_on_cleanup",
        "_on_response_prepare",
        "_on_shutdown",
        "_on_startup",
        "_pre_frozen",
        "_prepare_receivers",
        "_resolve_now",
        "_router",
        "_state",
        "_subapps",
        "logger",
    }
)


class CleanupError(RuntimeError):
    """One or more cleanup callbacks failed; ``exceptions`` lists them."""

    @property
    def exceptions(self) -> list[BaseException]:
        return cast(list[BaseException], self.args[1])


class CleanupContext(FrozenList[CleanupCtx]):
    """Resources entered on startup and exited on cleanup, in reverse order.

    An entry is ``async def ctx(app)`` with one ``yield`` (an async generator), or anything
    that returns an async context manager, such as a function decorated with
    ``@contextlib.asynccontextmanager`` (aiohttp's background_tasks example is written that
    way). When several exits fail, :class:`CleanupError` lists every failure, as aiohttp's
    does; one failure is raised as it is.
    """

    def __init__(self) -> None:
        super().__init__(what="cleanup_ctx")
        self._exits: list[Callable[[], Awaitable[object]]] = []

    async def _on_startup(self, app: Application) -> None:
        for factory in self:
            entered = factory(app)
            if isinstance(entered, AbstractAsyncContextManager):
                await entered.__aenter__()
                self._exits.append(partial(entered.__aexit__, None, None, None))
            elif isinstance(entered, AsyncIterator):
                await entered.__anext__()
                self._exits.append(partial(_run_to_end, entered))
            else:
                if isinstance(entered, Coroutine):
                    entered.close()  # an ``async def`` without ``yield``: never awaited
                raise TypeError(
                    f"cleanup_ctx entry {factory!r} returned {type(entered).__name__}: "
                    "write it as an async generator with one 'yield' or return an async "
                    "context manager"
                )

    async def _on_cleanup(self, app: Application) -> None:
        errors: list[BaseException] = []
        for exit_ in reversed(self._exits):
            try:
                await exit_()
            except (Exception, asyncio.CancelledError) as exc:  # aiohttp collects both
                errors.append(exc)
        self._exits.clear()
        if errors:
            if len(errors) == 1:
                raise errors[0]
            raise CleanupError("Multiple errors on cleanup stage", errors)


async def _run_to_end(iterator: AsyncIterator[None]) -> None:
    """Resume a cleanup generator after its ``yield``; a second ``yield`` is a mistake."""
    try:
        await iterator.__anext__()
    except StopAsyncIteration:
        return
    raise RuntimeError(f"{iterator!r} has more than one 'yield'")


class Application(MutableMapping[str | AppKey[Any], Any]):
    """A web application: a router, middlewares, signals and a mapping for shared resources.

    Args:
        middlewares: ``@middleware`` coroutines ``(request, handler) -> response``, the first
            one outermost.
        client_max_size: the largest body ``request.read()``/``post()`` accept (413 above).
        client_max_fields: the most fields ``request.post()`` accepts from a urlencoded or
            multipart form (413 above; 0: no limit), aiohttp 3.14's guard against forms
            that cost more to parse than their size suggests.
        handler_args: extra keyword arguments for the low-level ``web.Server``.
        loop: deprecated and ignored; the application uses the running loop.
    """

    def __init__(
        self,
        *,
        logger: logging.Logger = web_logger,
        router: UrlDispatcher | None = None,
        middlewares: Iterable[Middleware] = (),
        handler_args: Mapping[str, Any] | None = None,
        client_max_size: int = 1024**2,
        client_max_fields: int = 1000,
        loop: asyncio.AbstractEventLoop | None = None,
        debug: bool | EllipsisType = ...,
    ) -> None:
        if router is not None:
            warnings.warn(
                "Application(router=...) is deprecated: the application's own router, "
                "app.router, takes every route (app.router.add_route(...), "
                "app.add_routes(...))",
                DeprecationWarning,
                stacklevel=2,
            )
        if debug is not ...:
            warnings.warn(
                "Application(debug=...) is deprecated: pass debug=True to run_app(), "
                "AppRunner() or web.Server() (tracebacks in 500 pages), or run the loop "
                "in debug mode (python -X dev, PYTHONASYNCIODEBUG=1)",
                DeprecationWarning,
                stacklevel=2,
            )
        if loop is not None:
            warnings.warn(
                "Application(loop=...) is deprecated and ignored: the application runs on "
                "the running event loop. Drop the argument; create the app inside a "
                "coroutine or a factory if it needs the loop.",
                DeprecationWarning,
                stacklevel=2,
            )

        self._router: UrlDispatcher = router if router is not None else UrlDispatcher()
        # Our own router resolves most requests without a coroutine; a subclass may not.
        self._resolve_now = (
            self._router._resolve_now if type(self._router) is UrlDispatcher else None
        )
        self.logger = logger
        self._debug = False if debug is ... else bool(debug)
        self._loop = loop
        self._handler_args = dict(handler_args or {})
        self._client_max_size = client_max_size
        self._client_max_fields = client_max_fields
        self._middlewares: FrozenList[Middleware] = FrozenList(middlewares, what="middlewares")
        self._state: dict[str | AppKey[Any], Any] = {}
        self._frozen = False
        self._pre_frozen = False
        self._subapps: list[Application] = []
        self._chains: dict[Any, Handler] = {}
        self._on_response_prepare = Signal(self, name="on_response_prepare")
        # Whether on_response_prepare has receivers, known once it is frozen (None before):
        # every response asks, and a frozen signal's answer cannot change.
        self._prepare_receivers: bool | None = None
        self._on_startup = Signal(self, name="on_startup")
        self._on_shutdown = Signal(self, name="on_shutdown")
        self._on_cleanup = Signal(self, name="on_cleanup")
        self._cleanup_ctx = CleanupContext()
        self._on_startup.append(self._cleanup_ctx._on_startup)
        self._on_cleanup.append(self._cleanup_ctx._on_cleanup)

    def __init_subclass__(cls) -> None:
        # As aiohttp: an application is configured, not extended, so that a subclass cannot
        # break what the runner, sub-apps and signals expect of it.
        warnings.warn(
            f"Subclassing web.Application ({cls.__name__}) is deprecated: keep your state "
            "in the application with typed keys (app[web.AppKey(...)]), your routes in a "
            "web.RouteTableDef, and build the app in a factory function",
            DeprecationWarning,
            stacklevel=3,  # past ABCMeta.__new__, to the class statement
        )
        super().__init_subclass__()

    if _DEV_MODE:

        def __setattr__(self, name: str, value: Any) -> None:
            if name not in _ATTRS:
                warnings.warn(
                    f"Setting a custom web.Application.{name} attribute is deprecated: keep "
                    f"it in the application's mapping, app[web.AppKey({name!r}, ...)]",
                    DeprecationWarning,
                    stacklevel=2,
                )
            super().__setattr__(name, value)

    # -- state mapping --------------------------------------------------------------------

    def _check_state_change(self) -> None:
        if self._frozen:
            warnings.warn(
                "Changing state of a started or joined application is deprecated: set "
                "shared resources before startup or in on_startup / cleanup_ctx",
                DeprecationWarning,
                stacklevel=3,
            )

    @overload
    def __getitem__(self, key: AppKey[_T]) -> _T: ...

    @overload
    def __getitem__(self, key: str) -> Any: ...

    def __getitem__(self, key: str | AppKey[_T]) -> Any:
        return self._state[key]

    @overload
    def __setitem__(self, key: AppKey[_T], value: _T) -> None: ...

    @overload
    def __setitem__(self, key: str, value: Any) -> None: ...

    def __setitem__(self, key: str | AppKey[_T], value: Any) -> None:
        self._check_state_change()
        if not isinstance(key, AppKey) and not is_foreign_key(key, AppKey):
            if not isinstance(key, str):
                raise TypeError(f"Application keys are str or AppKey, not {type(key).__name__}")
            warn_str_key(key, AppKey, stacklevel=2)
        self._state[key] = value

    def __delitem__(self, key: str | AppKey[_T]) -> None:
        self._check_state_change()
        del self._state[key]

    def __len__(self) -> int:
        return len(self._state)

    def __iter__(self) -> Iterator[str | AppKey[Any]]:
        return iter(self._state)

    @overload  # type: ignore[override]
    def get(self, key: AppKey[_T], default: None = ...) -> _T | None: ...

    @overload
    def get(self, key: AppKey[_T], default: _U) -> _T | _U: ...

    @overload
    def get(self, key: str, default: Any = ...) -> Any: ...

    def get(self, key: Any, default: Any = None) -> Any:
        return self._state.get(key, default)

    def __eq__(self, other: object) -> bool:
        return self is other

    def __hash__(self) -> int:
        return id(self)

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return f"<Application 0x{id(self):x}>"

    def __call__(self) -> Application:
        """gunicorn checks that the loaded object is callable; an app stands for itself."""
        return self

    # -- configuration ----------------------------------------------------------------------

    @property
    def router(self) -> UrlDispatcher:
        return self._router

    @property
    def middlewares(self) -> FrozenList[Middleware]:
        return self._middlewares

    @property
    def debug(self) -> bool:
        warnings.warn(
            "Application.debug is deprecated: debug mode belongs to the server "
            "(run_app(..., debug=True)) and to the event loop (loop.get_debug())",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._debug

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The loop the application was started on (None before), with a warning."""
        warnings.warn(
            "Application.loop is deprecated: use asyncio.get_running_loop() in a coroutine",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._loop

    @property
    def on_response_prepare(self) -> Signal:
        return self._on_response_prepare

    @property
    def on_startup(self) -> Signal:
        return self._on_startup

    @property
    def on_shutdown(self) -> Signal:
        return self._on_shutdown

    @property
    def on_cleanup(self) -> Signal:
        return self._on_cleanup

    @property
    def cleanup_ctx(self) -> CleanupContext:
        return self._cleanup_ctx

    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def pre_frozen(self) -> bool:
        return self._pre_frozen

    def pre_freeze(self) -> None:
        """Lock routes, middlewares and signals (done when the app starts or is nested)."""
        if self._pre_frozen:
            return
        self._pre_frozen = True
        self._middlewares.freeze()
        for mw in self._middlewares:
            if not is_new_style(mw):
                warn_old_style(mw)
        self._router.freeze()
        self._on_response_prepare.freeze()
        self._prepare_receivers = bool(self._on_response_prepare)
        self._cleanup_ctx.freeze()
        self._on_startup.freeze()
        self._on_shutdown.freeze()
        self._on_cleanup.freeze()
        for subapp in self._subapps:
            subapp.pre_freeze()

    def freeze(self) -> None:
        if self._frozen:
            return
        self.pre_freeze()
        self._frozen = True
        for subapp in self._subapps:
            subapp.freeze()
        resources = getattr(self._router, "resources", None)
        if resources is not None:  # a router of one's own may only resolve (aiohttp's abc)
            self._build_chains(resources(), (self,))

    def _check_frozen(self, what: str) -> None:
        if self._pre_frozen:
            raise RuntimeError(
                f"Cannot {what}: the application is frozen once it starts (or is added as a "
                "sub-application); make changes before that"
            )

    def add_subapp(self, prefix: str, subapp: Application) -> AbstractResource:
        """Nest ``subapp`` under ``prefix``: its routes, middlewares, signals and state.

        The sub-app's middlewares run after the parent's and only for its routes; its
        signals run with the parent's.
        """
        if not prefix.startswith("/"):
            raise ValueError("Prefix must start with a slash")
        prefix = prefix.rstrip("/")
        if not prefix:
            raise ValueError("Prefix cannot be empty")

        return self._add_subapp(partial(PrefixedSubAppResource, prefix, subapp), subapp)

    def add_domain(self, domain: str, subapp: Application) -> AbstractResource:
        """Serve ``subapp`` for requests whose Host matches ``domain`` (``*.example.com``)."""
        if not isinstance(domain, str):
            raise TypeError("Domain must be str")
        if not domain:
            raise ValueError("Domain cannot be empty")

        rule = MaskDomain(domain) if "*" in domain else Domain(domain)
        return self._add_subapp(partial(MatchedSubAppResource, rule, subapp), subapp)

    def _add_subapp(
        self, make_resource: Callable[[], AbstractResource], subapp: Application
    ) -> AbstractResource:
        self._check_frozen("add a sub-application")
        if subapp is self:
            raise ValueError("An application cannot be its own sub-application")
        if subapp.pre_frozen:
            raise RuntimeError("Cannot add a sub-application that is already frozen or nested")
        # Built only now: building a prefixed resource prefixes the sub-app's routes.
        resource = make_resource()
        self._router.register_resource(resource)
        self._subapps.append(subapp)
        self._on_startup.append(lambda app: subapp.on_startup.send(subapp))
        self._on_shutdown.append(lambda app: subapp.on_shutdown.send(subapp))
        self._on_cleanup.append(lambda app: subapp.on_cleanup.send(subapp))
        subapp.pre_freeze()
        return resource

    def add_routes(self, routes: Iterable[Any]) -> list[AbstractRoute]:
        return self._router.add_routes(routes)

    # -- lifecycle --------------------------------------------------------------------------

    async def startup(self) -> None:
        """Run ``on_startup`` (and the first half of each ``cleanup_ctx``)."""
        await self.on_startup.send(self)

    async def shutdown(self) -> None:
        """Run ``on_shutdown``."""
        await self.on_shutdown.send(self)

    async def cleanup(self) -> None:
        """Run ``on_cleanup`` (and the second half of each ``cleanup_ctx``)."""
        await self.on_cleanup.send(self)

    # -- serving ----------------------------------------------------------------------------

    def make_handler(self, **kwargs: Any) -> Server:
        """The low-level server for this application (deprecated: use ``web.AppRunner``)."""
        warnings.warn(
            "Application.make_handler() is deprecated: use runner = web.AppRunner(app); "
            "await runner.setup(), then a web.TCPSite (or web.run_app)",
            DeprecationWarning,
            stacklevel=2,
        )
        kwargs.pop("loop", None)  # aiohttp's make_handler(loop=...): the running loop serves
        return self._make_handler(**kwargs)

    def _make_handler(self, **kwargs: Any) -> Server:
        if self._loop is None:
            # Built outside a loop, ``loop`` stays None, as in aiohttp.
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()
        self.freeze()
        options = {**self._handler_args, **kwargs}
        options.setdefault("client_max_size", self._client_max_size)
        options.setdefault("client_max_fields", self._client_max_fields)
        options.setdefault("debug", self._debug)
        factory: Any = self._make_request
        if type(self)._make_request is Application._make_request:
            factory = Request  # what _make_request would build, one call fewer per request
        return Server(self._handle, request_factory=factory, **options)

    def _make_request(
        self,
        message: RequestMessage,
        payload: StreamReader,
        protocol: HttpProtocol,
        writer: ResponseWriter,
        task: asyncio.Task[Any] | None,
        loop: asyncio.AbstractEventLoop,
        **kwargs: Any,
    ) -> Request:
        return Request(message, payload, protocol, writer, task, loop, **kwargs)

    async def _handle(self, request: Request) -> StreamResponse:
        resolve_now = self._resolve_now
        match_info = resolve_now(request, self) if resolve_now is not None else None
        if match_info is None:
            match_info = await self._router.resolve(request)
            match_info._add_root(self)
        request._match_info = match_info
        route = match_info._route
        if request._message.has_expect:
            # RFC 9110 10.1.1; the route's own handler, or 417 for what is not 100-continue.
            response = await (route.expect_handler or default_expect_handler)(request)
            if response is not None:
                return response
        chain = self._chains.get(route)
        if chain is None:
            apps = match_info.apps
            chain = self._chains.get(apps)
            if chain is None:
                chain = self._chains[apps] = self._build_chain(apps)
        return await chain(request)

    def _build_chains(
        self, resources: Iterable[AbstractResource], apps: tuple[Application, ...]
    ) -> None:
        # Each route's middleware chain is built once, here, not per request.
        for resource in resources:
            subapp = getattr(resource, "app", None)
            if isinstance(subapp, Application) and subapp is not self:
                self._build_chains(subapp.router.resources(), (*apps, subapp))
                continue
            for route in resource:
                self._chains[route] = self._build_chain(apps, route.handler)

    def _build_chain(self, apps: Sequence[Application], handler: Handler | None = None) -> Handler:
        """Wrap ``handler`` in the middlewares of ``apps``, the root's outermost."""
        if handler is None:
            handler = _call_matched_handler  # 404/405 and other per-request routes
        nested = len(apps) > 1
        for app in reversed(apps):
            for mw in reversed(app._middlewares):
                if is_new_style(mw):
                    handler = new_style(mw, handler)
                else:
                    handler = old_style(cast(Any, mw), app, handler)
            if nested:
                handler = _with_current_app(app, handler)
        return handler


async def _call_matched_handler(request: Request) -> StreamResponse:
    return await request.match_info.handler(request)


def _with_current_app(app: Application, handler: Handler) -> Handler:
    async def run_in_app(request: Request) -> StreamResponse:
        with request.match_info.set_current_app(app):
            return await handler(request)

    return update_wrapper(run_in_app, handler)
