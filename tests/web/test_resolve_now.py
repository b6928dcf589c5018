"""The router's coroutine-free resolution (``UrlDispatcher._resolve_now``), which the root
application uses for every request: it must agree with ``resolve`` whatever it remembers
of earlier requests (the targets' ``path_safe`` forms and the plain routes they found),
and what it remembers must stay bounded."""

from __future__ import annotations

from typing import Any

import pytest

from runtime import web
from runtime.web.request import Request
from runtime.web.routing.dispatcher import UrlDispatcher

from .routing_support import make_request


async def handler(request: web.Request) -> web.StreamResponse:
    return web.Response()


def build() -> tuple[web.Application, UrlDispatcher]:
    app = web.Application()
    router = app.router
    router.add_get("/", handler, name="root")
    router.add_get("/items", handler, name="items")
    router.add_post("/items/{id}", handler, name="item-post")
    router.add_get("/items/{id}", handler, name="item")
    router.add_route("*", "/any", handler, name="any")
    router.add_get("/users/me", handler, name="me")
    router.add_route("PUT", "/users/{name}", handler, name="user-put")
    router.add_get("/p/{v:a|(?P<inner>b)}", handler, name="optional-group")
    router.add_get("/files/{path:.+}", handler, name="files")
    router.add_get("/a%2Fb", handler, name="encoded-slash")
    return app, router


REQUESTS = [
    ("GET", "/"),
    ("HEAD", "/"),
    ("POST", "/"),  # 405: the plain route found for GET must not answer it
    ("GET", "/items"),
    ("GET", "/items/7"),
    ("POST", "/items/7"),
    ("GET", "/any"),
    ("DELETE", "/any"),
    ("GET", "/users/me"),
    ("PUT", "/users/me"),  # the plain /users/me has no PUT: the pattern after it answers
    ("GET", "/p/a"),
    ("GET", "/p/b"),
    ("GET", "/files/x%2Fy/z%20w"),
    ("GET", "/a%2Fb"),
    ("GET", "/a/b"),
    ("GET", "/items?page=2"),  # a query: another target, the same path
    ("GET", "/./items"),
    ("GET", "/nowhere"),
]


def outcome(info: Any) -> tuple[str | None, dict[str, str], int | None]:
    exc = info.http_exception
    return info.route.name, dict(info), None if exc is None else exc.status


@pytest.mark.parametrize(("method", "target"), REQUESTS)
async def test_agrees_with_resolve_cold_and_warm(method: str, target: str) -> None:
    app, router = build()
    expected = outcome(await router.resolve(make_request(method, target)))
    for _ in range(3):  # nothing remembered, then what the first call remembered
        info = router._resolve_now(make_request(method, target), app)
        if info is None:
            assert expected[2] is not None  # only failures go the coroutine's way
            continue
        assert outcome(info) == expected
        assert info.apps == (app,)
        assert info.current_app is app
        with pytest.raises(RuntimeError):
            info.add_app(web.Application())  # frozen, as _add_root leaves it


async def test_every_request_in_turn_on_one_router() -> None:
    # The same, with everything each request left behind there for the next ones.
    app, router = build()
    for _ in range(2):
        for method, target in REQUESTS:
            expected = outcome(await router.resolve(make_request(method, target)))
            info = router._resolve_now(make_request(method, target), app)
            if info is not None:
                assert outcome(info) == expected, (method, target)


def test_remembered_targets_stay_bounded() -> None:
    app, router = build()
    for n in range(5000):  # a client making up targets
        router._resolve_now(make_request("GET", f"/items/{n}"), app)
    assert 0 < len(router._targets) <= 2048
    long_target = "/items/" + "x" * 300
    router._resolve_now(make_request("GET", long_target), app)
    assert long_target not in router._targets


def test_plain_routes_are_remembered_per_method() -> None:
    app, router = build()
    for method in ("GET", "HEAD", "POST"):
        router._resolve_now(make_request(method, "/items"), app)
    assert set(router._targets["/items"][1]) == {"GET", "HEAD"}  # POST is a 405
    router._resolve_now(make_request("GET", "/items/3"), app)
    assert router._targets["/items/3"][1] == {}  # a pattern's match is not remembered


def test_a_changed_index_forgets() -> None:
    app, router = build()
    router._resolve_now(make_request("GET", "/items"), app)
    assert router._targets
    router.add_get("/new", handler)
    assert not router._targets


class PostingRequest(Request):
    """A request class of an application's own: its properties are what the router asks."""

    @property
    def method(self) -> str:
        return "POST"


async def test_a_request_class_of_its_own_is_asked_through_its_properties() -> None:
    app, router = build()
    router._resolve_now(make_request("GET", "/items/7"), app)  # something remembered
    plain = make_request("GET", "/items/7")
    own = PostingRequest(plain._message, plain._payload, None, None, None, None)  # type: ignore[arg-type]
    info = router._resolve_now(own, app)
    assert info is not None
    assert info.route.name == "item-post"
    assert router._targets["/items/7"][1] == {}
