"""Application: shared state, typed keys, signals, cleanup contexts, freezing, nesting."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from examples import route_decorator
from runtime import web
from runtime.testing import make_mocked_request
from tests.web.support import ClientFactory, ServerFactory, send

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NAME = web.AppKey("name", str)
SHARED = web.AppKey("shared", str)
RESOURCE = web.AppKey("resource", str)
LISTENER: web.AppKey[asyncio.Task[None]] = web.AppKey("listener")
UNIQUE = web.RequestKey("unique_key", str)


# -- the FAQ's answers (docs/faq.md) -----------------------------------------------------------


class FakeCursor:
    async def execute(self, sql: str) -> None:
        self.sql = sql


class FakeDb:
    async def cursor(self) -> FakeCursor:
        return FakeCursor()


async def create_connection(user: str, password: str) -> FakeDb:
    return FakeDb()


DB = web.AppKey("DB", FakeDb)


async def test_faq_where_to_put_the_database_connection(make_client: ClientFactory) -> None:
    # docs/faq.md's answer: no loop argument, the factory is a coroutine.
    async def go(request: web.Request) -> web.Response:
        db = request.app[DB]
        cursor = await db.cursor()
        await cursor.execute("SELECT 42")
        return web.Response(status=200, text="ok")

    async def init_app() -> web.Application:
        app = web.Application()
        db = await create_connection(user="user", password="123")
        app[DB] = db
        app.router.add_get("/", go)
        return app

    client = await make_client(await init_app())
    reply = await send(client, "GET", "/")
    assert (reply.status, reply.body) == (200, b"ok")


async def test_faq_middleware_stashes_data_on_the_request(make_client: ClientFactory) -> None:
    @web.middleware
    async def stash(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[UNIQUE] = "data from the middleware"
        return await handler(request)

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request[UNIQUE])

    app = web.Application(middlewares=[stash])
    app.router.add_get("/", handler)
    client = await make_client(app)
    reply = await send(client, "GET", "/")
    assert reply.body == b"data from the middleware"


def test_old_style_loop_argument_still_works_but_warns() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.warns(DeprecationWarning, match="loop=.*deprecated.*Drop the argument"):
            app = web.Application(loop=loop)
        db = web.AppKey("db", str)
        app[db] = "connection"
        assert app[db] == "connection"
    finally:
        loop.close()


# Names aiohttp.web exports that Berth leaves out on purpose (docs/web-api.md says why).
NOT_EXPORTED = {"NamedPipeSite", "PayloadAccessError", "RequestHandler"}


def test_every_aiohttp_web_name_is_exported() -> None:
    aiohttp_web = pytest.importorskip("aiohttp.web")
    missing = {name for name in aiohttp_web.__all__ if not hasattr(web, name)}
    assert missing <= NOT_EXPORTED, sorted(missing - NOT_EXPORTED)


# -- typed keys -----------------------------------------------------------------------------


def test_app_key_is_typed_for_mypy(tmp_path: Path) -> None:
    source = textwrap.dedent(
        """
        from runtime import web

        class Database: ...

        DB = web.AppKey("DB", Database)
        app = web.Application()
        app[DB] = Database()
        db: Database = app[DB]
        reveal_type(app[DB])
        app[DB] = "not a database"

        USER = web.RequestKey("user", str)
        TIMING = web.ResponseKey("timing", float)

        async def handler(request: web.Request) -> web.Response:
            request[USER] = "ada"
            reveal_type(request[USER])
            response = web.Response()
            response[TIMING] = 0.5
            reveal_type(response[TIMING])
            return response
        """
    )
    sample = tmp_path / "sample.py"
    sample.write_text(source)
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(sample)],
        capture_output=True,
        text=True,
    )
    assert 'Revealed type is "sample.Database"' in result.stdout
    assert 'Revealed type is "str"' in result.stdout
    assert 'Revealed type is "float"' in result.stdout
    # Storing a str under a Database key is the one error.
    assert result.stdout.count("error:") == 1
    assert "sample.py:11: error:" in result.stdout


# -- signals and cleanup contexts -----------------------------------------------------------


async def test_signals_and_cleanup_ctx_run_in_order(make_client: ClientFactory) -> None:
    events: list[str] = []

    async def on_startup(app: web.Application) -> None:
        events.append("startup")

    async def on_shutdown(app: web.Application) -> None:
        events.append("shutdown")

    async def on_cleanup(app: web.Application) -> None:
        events.append("cleanup")

    async def resource(app: web.Application) -> AsyncIterator[None]:
        events.append("ctx enter")
        app[RESOURCE] = "open"  # startup hooks may set state
        yield
        events.append("ctx exit")

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request.app[RESOURCE])

    app = web.Application()
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    app.cleanup_ctx.append(resource)
    app.router.add_get("/", handler)
    client = await make_client(app)
    assert (await send(client, "GET", "/")).body == b"open"
    assert events == ["ctx enter", "startup"]
    await client.close()
    assert events == ["ctx enter", "startup", "shutdown", "ctx exit", "cleanup"]


async def test_startup_failure_stops_the_server_with_a_clear_message(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(app: web.Application) -> None:
        raise ConnectionRefusedError("database is down")

    app = web.Application()
    app.on_startup.append(broken)
    with pytest.raises(ConnectionRefusedError, match="database is down"):
        await make_server(app)
    assert "Application startup failed" in caplog.text
    assert "database is down" in caplog.text


async def test_cleanup_errors_are_collected() -> None:
    async def broken_a(app: web.Application) -> AsyncIterator[None]:
        yield
        raise RuntimeError("a")

    async def broken_b(app: web.Application) -> AsyncIterator[None]:
        yield
        raise RuntimeError("b")

    app = web.Application()
    app.cleanup_ctx.extend([broken_a, broken_b])
    runner = web.AppRunner(app)
    await runner.setup()
    with pytest.raises(web.CleanupError) as info:
        await runner.cleanup()
    assert [str(e) for e in info.value.exceptions] == ["b", "a"]


async def test_cleanup_ctx_takes_asynccontextmanager_entries(make_client: ClientFactory) -> None:
    # aiohttp's background_tasks example: a task started on entry, cancelled on exit.
    events: list[str] = []

    async def listen(app: web.Application) -> None:
        events.append("listening")
        await asyncio.Event().wait()

    @contextlib.asynccontextmanager
    async def background_tasks(app: web.Application) -> AsyncIterator[None]:
        app[LISTENER] = asyncio.create_task(listen(app))
        yield
        app[LISTENER].cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await app[LISTENER]
        events.append("cancelled")

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=str(request.app[LISTENER].done()))

    app = web.Application()
    app.cleanup_ctx.append(background_tasks)
    app.router.add_get("/", handler)
    client = await make_client(app)
    assert (await send(client, "GET", "/")).body == b"False"
    assert events == ["listening"]
    await client.close()
    assert events == ["listening", "cancelled"]


async def test_cleanup_errors_from_context_managers_and_generators_are_collected() -> None:
    # What aiohttp 3.14 raises: one CleanupError listing every exit's failure, last entry
    # first, CancelledError included.
    @contextlib.asynccontextmanager
    async def broken_cm(app: web.Application) -> AsyncIterator[None]:
        yield
        raise RuntimeError("cm")

    async def cancelled(app: web.Application) -> AsyncIterator[None]:
        yield
        raise asyncio.CancelledError()

    @contextlib.asynccontextmanager
    async def two_yields(app: web.Application) -> AsyncIterator[None]:
        yield
        yield

    app = web.Application()
    app.cleanup_ctx.extend([broken_cm, cancelled, two_yields])
    runner = web.AppRunner(app)
    await runner.setup()
    with pytest.raises(web.CleanupError) as info:
        await runner.cleanup()
    errors = info.value.exceptions
    assert [type(e) for e in errors] == [RuntimeError, asyncio.CancelledError, RuntimeError]
    assert str(errors[0]) == "generator didn't stop"
    assert str(errors[2]) == "cm"


async def test_a_cleanup_ctx_entry_of_another_kind_fails_startup_clearly() -> None:
    async def not_a_generator(app: web.Application) -> None:
        return None

    app = web.Application()
    app.cleanup_ctx.append(not_a_generator)  # type: ignore[arg-type]
    runner = web.AppRunner(app)
    with pytest.raises(TypeError, match="async generator with one 'yield'"):
        await runner.setup()
    await runner.cleanup()


async def test_on_response_prepare_sees_every_response(make_client: ClientFactory) -> None:
    async def stamp(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Stamp"] = request.path

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.on_response_prepare.append(stamp)
    app.router.add_get("/", handler)
    client = await make_client(app)
    assert (await send(client, "GET", "/")).headers["x-stamp"] == "/"
    assert (await send(client, "GET", "/missing")).headers["x-stamp"] == "/missing"


async def test_a_sub_applications_prepare_receivers_see_its_responses(
    make_client: ClientFactory,
) -> None:
    """Whether any app on the route has receivers is read once the signals are frozen: a
    receiver on the sub-application alone still runs, and only for its routes."""

    async def stamp(request: web.Request, response: web.StreamResponse) -> None:
        response.headers["X-Stamp"] = "sub"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    sub = web.Application()
    sub.on_response_prepare.append(stamp)
    sub.router.add_get("/x", handler)
    app = web.Application()
    app.router.add_get("/", handler)
    app.add_subapp("/sub", sub)
    client = await make_client(app)
    assert (await send(client, "GET", "/sub/x")).headers["x-stamp"] == "sub"
    assert "x-stamp" not in (await send(client, "GET", "/")).headers
    with pytest.raises(RuntimeError, match="frozen"):
        sub.on_response_prepare.append(stamp)


def test_an_unfrozen_apps_receivers_count_for_a_mocked_request() -> None:
    async def stamp(request: web.Request, response: web.StreamResponse) -> None:
        pass

    app = web.Application()
    app.on_response_prepare.append(stamp)
    request = make_mocked_request("GET", "/", app=app)
    assert request._needs_prepare_hook()


# -- freezing -------------------------------------------------------------------------------


async def test_started_app_refuses_changes_with_a_reason(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_get("/", handler)
    await make_client(app)  # starting the app freezes it
    with pytest.raises(RuntimeError, match="frozen"):
        app.router.add_get("/late", handler)
    with pytest.raises(RuntimeError, match="Cannot modify middlewares.*frozen"):
        app.middlewares.append(web.normalize_path_middleware())
    with pytest.raises(RuntimeError, match="Cannot modify on_startup.*frozen"):
        app.on_startup.append(lambda app: None)
    with pytest.raises(RuntimeError, match="Cannot add a sub-application.*frozen"):
        app.add_subapp("/sub", web.Application())
    with pytest.warns(DeprecationWarning, match="Changing state of a started"):
        app[NAME] = "late"


# -- sub-applications -----------------------------------------------------------------------


async def test_subapp_middlewares_run_after_the_parents_and_only_for_its_routes(
    make_client: ClientFactory,
) -> None:
    trail: list[str] = []

    def tracer(name: str) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def mw(request: web.Request, handler: Handler) -> web.StreamResponse:
            trail.append(f"{name}:{request.app[NAME]}")
            return await handler(request)

        return mw

    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=f"{request.app[NAME]} {request.config_dict[SHARED]}")

    root = web.Application(middlewares=[tracer("root")])
    root[NAME] = "root"
    root[SHARED] = "from root"
    root.router.add_get("/", handler)
    admin = web.Application(middlewares=[tracer("admin")])
    admin[NAME] = "admin"
    admin.router.add_get("/panel", handler)
    root.add_subapp("/admin/", admin)
    client = await make_client(root)
    reply = await send(client, "GET", "/admin/panel")
    assert reply.body == b"admin from root"  # config_dict looks up through the chain
    assert trail == ["root:root", "admin:admin"]  # each app's middlewares see their app
    trail.clear()
    assert (await send(client, "GET", "/")).body == b"root from root"
    assert trail == ["root:root"]


async def test_subapp_signals_run_with_the_parent(make_client: ClientFactory) -> None:
    events: list[str] = []

    async def sub_startup(app: web.Application) -> None:
        events.append(f"startup {app[NAME]}")

    async def sub_cleanup(app: web.Application) -> None:
        events.append(f"cleanup {app[NAME]}")

    sub = web.Application()
    sub[NAME] = "sub"
    sub.on_startup.append(sub_startup)
    sub.on_cleanup.append(sub_cleanup)
    root = web.Application()
    root.add_subapp("/sub", sub)
    client = await make_client(root)
    assert events == ["startup sub"]
    await client.close()
    assert events == ["startup sub", "cleanup sub"]


async def test_add_domain_routes_by_host(make_client: ClientFactory) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=request.app[NAME])

    root = web.Application()
    root[NAME] = "root"
    root.router.add_get("/", handler)
    api = web.Application()
    api[NAME] = "api"
    api.router.add_get("/", handler)
    root.add_domain("*.example.com", api)
    client = await make_client(root)
    assert (await send(client, "GET", "/", {"Host": "v1.example.com"})).body == b"api"
    assert (await send(client, "GET", "/", {"Host": "other.org"})).body == b"root"


def test_subapp_cannot_be_nested_twice() -> None:
    sub = web.Application()
    web.Application().add_subapp("/a", sub)
    with pytest.raises(RuntimeError, match="already frozen or nested"):
        web.Application().add_subapp("/b", sub)


async def test_the_route_decorator_example(make_client: ClientFactory) -> None:
    client = await make_client(route_decorator.create_app)
    assert (await send(client, "GET", "/")).text == "Hello from a decorated route"
    stored = await client.put("/items/pen")
    assert (stored.status, await stored.json()) == (201, {"stored": "pen"})
