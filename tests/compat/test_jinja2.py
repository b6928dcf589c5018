"""aiohttp-jinja2, the real extension, on Berth in the compatibility mode: templates on
functions and on class-based views, a sub-application's context over its parent's, and
render_template from a handler."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .mode_support import compat_mode

# aiohttp-jinja2 1.6 keeps its request context under a str key, which aiohttp 3.14 warns
# about as Berth does.
pytestmark = pytest.mark.filterwarnings("ignore::runtime.web.NotAppKeyWarning")


@pytest.fixture
def ported() -> Iterator[Any]:
    """The untouched aiohttp application module, imported under the mode."""
    with compat_mode():
        from tests.compat.apps import ported

        yield ported


async def test_template_on_a_function_and_on_a_view(ported: Any, make_client: Any) -> None:
    client = await make_client(ported.create_app())
    response = await client.get("/page")
    assert response.status == 200
    assert response.content_type == "text/html"
    assert await response.text() == "<h1>root</h1><p>root of berth at /page</p>"
    response = await client.get("/view")
    assert response.status == 200
    assert await response.text() == "<h1>view</h1><p>root of berth at /view</p>"


async def test_a_sub_apps_context_over_its_parents(ported: Any, make_client: Any) -> None:
    client = await make_client(ported.create_app())
    response = await client.get("/sub/page")
    assert await response.text() == "<h1>root</h1><p>sub of berth at /sub/page</p>"
    response = await client.get("/sub/view")
    assert await response.text() == "<h1>view</h1><p>sub of berth at /sub/view</p>"


def test_a_view_is_an_aiohttp_abstract_view(ported: Any) -> None:
    import aiohttp.abc

    from runtime import web
    from runtime.testing import make_mocked_request

    view = ported.PageView(make_mocked_request("GET", "/view"))
    assert isinstance(view, aiohttp.abc.AbstractView)
    assert issubclass(web.View, aiohttp.abc.AbstractView)


async def test_render_template_in_a_plain_handler(make_client: Any) -> None:
    with compat_mode():
        import aiohttp_jinja2
        import jinja2
        from aiohttp import web

        async def hello(request: web.Request) -> web.Response:
            return aiohttp_jinja2.render_template("hi.txt", request, {"name": "Ann"})

        app = web.Application()
        aiohttp_jinja2.setup(app, loader=jinja2.DictLoader({"hi.txt": "hi {{ name }}"}))
        app.router.add_get("/", hello)
        client = await make_client(app)
        response = await client.get("/")
        assert await response.text() == "hi Ann"
