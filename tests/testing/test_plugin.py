"""The pytest plugin, exercised in inner pytest runs (pytester)."""

from __future__ import annotations

import pytest

APP = """
from runtime import web

async def hello(request):
    return web.Response(text="hello " + request.match_info.get("name", "world"))

def create_app():
    app = web.Application()
    app.router.add_get("/", hello)
    app.router.add_get("/{name}", hello)
    return app

async def handler(request):
    return web.Response(text="raw " + request.path)
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:randomly", *args)


def test_async_tests_run_each_on_a_fresh_loop_closed_after(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio

        loops = []

        async def test_one():
            loops.append(asyncio.get_running_loop())

        async def test_two():
            loops.append(asyncio.get_running_loop())
            assert loops[0] is not loops[1]
            assert loops[0].is_closed()

        class TestInAClass:
            async def test_method(self):
                await asyncio.sleep(0)

        def test_sync_tests_are_untouched():
            assert loops[-1].is_closed()
        """
    )
    run(pytester).assert_outcomes(passed=4)


def test_failures_and_leftover_tasks(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio

        cancelled = []

        async def forever():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        async def test_fails():
            assert 1 == 2

        async def test_leaves_a_task():
            asyncio.get_running_loop().create_task(forever())
            await asyncio.sleep(0)

        def test_the_task_was_cancelled_at_teardown():
            assert cancelled == [True]
        """
    )
    run(pytester).assert_outcomes(passed=2, failed=1)


def test_async_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import asyncio
        import pytest

        events = []

        @pytest.fixture
        async def value():
            return asyncio.get_running_loop()

        @pytest.fixture
        async def resource(value):
            events.append("setup")
            yield "r"
            events.append("teardown")

        async def test_uses(value, resource):
            assert value is asyncio.get_running_loop()
            assert resource == "r"

        def test_sync_test_with_async_fixture(resource):
            assert resource == "r"

        def test_teardowns_ran():
            assert events == ["setup", "teardown", "setup", "teardown"]

        class TestMethods:
            @pytest.fixture
            async def me(self):
                return self

            async def test_bound(self, me):
                assert me is self

        @pytest.fixture(scope="module")
        async def wide():
            return 1

        async def test_wide(wide):
            pass
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=4, errors=1)
    result.stdout.fnmatch_lines(["*async fixture 'wide' has scope 'module'*"])


def test_factories(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(
        """
        import pytest
        from runtime import web
        from runtime.testing.kit import TestServer, RawTestServer
        from app import create_app, handler

        sessions = []
        NAME = web.AppKey("name", str)

        async def test_app(make_client):
            client = await make_client(create_app())
            sessions.append(client.session)
            resp = await client.get("/")
            assert await resp.text() == "hello world"
            assert client.app is not None
            assert client.make_url("/x?y=1") == client.server.make_url("/x?y=1")
            assert str(client.make_url("/")).startswith(f"http://127.0.0.1:{client.port}")

        def test_clients_are_closed_after_the_test():
            assert sessions[0].closed

        async def test_app_factory(make_client):
            client = await make_client(create_app)
            async with client.get("/ann") as resp:
                assert await resp.text() == "hello ann"

        async def test_async_app_factory_with_arguments(make_client):
            async def factory(name):
                app = create_app()
                app[NAME] = name
                return app

            client = await make_client(factory, "x")
            assert client.app[NAME] == "x"

        async def test_handler(make_client):
            client = await make_client(handler)
            assert await (await client.get("/p")).text() == "raw /p"
            assert client.app is None

        async def test_servers(make_server, make_raw_server, make_client, unused_port):
            port = unused_port()
            server = await make_server(create_app(), port=port)
            assert server.port == port
            client = await make_client(server)
            assert await (await client.get("/")).text() == "hello world"
            raw = await make_raw_server(handler)
            client = await make_client(raw, headers={"X-A": "1"})
            assert await (await client.get("/q")).text() == "raw /q"

        async def test_kit_as_context_managers():
            async with TestServer(create_app()) as server:
                from runtime.testing.kit import TestClient
                async with TestClient(server) as client:
                    assert (await client.get("/")).status == 200
            assert server.closed

        async def test_bad_target(make_client):
            with pytest.raises(TypeError):
                await make_client(42)
        """
    )
    run(pytester).assert_outcomes(passed=8)


def test_sync_fixture_with_berth_loop(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(
        """
        import asyncio
        import pytest
        from app import create_app

        @pytest.fixture
        def cli(berth_loop, make_client):
            return berth_loop.run_until_complete(make_client(create_app()))

        async def test_it(cli, berth_loop):
            assert asyncio.get_running_loop() is berth_loop
            assert (await cli.get("/")).status == 200
        """
    )
    run(pytester).assert_outcomes(passed=1)


def test_old_fixture_names_warn(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(app=APP)
    pytester.makepyfile(
        """
        import asyncio
        from app import create_app

        async def test_old_style(test_client, loop):
            assert asyncio.get_running_loop() is loop
            client = await test_client(create_app)
            assert (await client.get("/")).status == 200
        """
    )
    result = run(pytester, "-W", "default::DeprecationWarning")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*DeprecationWarning: The 'test_client' fixture is deprecated: use the 'make_client'*",
            "*DeprecationWarning: The 'loop' fixture is deprecated*'berth_loop'*",
        ],
        consecutive=False,
    )


FAKE_ASYNCIO = """
import asyncio
import pytest

ran = []


class FakeAsyncio:
    '''Stands in for pytest-asyncio: registered as "asyncio", runs what it owns.'''

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem):
        mode = pyfuncitem.config.getini("asyncio_mode")
        marked = pyfuncitem.get_closest_marker("asyncio") is not None
        if asyncio.iscoroutinefunction(pyfuncitem.obj) and (marked or mode == "auto"):
            ran.append(pyfuncitem.name)
            args = {n: pyfuncitem.funcargs[n] for n in pyfuncitem._fixtureinfo.argnames}
            asyncio.run(pyfuncitem.obj(**args))
            return True
        return None


def pytest_addoption(parser):
    parser.addini("asyncio_mode", "fake", default="strict")


def pytest_configure(config):
    config.addinivalue_line("markers", "asyncio: owned by the fake plugin")
    config.pluginmanager.register(FakeAsyncio(), "asyncio")
"""

MIXED_TESTS = """
import pytest
from conftest import ran

@pytest.mark.asyncio
async def test_marked(request):
    assert "berth_loop" not in request.fixturenames

async def test_unmarked(request):
    assert ("berth_loop" in request.fixturenames) is BERTH_RUNS_UNMARKED

def test_who_ran():
    expected = ["test_marked"] + ([] if BERTH_RUNS_UNMARKED else ["test_unmarked"])
    assert ran == expected
"""


@pytest.mark.parametrize(("mode", "berth_runs_unmarked"), [("strict", True), ("auto", False)])
def test_steps_aside_for_pytest_asyncio(
    pytester: pytest.Pytester, mode: str, berth_runs_unmarked: bool
) -> None:
    pytester.makeconftest(FAKE_ASYNCIO)
    pytester.makeini(f"[pytest]\nasyncio_mode = {mode}\n")
    pytester.makepyfile(f"BERTH_RUNS_UNMARKED = {berth_runs_unmarked}\n" + MIXED_TESTS)
    run(pytester).assert_outcomes(passed=3)


def test_steps_aside_for_aiohttp_pytest_plugin(pytester: pytest.Pytester) -> None:
    pytest.importorskip("aiohttp")
    pytester.makepyfile(
        """
        import asyncio

        async def test_theirs(loop, request):
            assert "berth_loop" not in request.fixturenames
            assert asyncio.get_running_loop() is loop
        """
    )
    result = run(
        pytester,
        "-p",
        "aiohttp.pytest_plugin",
        "-W",
        "ignore::DeprecationWarning",
    )
    result.assert_outcomes(passed=1)
