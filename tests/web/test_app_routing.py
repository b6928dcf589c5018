"""Routing seen from the wire: a real server, raw HTTP, the public ``web`` API only."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import web
from tests.web.routing_support import text_handler
from tests.web.support import ClientFactory, send


async def sink_handler(request: web.Request) -> web.StreamResponse:
    return web.Response(text=f"{request.method} tail={request.match_info['tail']}")


async def test_faq_catch_all_works_as_written(make_client: ClientFactory) -> None:
    app = web.Application()
    app.router.add_route("*", "/path/to/{tail:.+}", sink_handler)
    client = await make_client(app)
    for method in ("GET", "POST", "OPTIONS", "DELETE"):
        reply = await send(client, method, "/path/to/a/b/c")
        assert reply.status == 200
        assert reply.text == f"{method} tail=a/b/c"
    assert (await send(client, "GET", "/path/to/")).status == 404
    assert (await send(client, "GET", "/path/to/x%2Fy")).text == "GET tail=x/y"


async def test_not_found_and_method_not_allowed(make_client: ClientFactory) -> None:
    app = web.Application()
    app.router.add_get("/items", text_handler)
    app.router.add_post("/items/{id}", text_handler)
    app.router.add_put("/{section}/{id}", text_handler)
    client = await make_client(app)
    reply = await send(client, "GET", "/missing/a/b")
    assert reply.status == 404
    assert reply.text == "404: Not Found"
    reply = await send(client, "DELETE", "/items")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET,HEAD"
    reply = await send(client, "GET", "/items/3")
    assert reply.status == 405
    assert reply.headers["allow"] == "POST,PUT"
    reply = await send(client, "HEAD", "/items")
    assert reply.status == 200 and reply.body == b""


async def test_match_info_is_decoded_on_the_wire(make_client: ClientFactory) -> None:
    app = web.Application()
    app.router.add_get(r"/users/{name}/{n:\d+}", text_handler)
    client = await make_client(app)
    reply = await send(client, "GET", "/users/J%C3%BCrgen%20K/12?x=1")
    assert reply.text == "None|n=12,name=Jürgen K"
    assert (await send(client, "GET", "/users/x/%D9%A1")).status == 404


async def test_route_table_def(make_client: ClientFactory) -> None:
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
    client = await make_client(app)
    assert (await send(client, "GET", "/")).text == "/users/7?tab=posts"
    assert (await send(client, "HEAD", "/")).status == 200
    assert (await send(client, "PUT", "/users")).text == "PUT"
    assert (await send(client, "PATCH", "/users/3")).text == "patched 3"
    assert (await send(client, "DELETE", "/users/3")).status == 204
    assert (await send(client, "HEAD", "/ping")).status == 200
    assert (await send(client, "GET", "/ping")).status == 405


async def test_module_level_route_helpers(make_client: ClientFactory) -> None:
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
    client = await make_client(app)
    for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert (await send(client, method, "/x")).text == method
    assert (await send(client, "HEAD", "/x")).status == 200
    assert (await send(client, "HEAD", "/g")).status == 200
    assert (await send(client, "HEAD", "/nohead")).status == 405
    assert (await send(client, "PROPFIND", "/any")).text == "PROPFIND"
    assert (await send(client, "GET", "/thing")).text == "view"


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


async def test_class_based_view(make_client: ClientFactory) -> None:
    app = web.Application()
    app.router.add_view("/items", Items)
    app.router.add_route("*", "/items/{id}", Items)
    client = await make_client(app)
    assert (await send(client, "GET", "/items")).text == "get -"
    assert (await send(client, "POST", "/items")).text == "post"
    assert (await send(client, "GET", "/items/4")).text == "get 4"
    reply = await send(client, "DELETE", "/items")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET,POST"
    assert (await send(client, "PROPFIND", "/items")).status == 405


async def test_view_runs_through_middlewares(make_client: ClientFactory) -> None:
    @web.middleware
    async def tag(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        response.headers["X-Tag"] = "yes"
        return response

    app = web.Application(middlewares=[tag])
    app.router.add_view("/items", Items)
    client = await make_client(app)
    reply = await send(client, "GET", "/items")
    assert reply.text == "get -"
    assert reply.headers["x-tag"] == "yes"


async def test_sub_application(make_client: ClientFactory) -> None:
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
    client = await make_client(app)
    assert (await send(client, "GET", "/admin/")).text == "sub /admin/items/5"
    assert (await send(client, "GET", "/admin/items/5")).text == "detail 5"
    assert (await send(client, "GET", "/")).text == "root"
    assert (await send(client, "GET", "/adminx/items/5")).status == 404
    assert (await send(client, "GET", "/admin/nothing")).status == 404
    reply = await send(client, "POST", "/admin/items/5")
    assert reply.status == 405
    assert reply.headers["allow"] == "GET,HEAD"
    await client.close()
    # The sub-app's middleware ran for its own paths only (its 404/405 included).
    assert seen == ["/admin/", "/admin/items/5", "/admin/nothing", "/admin/items/5"]


async def test_domain_sub_applications(make_client: ClientFactory) -> None:
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
    client = await make_client(app)
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
        reply = await send(client, "GET", "/", {"Host": host})
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


async def test_routes_are_frozen_once_the_app_starts(make_client: ClientFactory) -> None:
    async def h(request: web.Request) -> web.StreamResponse:
        return web.Response()

    app = web.Application()
    app.router.add_get("/", h)
    await make_client(app)  # starting the app freezes it
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


async def test_request_object_is_passed_to_handlers_untouched(make_client: ClientFactory) -> None:
    async def h(request: web.Request) -> web.StreamResponse:
        assert request.match_info.route.handler is h
        assert request.match_info.current_app is request.app
        return web.Response(text=request.raw_path)

    app = web.Application()
    app.router.add_get("/{x}", h)
    client = await make_client(app)
    assert (await send(client, "GET", "/a%20b?q=1")).text == "/a%20b?q=1"


async def test_add_static_registers_a_prefix_resource(
    make_client: ClientFactory, tmp_path: Any
) -> None:
    pytest.importorskip("runtime.web.routing.static")
    (tmp_path / "hello.txt").write_text("hello")
    app = web.Application()
    resource = app.router.add_static("/static/", tmp_path, name="static")
    assert isinstance(resource, web.PrefixResource)
    assert app.router["static"] is resource
    assert resource.canonical == "/static"
    registered = app.add_routes([web.static("/assets", tmp_path)])
    assert sorted(route.method for route in registered) == ["GET", "HEAD"]
    client = await make_client(app)
    assert (await send(client, "GET", "/static/hello.txt")).text == "hello"
    assert (await send(client, "GET", "/assets/hello.txt")).text == "hello"
    assert (await send(client, "GET", "/staticx/hello.txt")).status == 404


async def test_every_add_method_of_the_router(make_client: ClientFactory) -> None:
    async def h(request: web.Request) -> web.StreamResponse:
        return web.Response(text=request.method)

    app = web.Application()
    router = app.router
    router.add_get("/r", h)
    router.add_post("/r", h)
    router.add_put("/r", h)
    router.add_patch("/r", h)
    router.add_delete("/r", h)
    router.add_options("/r", h)
    router.add_head("/only-head", h)
    router.add_route("*", "/any", h)
    client = await make_client(app)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert (await send(client, method, "/r")).text == method
    assert (await send(client, "HEAD", "/r")).status == 200  # add_get adds HEAD
    assert (await send(client, "HEAD", "/only-head")).status == 200
    assert (await send(client, "GET", "/only-head")).headers["Allow"] == "HEAD"
    assert (await send(client, "PROPFIND", "/any")).text == "PROPFIND"
