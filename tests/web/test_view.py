"""Class-based views, unit level: dispatch by method, 405 with the allowed list."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from runtime import web
from runtime.web.routing.view import METH_ALL, AbstractView
from tests.web.routing_support import make_request, resolve


class Article(web.View):
    async def get(self) -> web.StreamResponse:
        return web.Response(text=f"get {self.request.path}")

    async def put(self) -> web.StreamResponse:
        return web.Response(text="put")


async def test_view_dispatches_on_the_method() -> None:
    assert (await Article(make_request("GET", "/a"))).text == "get /a"
    assert (await Article(make_request("PUT", "/a"))).text == "put"


async def test_missing_method_is_405_with_the_allowed_methods() -> None:
    with pytest.raises(web.HTTPMethodNotAllowed) as exc_info:
        await Article(make_request("DELETE", "/a"))
    assert exc_info.value.allowed_methods == {"GET", "PUT"}
    assert exc_info.value.headers["Allow"] == "GET,PUT"


async def test_unknown_method_is_405_even_if_an_attribute_has_its_name() -> None:
    class Odd(web.View):
        async def propfind(self) -> web.StreamResponse:
            return web.Response()

    assert "PROPFIND" not in METH_ALL
    with pytest.raises(web.HTTPMethodNotAllowed) as exc_info:
        await Odd(make_request("PROPFIND", "/"))
    assert exc_info.value.allowed_methods == set()


def test_view_keeps_the_request() -> None:
    request = make_request("GET", "/")
    assert Article(request).request is request


async def test_view_classes_are_accepted_as_handlers() -> None:
    router = web.UrlDispatcher()
    router.add_view("/a", Article)
    router.add_get("/b", Article)
    info = await resolve(router, "PUT", "/a")
    assert info.route.method == "*"
    assert info.handler is Article
    assert (await info.handler(make_request("PUT", "/a"))).text == "put"
    assert (await resolve(router, "HEAD", "/b")).handler is Article


async def test_any_abstract_view_subclass_is_a_handler() -> None:
    class Custom(AbstractView):
        def __await__(self) -> Generator[Any, None, web.StreamResponse]:
            return self._respond().__await__()

        async def _respond(self) -> web.StreamResponse:
            return web.Response(text="custom")

    router = web.UrlDispatcher()
    router.add_route("*", "/", Custom)
    info = await resolve(router, "GET", "/")
    assert (await info.handler(make_request("GET", "/"))).text == "custom"
