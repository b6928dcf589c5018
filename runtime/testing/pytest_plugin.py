"""pytest plugin (the ``pytest11`` entry point ``berth``): async tests and test-kit fixtures.

``async def test_...`` functions run on a fresh event loop per test (the ``berth_loop``
fixture), closed afterwards; ``async def`` fixtures of function scope run on the same loop.

It steps aside for the tests other asyncio plugins own, so it can be installed next to them:

- pytest-asyncio (and pytest-aiohttp, which builds on it): every async test and fixture in
  its ``auto`` mode; in ``strict`` mode the tests marked ``@pytest.mark.asyncio`` (the plain
  ``async def`` fixtures of the tests berth runs stay berth's).
- anyio: tests marked ``@pytest.mark.anyio`` or using ``anyio_backend``.
- aiohttp's own ``aiohttp.pytest_plugin``: every async test and fixture; berth then leaves
  out its ``loop``, ``test_client`` and ``unused_port`` fixtures, which that plugin defines.

Fixtures: ``make_client``, ``make_server``, ``make_raw_server``, ``unused_port`` and
``berth_loop``; aiohttp's older ``test_client`` and ``loop`` still work but are deprecated
(docs/faq.md, "How to use Berth's test features with code which works with an implicit
loop?").
No ``aiohttp_*`` names are defined, so pytest-aiohttp's fixtures are never shadowed.
"""

from __future__ import annotations

import asyncio
import inspect
import warnings
from collections.abc import Awaitable, Callable, Generator, Iterator
from typing import Any, Protocol

import pytest

from ..web.app import Application
from .kit import BaseTestServer, RawTestServer, TestClient, TestServer, loop_context
from .kit import unused_port as _unused_port

__all__ = ["berth_loop", "make_client", "make_raw_server", "make_server"]

_LOOP_FIXTURE = "berth_loop"
_ASYNCIO_PLUGINS = ("asyncio", "pytest_asyncio", "pytest_asyncio.plugin")
_AIOHTTP_PLUGINS = ("aiohttp", "pytest_aiohttp", "pytest_aiohttp.plugin")


# -- who runs what ----------------------------------------------------------------------


def _aiohttp_plugin_loaded(config: pytest.Config) -> bool:
    """Whether aiohttp's own pytest plugin runs: not the compatibility mode's stand-in for
    it (runtime.compat), whose fixtures are built on ours and whose tests berth runs."""
    plugin = config.pluginmanager.get_plugin("aiohttp.pytest_plugin")
    return plugin is not None and not getattr(plugin, "__berth_compat__", False)


def _has_any(config: pytest.Config, names: tuple[str, ...]) -> bool:
    return any(config.pluginmanager.has_plugin(name) for name in names)


def _asyncio_plugin_active(config: pytest.Config) -> bool:
    return _has_any(config, _ASYNCIO_PLUGINS) or _has_any(config, _AIOHTTP_PLUGINS)


def _asyncio_mode(config: pytest.Config) -> str:
    mode = config.getoption("asyncio_mode", None)
    if mode is None:
        try:
            mode = config.getini("asyncio_mode")
        except ValueError:
            mode = None
    return str(mode or "strict")


def _async_fixture_is_ours(request: pytest.FixtureRequest) -> bool:
    """Whether berth runs this ``async def`` fixture: always when no other asyncio plugin
    is active; with pytest-asyncio in strict mode, when a test berth runs asks for it."""
    config = request.config
    if _aiohttp_plugin_loaded(config):
        return False
    if not _asyncio_plugin_active(config):
        return True
    node = request.node
    return _asyncio_mode(config) != "auto" and isinstance(node, pytest.Function) and _is_ours(node)


def _owned_elsewhere(item: pytest.Item) -> bool:
    """Whether another asyncio plugin runs this async test."""
    config = item.config
    if _aiohttp_plugin_loaded(config):
        return True
    if config.pluginmanager.has_plugin("anyio") and (
        item.get_closest_marker("anyio") is not None
        or "anyio_backend" in getattr(item, "fixturenames", ())
    ):
        return True
    if _asyncio_plugin_active(config):
        return item.get_closest_marker("asyncio") is not None or _asyncio_mode(config) == "auto"
    return False


def _is_ours(item: pytest.Function) -> bool:
    return inspect.iscoroutinefunction(item.obj) and not _owned_elsewhere(item)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each async test we run the loop fixture first, so it is torn down last."""
    for item in items:
        if isinstance(item, pytest.Function) and _is_ours(item):
            names = item.fixturenames
            if _LOOP_FIXTURE not in names:
                names.insert(0, _LOOP_FIXTURE)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run an ``async def`` test to completion on its loop."""
    if not _is_ours(pyfuncitem):
        return None
    funcargs = pyfuncitem.funcargs
    testargs = {name: funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    event_loop = funcargs.get(_LOOP_FIXTURE)
    if isinstance(event_loop, asyncio.AbstractEventLoop):
        event_loop.run_until_complete(pyfuncitem.obj(**testargs))
    else:  # collected after our hook ran (a plugin added it late): a loop of its own
        with loop_context() as own_loop:
            own_loop.run_until_complete(pyfuncitem.obj(**testargs))
    return True


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, Any, Any]:
    """Run ``async def`` fixtures (and async generator fixtures) on the test's loop."""
    func = fixturedef.func
    is_gen = inspect.isasyncgenfunction(func)
    if not (is_gen or inspect.iscoroutinefunction(func)) or not _async_fixture_is_ours(request):
        return (yield)
    fixturedef.func = _sync_fixture(func, request, is_gen)  # type: ignore[misc]
    try:
        return (yield)
    finally:
        fixturedef.func = func  # type: ignore[misc]


def _sync_fixture(func: Any, request: pytest.FixtureRequest, is_gen: bool) -> Any:
    """Wrap an async fixture into the sync function pytest calls, bound as pytest binds."""
    if request.scope != "function":
        pytest.fail(
            f"async fixture {request.fixturename!r} has scope {request.scope!r}; berth runs "
            "async fixtures on the per-test loop, so only function scope is supported",
            pytrace=False,
        )
    instance = request.instance
    if instance is not None and hasattr(func, "__func__"):
        func = func.__func__.__get__(instance)  # a fixture method of the test class

    def get_loop() -> asyncio.AbstractEventLoop:
        event_loop: asyncio.AbstractEventLoop = request.getfixturevalue(_LOOP_FIXTURE)
        return event_loop

    if is_gen:

        def gen_wrapper(**kwargs: Any) -> Iterator[Any]:
            event_loop = get_loop()
            agen = func(**kwargs)
            yield event_loop.run_until_complete(agen.__anext__())
            try:
                event_loop.run_until_complete(agen.__anext__())
            except StopAsyncIteration:
                return
            raise ValueError(f"async fixture {request.fixturename!r} yielded more than once")

        return gen_wrapper

    def wrapper(**kwargs: Any) -> Any:
        return get_loop().run_until_complete(func(**kwargs))

    return wrapper


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def berth_loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The event loop the current test runs on: fresh for each test, closed after it.

    Async tests and fixtures need not ask for it (``asyncio.get_running_loop()`` works
    there); it is for synchronous fixtures that run coroutines with
    ``berth_loop.run_until_complete(...)``.
    """
    with loop_context() as event_loop:
        yield event_loop


class Closable(Protocol):
    """What a factory fixture hands out and closes at teardown: a test client or server."""

    async def close(self) -> None: ...


class Tracker:
    """What a factory fixture made, and the loop it made it on, to close it at teardown."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.items: list[Closable] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        request.node.stash.setdefault(_TRACKERS, []).append(self)

    def add(self, item: Closable) -> None:
        self.loop = asyncio.get_running_loop()
        self.items.append(item)

    def close_all(self) -> None:
        event_loop, items = self.loop, self.items[::-1]
        self.items.clear()
        if event_loop is None or not items:
            return
        if event_loop.is_closed() or event_loop.is_running():
            warnings.warn(
                f"{len(items)} test client(s)/server(s) could not be closed: their loop is "
                "gone; close them in the test",
                ResourceWarning,
                stacklevel=2,
            )
            return
        for item in items:
            event_loop.run_until_complete(item.close())


_TRACKERS = pytest.StashKey[list[Tracker]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """Close what the factories made before any fixture is torn down: the loop they run on
    may belong to a fixture of another plugin (pytest-asyncio's runner) that goes first."""
    trackers: list[Tracker] = item.stash.get(_TRACKERS, [])
    for tracker in reversed(trackers):
        tracker.close_all()
    return (yield)


ClientFactory = Callable[..., Awaitable[TestClient]]
ServerFactory = Callable[..., Awaitable[BaseTestServer]]


@pytest.fixture
def make_server(request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    """``server = await make_server(app, port=None, **runner_kwargs)``: a started
    :class:`TestServer`, closed after the test."""
    tracker = Tracker(request)

    async def factory(
        app: Application, *, host: str = "127.0.0.1", port: int | None = None, **kwargs: Any
    ) -> BaseTestServer:
        server = TestServer(app, host=host, port=port)
        tracker.add(server)
        await server.start_server(**kwargs)
        return server

    yield factory
    tracker.close_all()


@pytest.fixture
def make_raw_server(request: pytest.FixtureRequest) -> Iterator[ServerFactory]:
    """``server = await make_raw_server(handler, port=None, **server_kwargs)``: a started
    :class:`RawTestServer` for a bare handler, closed after the test."""
    tracker = Tracker(request)

    async def factory(
        handler: Any, *, host: str = "127.0.0.1", port: int | None = None, **kwargs: Any
    ) -> BaseTestServer:
        server = RawTestServer(handler, host=host, port=port)
        tracker.add(server)
        await server.start_server(**kwargs)
        return server

    yield factory
    tracker.close_all()


@pytest.fixture
def make_client(request: pytest.FixtureRequest) -> Iterator[ClientFactory]:
    """``client = await make_client(target, **session_kwargs)``: a :class:`TestClient` on a
    started server, closed (with its server) after the test.

    ``target`` is an :class:`Application`, a test server, a request handler (an
    ``async def`` taking one argument: served raw) or an application factory, called with
    the remaining positional and keyword arguments (its result may be awaitable).
    ``server_kwargs`` go to the server.
    """
    tracker = Tracker(request)

    async def factory(
        target: Any, *args: Any, server_kwargs: dict[str, Any] | None = None, **kwargs: Any
    ) -> TestClient:
        if _is_handler(target) and not args and not kwargs:
            target = RawTestServer(target, **(server_kwargs or {}))
        elif callable(target) and not isinstance(target, Application | BaseTestServer):
            target = target(*args, **kwargs)
            if inspect.isawaitable(target):
                target = await target
            args, kwargs = (), {}
        if args:
            raise TypeError("Positional arguments are for application factories only")
        if isinstance(target, Application):
            target = TestServer(target, **(server_kwargs or {}))
        if not isinstance(target, BaseTestServer):
            raise TypeError(f"Cannot make a test client for {target!r}")
        client = TestClient(target, **kwargs)
        tracker.add(client)
        await client.start_server()
        return client

    yield factory
    tracker.close_all()


def _is_handler(target: Any) -> bool:
    if not inspect.iscoroutinefunction(target):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [
        p
        for p in inspect.signature(target).parameters.values()
        if p.default is p.empty and p.kind in positional
    ]
    return len(required) == 1


class _ExtraFixtures:
    """Fixtures whose names aiohttp's own ``aiohttp.pytest_plugin`` also defines: registered
    only without it, so that plugin's fixtures are never shadowed."""

    @pytest.fixture
    def unused_port(self) -> Callable[[], int]:
        """A function returning a free TCP port on 127.0.0.1: ``port = unused_port()``."""
        return _unused_port

    @pytest.fixture
    def loop(self, berth_loop: asyncio.AbstractEventLoop) -> asyncio.AbstractEventLoop:
        """Deprecated: the test's event loop (use ``asyncio.get_running_loop()`` or
        ``berth_loop``)."""
        warnings.warn(
            "The 'loop' fixture is deprecated: in async tests and fixtures call "
            "asyncio.get_running_loop(); synchronous fixtures can use the 'berth_loop' fixture",
            DeprecationWarning,
            stacklevel=2,
        )
        return berth_loop

    @pytest.fixture
    def test_client(self, make_client: ClientFactory) -> ClientFactory:
        """Deprecated: the ``make_client`` fixture under its old name."""
        warnings.warn(
            "The 'test_client' fixture is deprecated: use the 'make_client' fixture "
            "(client = await make_client(app))",
            DeprecationWarning,
            stacklevel=2,
        )
        return make_client


def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures that could clash, unless aiohttp's plugin is loaded."""
    if not _aiohttp_plugin_loaded(config):
        config.pluginmanager.register(_ExtraFixtures(), "berth-extra-fixtures")
