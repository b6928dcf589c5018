"""Routing seen from the wire: a real server, raw HTTP, the public ``web`` API only."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import web

from .routing_support import fetch, run, serve, text_handler


async def sink_handler(request: web.Request) -> web.StreamResponse:
    return web.Response(text=f"{request.method} tail={request.match_info['tail']}")


@run
async def test_seed_faq_catch_all_works_as_written() -> None:
    app = web.Application()
    app.router.add_route("*", "/path/to/{tail:.+}", sink_handler)
    async with serve(app) as port:
        for method in ("GET", "POST", "OPTIONS", "DELETE"):
            reply = await fetch(port, method, "/path/to/a/b/c")
            assert reply.status == 200
            assert reply.text == f"{method} tail=a/b/c"
        assert (await fetch(port, "GET", "/path/to/")).status == 404
        assert (await fetch(port, "GET", "/path/to/x%2Fy")).text == "GET tail=x/y"


@run
async def test_not_found_and_method_not_allowed() -> None:
    app = web.Application()
    app.router.add_get("/items", text_handler)
    app.router.add_post("/items/{id}", text_handler)
    app.router.add_put("/{section}/{id}", text_handler)
    async with serve(app) as port:
        reply = await fetch(port, "GET", "/missing/a/b")
        assert reply.status == 404
        assert reply.text == "404: Not Found"
        reply = await fetch(port, "DELETE", "/items")
        assert reply.status == 405
        assert reply.headers["allow"] == "GET,HEAD"
        reply = await fetch(port, "GET", "/items/3")
        assert reply.status == 405
        assert reply.headers["allow"] == "POST,PUT"
        reply = await fetch(port, "HEAD", "/items")
        assert reply.status == 200 and reply.body == b""


@run
async def test_match_info_is_decoded_on_the_wire() -> None:
    app = web.Application()
    app.router.add_get(r"/users/{name}/{n:\d+}", text_handler)
    async with serve(app) as port:
        reply = await fetch(port, "GET", "/users/J%C3%BCrgen%20K/12?x=1")
        assert reply.text == "None|n=12,name=Jürgen K"
        assert (await fetch(port, "GET", "/users/x/%D9%A1")).status == 404


@run
async def test_route_table_def() -> None:
    routes = web.RouteTableDef()

    @routes.get("/", name="index")
    async def index(request: web.Request) -> web.StreamResponse:
        url = request.app.router["user"].url_for(id="7").with_query(tab="posts")
        return web.Response(text=str(url))

    @routes.post("/users")
    @routes.put("/users")
    async def change(request: web.Request) -> web.StreamResponse:
        return web.Response(text=request.method)

    @routes.route("PATCH", "/users/{id}", name="user")
    async def user(request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"patched {request.match_info['id']}")

    @routes.delete("/users/{id}")
    async def remove(request: web.Request) -> web.StreamResponse:
        return web.Response(status=204)

    @routes.head("/ping")
    async def ping(request: web.Request) -> web.StreamResponse:
        return web.Response()

    @routes.patch("/p")
    async def patch_p(request: web.Request) -> web.StreamResponse:
        return web.Response(text="p")

    assert len(routes) == 7
    assert routes[0].path == "/"  # type: ignore[attr-defined]
    assert [d.method for d in routes[1:3]] == ["PUT", "POST"]  # type: ignore[attr-defined]
    assert "count=7" in repr(routes)

    app = web.Application()
    registered = app.add_routes(routes)
    assert [r.method for r in registered] == [
        "GET",
        "PUT",
        "POST",
        "PATCH",
        "DELETE",
        "HEAD",
        "PATCH",
    ]
    async with serve(app) as port:
        assert (await fetch(port, "GET", "/")).text == "/users/7?tab=posts"
        assert (await fetch(port, "HEAD", "/")).status == 200
        assert (await fetch(port, "PUT", "/users")).text == "PUT"
        assert (await fetch(port, "PATCH", "/users/3")).text == "patched 3"
        assert (await fetch(port, "DELETE", "/users/3")).status == 204
        assert (await fetch(port, "HEAD", "/ping")).status == 200
        assert (await fetch(port, "GET", "/ping")).status == 405


@run
async def test_module_level_route_helpers() -> None:
    async def h(request: web.Request) -> web.StreamResponse:
        return web.Response(text=request.method)

    class Thing(web.View):
        async def get(self) -> web.StreamResponse:
            return web.Response(text="view")

    defs = [
        web.get("/g", h, name="g"),
        web.get("/nohead", h, allow_head=False),
        web.post("/x", h),
        web.put("/x", h),
        web.patch("/x", h),
        web.delete("/x", h),
        web.head("/x", h),
        web.route("OPTIONS", "/x", h),
        web.route("*", "/any", h),
        web.view("/thing", Thing),
    ]
    assert all(isinstance(d, web.AbstractRouteDef) for d in defs)
    assert repr(defs[0]) == "<RouteDef GET /g -> 'h', allow_head=True, name='g'>"
    app = web.Application()
    app.add_routes(defs)
    async with serve(app) as port:
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            assert (await fetch(port, method, "/x")).text == method
        assert (await fetch(port, "HEAD", "/x")).status == 200
        assert (await fetch(port, "HEAD", "/g")).status == 200
        assert (await fetch(port, "HEAD", "/nohead")).status == 405
        assert (await fetch(port, "PROPFIND", "/any")).text == "PROPFIND"
        assert (await fetch(port, "GET", "/thing")).text == "view"


def test_static_defs() -> None:
    routes = web.RouteTableDef()
    routes.static("/static", "/srv/files", show_index=True)
    definition = web.static("/assets", "/srv/assets")
    assert isinstance(routes[0], web.StaticDef)
    assert routes[0].kwargs == {"show_index": True}  # type: ignore[attr-defined]
    assert repr(definition) == "<StaticDef /assets -> /srv/assets>"


class Items(web.View):
    async def get(self) -> web.StreamResponse:
        return web.Response(text=f"get {self.request.match_info.get('id', '-')}")

    async def post(self) -> web.StreamResponse:
        return web.Response(text="post")


@run
async def test_class_based_view() -> None:
    app = web.Application()
    app.router.add_view("/items", Items)
    app.router.add_route("*", "/items/{id}", Items)
    async with serve(app) as port:
        assert (await fetch(port, "GET", "/items")).text == "get -"
        assert (await fetch(port, "POST", "/items")).text == "post"
        assert (await fetch(port, "GET", "/items/4")).text == "get 4"
        reply = await fetch(port, "DELETE", "/items")
        assert reply.status == 405
        assert reply.headers["allow"] == "GET,POST"
        assert (await fetch(port, "PROPFIND", "/items")).status == 405


@run
async def test_view_runs_through_middlewares() -> None:
    @web.middleware
    async def tag(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers["X-Tag"] = "yes"
        return response

    app = web.Application(middlewares=[tag])
    app.router.add_view("/items", Items)
    async with serve(app) as port:
        reply = await fetch(port, "GET", "/items")
        assert reply.text == "get -"
        assert reply.headers["x-tag"] == "yes"


@run
async def test_sub_application() -> None:
    seen: list[str] = []

    @web.middleware
    async def sub_mw(request: web.Request, handler: object) -> web.StreamResponse:
        seen.append(request.path)
        return await handler(request)  # type: ignore[operator]

    async def sub_index(request: web.Request) -> web.StreamResponse:
        assert request.app is sub
        assert request.match_info.apps == (app, sub)
        url = request.app.router["detail"].url_for(id="5")
        return web.Response(text=f"sub {url}")

    async def detail(request: web.Request) -> web.StreamResponse:
        return web.Response(text=f"detail {request.match_info['id']}")

    async def root(request: web.Request) -> web.StreamResponse:
        return web.Response(text="root")

    app = web.Application()
    sub = web.Application(middlewares=[sub_mw])
    sub.router.add_get("/", sub_index)
    sub.router.add_get("/items/{id}", detail, name="detail")
    app.router.add_get("/", root)
    resource = app.add_subapp("/admin", sub)
    assert resource.app is sub  # type: ignore[attr-defined]
    async with serve(app) as port:
        assert (await fetch(port, "GET", "/admin/")).text == "sub /admin/items/5"
        assert (await fetch(port, "GET", "/admin/items/5")).text == "detail 5"
        assert (await fetch(port, "GET", "/")).text == "root"
        assert (await fetch(port, "GET", "/adminx/items/5")).status == 404
        assert (await fetch(port, "GET", "/admin/nothing")).status == 404
        reply = await fetch(port, "POST", "/admin/items/5")
        assert reply.status == 405
        assert reply.headers["allow"] == "GET,HEAD"
    # The sub-app's middleware ran for its own paths only (its 404/405 included).
    assert seen == ["/admin/", "/admin/items/5", "/admin/nothing", "/admin/items/5"]


@run
async def test_domain_sub_applications() -> None:
    async def name_of(request: web.Request) -> web.StreamResponse:
        return web.Response(text=request.match_info.route.resource.name or "")  # type: ignore[union-attr]

    app = web.Application()
    exact = web.Application()
    exact.router.add_get("/", name_of, name="exact")
    masked = web.Application()
    masked.router.add_get("/", name_of, name="masked")
    app.add_domain("example.com", exact)
    app.add_domain("*.example.org", masked)
    app.router.add_get("/", name_of, name="fallback")
    async with serve(app) as port:
        for host, expected in [
            ("example.com", "exact"),
            ("EXAMPLE.com:8080", "exact"),
            ("example.com.", "exact"),
            ("api.example.org", "masked"),
            ("a.b.Example.org:443", "masked"),
            ("example.org", "fallback"),
            ("other.com", "fallback"),
            ("notexample.com", "fallback"),
        ]:
            reply = await fetch(port, "GET", "/", {"Host": host})
            assert reply.text == expected, host


def test_domain_rules() -> None:
    rule = web.Domain("Example.COM.")
    assert rule.canonical == "example.com"
    assert web.Domain("example.com:8080").canonical == "example.com:8080"
    assert web.Domain("example.com:80").canonical == "example.com"
    assert rule.match_domain("example.com:1234")
    assert not web.Domain("example.com:8080").match_domain("example.com:9090")
    assert web.Domain("example.com:8080").match_domain("example.com:8080")
    mask = web.MaskDomain("*.example.com")
    assert mask.match_domain("a.example.com")
    assert not mask.match_domain("example.com")
    assert not mask.match_domain("a.example.com.evil.net")
    for bad in ["", "http://example.com", "exa mple.com", "-a.com"]:
        with pytest.raises(ValueError):
            web.Domain(bad)
    with pytest.raises(TypeError):
        web.Domain(1)  # type: ignore[arg-type]


@run
async def test_routes_are_frozen_once_the_app_starts() -> None:
    async def h(request: web.Request) -> web.StreamResponse:
        return web.Response()

    app = web.Application()
    app.router.add_get("/", h)
    async with serve(app):
        with pytest.raises(RuntimeError, match="frozen") as exc_info:
            app.router.add_get("/late", h)
        assert "starts" in str(exc_info.value)


def test_sub_application_routes_are_frozen_once_nested() -> None:
    async def h(request: web.Request) -> web.StreamResponse:
        return web.Response()

    app = web.Application()
    sub = web.Application()
    app.add_subapp("/sub", sub)
    with pytest.raises(RuntimeError, match="sub-application"):
        sub.router.add_get("/late", h)


@run
async def test_request_object_is_passed_to_handlers_untouched() -> None:
    async def h(request: web.Request) -> web.StreamResponse:
        assert request.match_info.route.handler is h
        assert request.match_info.current_app is request.app
        return web.Response(text=request.raw_path)

    app = web.Application()
    app.router.add_get("/{x}", h)
    async with serve(app) as port:
        assert (await fetch(port, "GET", "/a%20b?q=1")).text == "/a%20b?q=1"


@run
async def test_add_static_registers_a_prefix_resource(tmp_path: Any) -> None:
    pytest.importorskip("runtime.static")
    (tmp_path / "hello.txt").write_text("hello")
    app = web.Application()
    resource = app.router.add_static("/static/", tmp_path, name="static")
    assert isinstance(resource, web.PrefixResource)
    assert app.router["static"] is resource
    assert resource.canonical == "/static"
    registered = app.add_routes([web.static("/assets", tmp_path)])
    assert sorted(route.method for route in registered) == ["GET", "HEAD"]
    async with serve(app) as port:
        assert (await fetch(port, "GET", "/static/hello.txt")).text == "hello"
        assert (await fetch(port, "GET", "/assets/hello.txt")).text == "hello"
        assert (await fetch(port, "GET", "/staticx/hello.txt")).status == 404
