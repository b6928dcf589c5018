"""``@middleware`` and ``normalize_path_middleware``, including its same-host guarantee."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from runtime import web
from tests.support import fetch
from tests.web.routing_support import make_request
from tests.web.support import ServerFactory

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def handler(request: web.Request) -> web.StreamResponse:
    return web.Response(text=f"handled {request.path}")


def _app(*paths: str, **options: object) -> web.Application:
    app = web.Application(middlewares=[web.normalize_path_middleware(**options)])  # type: ignore[arg-type]
    for path in paths:
        app.router.add_route("*", path, handler)
    app.freeze()
    return app


async def _location(app: web.Application, target: str, method: str = "GET") -> str:
    with pytest.raises(web.HTTPRedirection) as exc_info:
        await app._handle(make_request(method, target))
    return exc_info.value.headers["Location"]


def test_middleware_marks_and_returns_the_function() -> None:
    async def mw(request: web.Request, handler: object) -> web.StreamResponse:
        raise AssertionError

    assert web.middleware(mw) is mw
    assert mw.__middleware_version__ == 1  # type: ignore[attr-defined]


async def test_the_chain_passes_the_next_handler_by_keyword_as_aiohttp_does() -> None:
    """aiohttp calls ``mw(request, handler=next)``: a middleware whose ``handler`` is
    keyword-only works, and the ``handler`` it gets looks like the handler it wraps."""
    seen: list[object] = []

    @web.middleware
    async def outer(request: web.Request, *, handler: Handler) -> web.StreamResponse:
        seen.append(handler)
        return await handler(request)

    @web.middleware
    async def inner(request: web.Request, *, handler: Handler) -> web.StreamResponse:
        response = await handler(request)
        response.headers["X-Inner"] = "1"
        return response

    app = web.Application(middlewares=[outer, inner])
    app.router.add_get("/a", handler)
    app.freeze()
    response = await app._handle(make_request("GET", "/a"))
    assert isinstance(response, web.Response)
    assert response.text == "handled /a" and response.headers["X-Inner"] == "1"
    (next_handler,) = seen
    assert next_handler.__name__ == "handler"  # type: ignore[attr-defined]
    assert next_handler.__wrapped__ is handler  # type: ignore[attr-defined]


def test_append_and_remove_together_are_refused() -> None:
    with pytest.raises(ValueError, match="both"):
        web.normalize_path_middleware(append_slash=True, remove_slash=True)


async def test_appends_a_slash_and_keeps_the_query() -> None:
    app = _app("/a/")
    assert await _location(app, "/a?x=1&y=%20") == "/a/?x=1&y=%20"


async def test_redirect_is_permanent_and_keeps_the_method_by_default() -> None:
    app = _app("/a/")
    with pytest.raises(web.HTTPPermanentRedirect) as exc_info:
        await app._handle(make_request("POST", "/a"))
    assert exc_info.value.status == 308


async def test_merges_slashes() -> None:
    assert await _location(_app("/a/b"), "//a///b") == "/a/b"


async def test_merges_slashes_and_appends_one() -> None:
    assert await _location(_app("/a/b/"), "//a//b") == "/a/b/"


async def test_removes_a_slash() -> None:
    app = _app("/a", append_slash=False, remove_slash=True)
    assert await _location(app, "/a/") == "/a"


async def test_merges_and_removes() -> None:
    app = _app("/a/b", append_slash=False, remove_slash=True)
    assert await _location(app, "/a//b//") == "/a/b"


async def test_custom_redirect_class() -> None:
    app = _app("/a/", redirect_class=web.HTTPMovedPermanently)
    with pytest.raises(web.HTTPMovedPermanently):
        await app._handle(make_request("GET", "/a"))


async def test_no_redirect_when_no_candidate_resolves() -> None:
    app = _app("/a/")
    with pytest.raises(web.HTTPNotFound):
        await app._handle(make_request("GET", "/b"))


async def test_no_redirect_when_the_path_matches() -> None:
    app = _app("/a", "/a/")
    response = await app._handle(make_request("GET", "/a"))
    assert response.text == "handled /a"


async def test_handler_raised_404_is_not_redirected() -> None:
    async def missing(request: web.Request) -> web.StreamResponse:
        raise web.HTTPNotFound()

    app = web.Application(middlewares=[web.normalize_path_middleware()])
    app.router.add_get("/a", missing)
    app.router.add_get("/a/", handler)
    app.freeze()
    with pytest.raises(web.HTTPNotFound):
        await app._handle(make_request("GET", "/a"))


async def test_works_inside_a_sub_application() -> None:
    app = web.Application()
    sub = web.Application(middlewares=[web.normalize_path_middleware()])
    sub.router.add_get("/x/", handler)
    app.add_subapp("/sub", sub)
    app.freeze()
    assert await _location(app, "/sub/x") == "/sub/x/"


# -- never another host -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "options", "expected"),
    [
        ("//evil.com/", {}, "/evil.com/"),
        ("///evil.com", {}, "/evil.com/"),
        ("//evil.com", {"merge_slashes": False}, "/evil.com/"),
        ("///evil.com//", {"append_slash": False, "remove_slash": True}, "/evil.com/"),
        ("/\\evil.com", {}, "/evil.com/"),
        ("/\\/evil.com", {"merge_slashes": False}, "/evil.com/"),
        ("/%5Cevil.com", {}, "/%5Cevil.com/"),
        ("//evil.com/?next=//x", {}, "/evil.com/?next=//x"),
    ],
)
async def test_redirect_never_leaves_the_host(
    target: str, options: dict[str, bool], expected: str
) -> None:
    app = _app("/evil.com/", "/\\evil.com/", **options)
    location = await _location(app, target)
    assert location == expected
    assert location.startswith("/")
    assert location[1:2] not in ("/", "\\")


@pytest.mark.parametrize("target", ["//evil.com", "///evil.com", "//evil.com//"])
async def test_redirect_through_a_pattern_never_leaves_the_host(target: str) -> None:
    app = _app("/{name}/")
    location = await _location(app, target)
    assert location == "/evil.com/"


async def test_same_host_over_the_wire(make_server: ServerFactory) -> None:
    # Raw bytes: the client would read "//evil.com/" as a host, not a path.
    app = web.Application(middlewares=[web.normalize_path_middleware()])
    app.router.add_get("/evil.com/", handler)
    app.router.add_get("/{name}/x/", handler)
    port = (await make_server(app)).port
    for target in ("//evil.com/", "///evil.com", "//evil.com", "//a//x"):
        reply = await fetch(port, "GET", target)
        assert reply.status == 308, target
        location = reply.headers["location"]
        assert location.startswith("/") and location[1:2] not in ("/", "\\"), location
    assert (await fetch(port, "GET", "//a//x")).headers["location"] == "/a/x/"
    assert (await fetch(port, "GET", "/evil.com/")).text == "handled /evil.com/"
