"""runtime.compat.aiohttp: aiohttp's server-side modules resolve to Berth's objects, the
client stays aiohttp's, and the mode comes and goes cleanly."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator

import pytest

from runtime import testing, web
from runtime.compat import aiohttp as compat_aiohttp

from .mode_support import compat_mode


@pytest.fixture
def mode() -> Iterator[None]:
    with compat_mode():
        yield


def test_web_modules_are_berths(mode: None) -> None:
    from aiohttp import web as aio_web
    from aiohttp.web_exceptions import HTTPMethodNotAllowed
    from aiohttp.web_request import Request
    from aiohttp.web_urldispatcher import UrlDispatcher

    assert aio_web.Application is web.Application
    assert aio_web.View is web.View
    assert HTTPMethodNotAllowed is web.HTTPMethodNotAllowed
    assert Request is web.Request
    assert UrlDispatcher is web.UrlDispatcher
    for name in ("web_app", "web_response", "web_routedef", "web_ws", "web_fileresponse"):
        assert importlib.import_module(f"aiohttp.{name}").Response is web.Response


def test_test_utils_serve_berth_and_talk_aiohttp(mode: None) -> None:
    from aiohttp.test_utils import RawTestServer, TestClient, TestServer

    from runtime.compat.test_client import AiohttpTestClient

    assert TestServer is testing.TestServer
    assert RawTestServer is testing.RawTestServer
    assert TestClient is AiohttpTestClient  # on aiohttp's ClientSession


def test_client_stays_aiohttps(mode: None) -> None:
    import aiohttp
    import aiohttp.client

    assert aiohttp.ClientSession is aiohttp.client.ClientSession
    assert aiohttp.ClientSession.__module__ == "aiohttp.client"


def test_install_is_idempotent_and_uninstall_restores(mode: None) -> None:
    import aiohttp.web

    substitute = sys.modules["aiohttp.web"]
    compat_aiohttp.install()
    import aiohttp.web as again

    assert again is substitute is aiohttp.web
    compat_aiohttp.uninstall()
    assert not compat_aiohttp.installed()
    from aiohttp import web as aio_web

    assert aio_web.Application is not web.Application
    assert aio_web.Application.__module__ == "aiohttp.web_app"
    compat_aiohttp.install()  # what the fixture's exit undoes


def test_a_missing_name_says_so(mode: None) -> None:
    import aiohttp.web_urldispatcher

    with pytest.raises(AttributeError, match="compatibility mode"):
        aiohttp.web_urldispatcher.NoSuchThing  # noqa: B018


def test_views_are_aiohttp_abstract_views_while_installed() -> None:
    import aiohttp.abc

    with compat_mode():
        assert issubclass(web.View, aiohttp.abc.AbstractView)
    assert not issubclass(web.View, aiohttp.abc.AbstractView)


def test_server_side_names_in_shared_modules_are_patched_then_restored() -> None:
    import aiohttp.abc
    import aiohttp.typedefs

    own_logger, own_handler = aiohttp.abc.AbstractAccessLogger, aiohttp.typedefs.Handler
    with compat_mode():
        assert aiohttp.abc.AbstractAccessLogger is web.AbstractAccessLogger
        assert aiohttp.typedefs.Handler is not own_handler
        from aiohttp.typedefs import Middleware
        from aiohttp.web_middlewares import Handler

        assert aiohttp.typedefs.Handler is Handler
        assert Middleware is aiohttp.typedefs.Middleware
    assert aiohttp.abc.AbstractAccessLogger is own_logger
    assert aiohttp.typedefs.Handler is own_handler


def test_warnings_and_mocked_requests_are_berths(mode: None) -> None:
    from aiohttp.test_utils import make_mocked_coro, make_mocked_request
    from aiohttp.web_exceptions import NotAppKeyWarning

    assert NotAppKeyWarning is web.NotAppKeyWarning  # so aiohttp's warning filters match
    assert make_mocked_request is testing.make_mocked_request
    assert make_mocked_coro is testing.make_mocked_coro
    assert isinstance(make_mocked_request("GET", "/"), web.Request)


def test_the_pytest_plugins_names(mode: None) -> None:
    import aiohttp.pytest_plugin

    assert {"aiohttp_client", "aiohttp_server", "aiohttp_raw_server"} <= set(
        dir(aiohttp.pytest_plugin)
    )
    from aiohttp.pytest_plugin import AiohttpClient

    from runtime.compat.test_client import AiohttpTestClient

    assert AiohttpClient.__args__[-1].__args__ == (AiohttpTestClient,)  # type: ignore[attr-defined]


def test_every_listed_name_resolves(mode: None) -> None:
    from runtime.compat import modules

    for name in modules.SERVER_MODULES:
        module = importlib.import_module(name)
        for attribute in module.__all__:
            assert getattr(module, attribute) is not None, (name, attribute)
