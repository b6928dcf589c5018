"""The deprecation policy (docs/faq.md, "API stability and deprecation policy"): where
aiohttp 3.14 warns, Berth warns with the same category, and the message names the
replacement. One test per warning of docs/web-api.md's "Deprecated forms" table."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from runtime import web
from runtime.web.request import BaseRequest
from tests.web.support import ClientFactory, Probe, send

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def ok(request: web.Request) -> web.Response:
    return web.Response(text="ok")


# -- str keys: web.NotAppKeyWarning ----------------------------------------------------------


def test_a_str_key_on_an_application_warns_each_time_at_the_call_site() -> None:
    app = web.Application()
    for _ in range(2):
        with pytest.warns(web.NotAppKeyWarning) as record:
            app["db"] = "connection"
        (warning,) = record
        assert warning.filename == __file__
        message = str(warning.message)
        assert "web.AppKey" in message.splitlines()[0]  # what aiohttp's filters match
        assert "web_advanced.html#application-s-config" in message
    assert app["db"] == "connection"


async def test_a_str_key_on_a_request_warns_once_per_key(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        with pytest.warns(web.NotAppKeyWarning, match=r"web\.RequestKey") as record:
            request["test_deprecations_request_key_1"] = 1
        with pytest.warns(web.NotAppKeyWarning, match="request-s-storage"):
            request["test_deprecations_request_key_2"] = 2
        request["test_deprecations_request_key_1"] = 3  # seen: quiet (filterwarnings = error)
        request[web.RequestKey("typed", int)] = 4  # a typed key never warns
        return record[0].filename, len(request)

    _, (filename, size) = await probe(fn)
    assert (filename, size) == (__file__, 3)


def test_a_str_key_on_a_response_warns_once_per_key() -> None:
    response = web.StreamResponse()
    with pytest.warns(web.NotAppKeyWarning, match=r"web\.ResponseKey") as record:
        response["test_deprecations_response_key_1"] = 1
    assert record[0].filename == __file__
    with pytest.warns(web.NotAppKeyWarning, match="response-s-storage"):
        web.Response()["test_deprecations_response_key_2"] = 2
    response["test_deprecations_response_key_1"] = 3  # seen already: quiet
    response[web.ResponseKey("typed", int)] = 4
    assert len(response) == 2


def _stderr(*flags: str, code: str) -> str:
    run = subprocess.run(
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True
    )
    return run.stderr


def test_the_str_key_warning_is_shown_only_when_asked_for() -> None:
    # As aiohttp.web: importing runtime.web files it under "ignore", after any other filter.
    code = "from runtime import web\nweb.Application()['db'] = 1\n"
    assert _stderr(code=code) == ""
    assert "NotAppKeyWarning: Application key 'db' is a str" in _stderr("-W", "default", code=code)


# -- Application ------------------------------------------------------------------------------


def test_subclassing_application_warns_at_the_class_statement() -> None:
    with pytest.warns(DeprecationWarning, match=r"Subclassing web.Application \(Mine\)") as rec:

        class Mine(web.Application):
            pass

    assert rec[0].filename == __file__
    assert "RouteTableDef" in str(rec[0].message)


def test_the_router_argument_warns() -> None:
    router = web.UrlDispatcher()
    with pytest.warns(DeprecationWarning, match=r"router=.*deprecated.*app\.router"):
        app = web.Application(router=router)
    assert app.router is router


def test_the_debug_argument_and_property_warn() -> None:
    with pytest.warns(DeprecationWarning, match=r"debug=.*deprecated.*run_app"):
        app = web.Application(debug=True)
    with pytest.warns(DeprecationWarning, match="Application.debug is deprecated"):
        assert app.debug is True


async def test_the_loop_property_warns() -> None:
    app = web.Application()
    with pytest.warns(DeprecationWarning, match=r"get_running_loop"):
        assert app.loop is None  # not started yet, as in aiohttp
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        with pytest.warns(DeprecationWarning, match="Application.loop is deprecated"):
            assert app.loop is asyncio.get_running_loop()
    finally:
        await runner.cleanup()


async def test_make_handler_warns_and_still_makes_the_server() -> None:
    app = web.Application()
    with pytest.warns(DeprecationWarning, match=r"make_handler\(\) is deprecated.*AppRunner"):
        server = app.make_handler()
    assert isinstance(server, web.Server)


def test_a_custom_attribute_on_an_application_warns_in_development_mode() -> None:
    code = "from runtime import web\napp = web.Application()\napp.logger = app.logger\napp.db = 1\n"
    assert _stderr(code=code) == ""
    stderr = _stderr("-X", "dev", code=code)
    assert "DeprecationWarning: Setting a custom web.Application.db attribute" in stderr
    assert "logger" not in stderr  # the application's own attributes never warn


# -- middlewares --------------------------------------------------------------------------------


async def test_an_old_style_middleware_factory_warns_and_runs_as_aiohttp_runs_it(
    make_client: ClientFactory,
) -> None:
    seen: list[object] = []

    async def factory(app: web.Application, handler: Handler) -> Handler:
        seen.append(app)

        async def tag(request: web.Request) -> web.StreamResponse:
            response = await handler(request)
            response.headers["X-Old-Style"] = "yes"
            return response

        return tag

    app = web.Application(middlewares=[factory])
    app.router.add_get("/", ok)
    with pytest.warns(DeprecationWarning, match=r"old-style middleware .*factory.*@web\.middle"):
        client = await make_client(app)
    for _ in range(2):
        reply = await send(client, "GET", "/")
        assert (reply.status, reply.text, reply.headers["X-Old-Style"]) == (200, "ok", "yes")
    assert seen == [app, app]  # asked for its handler on every request, as in aiohttp


async def test_an_old_style_middleware_object_in_a_sub_app_gets_the_sub_app(
    make_client: ClientFactory,
) -> None:
    class Factory:
        def __init__(self) -> None:
            self.apps: list[web.Application] = []

        async def __call__(self, app: web.Application, handler: Handler) -> Handler:
            self.apps.append(app)
            return handler

    factory = Factory()
    root, sub = web.Application(), web.Application(middlewares=[factory])
    sub.router.add_get("/", ok)
    with pytest.warns(DeprecationWarning, match="old-style middleware <.*Factory object"):
        root.add_subapp("/sub", sub)  # nesting freezes the sub-app's middlewares
    client = await make_client(root)
    assert (await send(client, "GET", "/sub/")).text == "ok"
    assert factory.apps == [sub]


# -- handlers, requests and responses ---------------------------------------------------------


async def test_returning_an_http_exception_warns_and_still_answers(
    make_client: ClientFactory,
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.HTTPForbidden()

    app = web.Application()
    app.router.add_get("/", handler)
    client = await make_client(app)
    with pytest.warns(DeprecationWarning, match=r"HTTPForbidden.*raise web\.HTTPForbidden"):
        reply = await send(client, "GET", "/")
    assert reply.status == 403


async def test_has_body_message_and_loop_warn_on_a_request(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        with pytest.warns(DeprecationWarning, match="use request.can_read_body"):
            before = request.has_body
        await request.read()
        with pytest.warns(DeprecationWarning, match="use request.can_read_body"):
            after = request.has_body  # what can_read_body says, as in aiohttp
        with pytest.warns(DeprecationWarning, match=r"Request.message.*request.method"):
            method = request.message.method
        with pytest.warns(DeprecationWarning, match=r"Request.loop.*get_running_loop"):
            loop = request.loop
        return before, after, method, loop is asyncio.get_running_loop()

    _, got = await probe(fn, "POST", data=b"body")
    assert got == (True, False, "POST", True)


async def test_drain_output_length_and_chunk_size_warn_on_a_response(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        response = web.StreamResponse()
        with pytest.warns(DeprecationWarning, match=r"chunk_size=.*deprecated and ignored"):
            response.enable_chunked_encoding(chunk_size=8192)
        await response.prepare(request)
        await response.write(b"data")
        with pytest.warns(
            DeprecationWarning, match=r"^drain method is deprecated, use await resp\.write\(\)$"
        ):
            await response.drain()
        with pytest.warns(DeprecationWarning, match="output_length is deprecated.*body_length"):
            written = response.output_length
        await response.write_eof()
        return written > 0 and written == response.body_length

    _, got = await probe(fn)
    assert got is True


def test_enable_compression_with_a_bool_warns() -> None:
    with pytest.warns(DeprecationWarning, match=r"force=True/False.*ContentCoding"):
        web.StreamResponse().enable_compression(force=True)


def test_a_body_on_an_http_exception_warns_at_the_call_site() -> None:
    match = r"^body argument is deprecated for http web exceptions: pass HTTPFound\(text="
    with pytest.warns(DeprecationWarning, match=match) as rec:
        web.HTTPFound("/next", body=b"moved")
    assert rec[0].filename == __file__


async def test_a_site_shutdown_timeout_warns_and_reaches_the_runner() -> None:
    runner = web.AppRunner(web.Application())
    await runner.setup()
    try:
        with pytest.warns(DeprecationWarning, match=r"shutdown_timeout.*AppRunner\(app") as rec:
            web.TCPSite(runner, "127.0.0.1", 0, shutdown_timeout=3.0)
        assert rec[0].filename == __file__
        assert runner._shutdown_timeout == 3.0
    finally:
        await runner.cleanup()
