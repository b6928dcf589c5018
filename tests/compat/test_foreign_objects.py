"""aiohttp's own objects handed to Berth without the compatibility mode (an extension that
imported aiohttp first): its HTTP exceptions answer with their status, its typed keys are
keys."""

from __future__ import annotations

import warnings

import aiohttp.web as aio_web
import pytest

from runtime import web
from runtime.web.foreign import as_http_exception


async def test_aiohttps_method_not_allowed_gets_its_405(make_client) -> None:
    async def handler(request: web.Request) -> web.Response:
        raise aio_web.HTTPMethodNotAllowed(request.method, ["POST", "PUT"])

    app = web.Application()
    app.router.add_get("/", handler)
    client = await make_client(app)
    response = await client.get("/")
    assert response.status == 405
    assert response.headers["Allow"] == "POST,PUT"
    assert await response.text() == "405: Method Not Allowed"


async def test_aiohttps_redirect_and_text_go_through(make_client) -> None:
    async def moved(request: web.Request) -> web.Response:
        raise aio_web.HTTPFound("/elsewhere", headers={"X-Why": "moved"})

    async def refused(request: web.Request) -> web.Response:
        raise aio_web.HTTPForbidden(text="not you", content_type="text/html")

    app = web.Application()
    app.router.add_get("/moved", moved)
    app.router.add_get("/refused", refused)
    client = await make_client(app)
    response = await client.get("/moved", allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/elsewhere"
    assert response.headers["X-Why"] == "moved"
    response = await client.get("/refused")
    assert response.status == 403
    assert response.content_type == "text/html"
    assert await response.text() == "not you"


def test_the_conversion_keeps_class_and_attributes() -> None:
    converted = as_http_exception(aio_web.HTTPMethodNotAllowed("get", ["POST"]))
    assert isinstance(converted, web.HTTPMethodNotAllowed)
    assert converted.method == "GET"
    assert converted.allowed_methods == {"POST"}
    legal = as_http_exception(aio_web.HTTPUnavailableForLegalReasons("https://law.example"))
    assert isinstance(legal, web.HTTPUnavailableForLegalReasons)
    assert str(legal.link) == "https://law.example"
    assert as_http_exception(ValueError()) is None
    assert as_http_exception(web.HTTPNotFound()) is None


def test_an_aiohttp_app_key_is_a_key() -> None:
    key = aio_web.AppKey("env", str)
    app = web.Application()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        app[key] = "jinja"
    assert app[key] == "jinja"
    assert app.get(key) == "jinja"
    with pytest.raises(TypeError, match="Application keys are str or AppKey"):
        app[3] = "x"  # type: ignore[index] # other keys are still refused


def test_aiohttp_request_and_response_keys_do_not_warn() -> None:
    from runtime.testing import make_mocked_request

    request = make_mocked_request("GET", "/")
    response = web.Response()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        request[aio_web.RequestKey("user", str)] = "ann"
        response[aio_web.ResponseKey("timing", float)] = 1.0
