"""``Application``: shared resources, typed keys, signals, middlewares and sub-applications."""

from __future__ import annotations

import asyncio
import logging
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
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from .chain_map import ChainMapProxy
from .expect import default_expect_handler
from .keys import AppKey
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
        debug: bool = False,
    ) -> None:
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
        self._debug = debug
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
        self._on_startup = Signal(self, name="on_startup")
        self._on_shutdown = Signal(self, name="on_shutdown")
        self._on_cleanup = Signal(self, name="on_cleanup")
        self._cleanup_ctx = CleanupContext()
        self._on_startup.append(self._cleanup_ctx._on_startup)
        self._on_cleanup.append(self._cleanup_ctx._on_cleanup)

    def __init_subclass__(cls) -> None:
        # aiohttp warns here; Berth supports subclassing, the way to add an @app.route
        # decorator (docs/faq.md, "Are there any plans for an @app.route decorator like
        # in Flask?").
        super().__init_subclass__()

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
        if not isinstance(key, (str, AppKey)):
            raise TypeError(f"Application keys are str or AppKey, not {type(key).__name__}")
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
        return self._debug

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
        self._router.freeze()
        self._on_response_prepare.freeze()
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
        self._build_chains(self._router.resources(), (self,))

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

    def _make_handler(self, **kwargs: Any) -> Any:

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
        match_info = resolve_now(request) if resolve_now is not None else None
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
                handler = update_wrapper(partial(mw, handler=handler), handler)
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
