"""Reverse routing: ``router[name].url_for(...)``, canonical paths, sub-app prefixes."""

from __future__ import annotations

import pytest
from yarl import URL

from runtime import web
from runtime.web.routing.route import SystemRoute
from tests.web.routing_support import resolve


async def handler(request: web.Request) -> web.StreamResponse:
    return web.Response()


def test_plain_resource_url() -> None:
    router = web.UrlDispatcher()
    router.add_get("/about/team", handler, name="team")
    url = router["team"].url_for()
    assert url == URL("/about/team")
    assert str(url.with_query(page=2)) == "/about/team?page=2"
    assert router["team"].canonical == "/about/team"
    assert router["team"].name == "team"
    assert router["team"].get_info() == {"path": "/about/team"}


def test_dynamic_resource_url() -> None:
    router = web.UrlDispatcher()
    router.add_get(r"/users/{id:\d+}/posts/{slug}", handler, name="post")
    resource = router["post"]
    url = resource.url_for(id="7", slug="hello")
    assert isinstance(url, URL)
    assert str(url) == "/users/7/posts/hello"
    assert str(url.with_query({"a": "1 2"})) == "/users/7/posts/hello?a=1+2"
    assert resource.canonical == "/users/{id}/posts/{slug}"
    info = resource.get_info()
    assert info["formatter"] == "/users/{id}/posts/{slug}"
    assert info["pattern"].fullmatch("/users/7/posts/x")


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("John Doe", "John%20Doe"),
        ("100%", "100%25"),
        ("café", "caf%C3%A9"),
        ("a?b#c", "a%3Fb%23c"),
        ("x+y", "x+y"),
        ("%41", "%2541"),
    ],
)
def test_parts_are_quoted(value: str, encoded: str) -> None:
    router = web.UrlDispatcher()
    router.add_get("/users/{name}", handler, name="user")
    assert router["user"].url_for(name=value).raw_path == f"/users/{encoded}"


def test_slash_in_a_part_is_kept_for_tail_patterns() -> None:
    router = web.UrlDispatcher()
    router.add_route("*", "/path/to/{tail:.+}", handler, name="sink")
    assert str(router["sink"].url_for(tail="a/b/c")) == "/path/to/a/b/c"


@pytest.mark.parametrize("value", ["John Doe", "100%", "café", "a?b#c", "~x.y_z-", "%41"])
async def test_url_for_round_trips_through_resolve(value: str) -> None:
    router = web.UrlDispatcher()
    router.add_get("/users/{name}", handler, name="user")
    url = router["user"].url_for(name=value)
    info = await resolve(router, "GET", url.raw_path)
    assert dict(info) == {"name": value}


def test_missing_part_raises_key_error() -> None:
    router = web.UrlDispatcher()
    router.add_get("/users/{id}", handler, name="user")
    with pytest.raises(KeyError, match="id"):
        router["user"].url_for()


def test_extra_parts_are_ignored_and_regexes_not_checked() -> None:
    # aiohttp does not validate url_for parts against the pattern; neither do we.
    router = web.UrlDispatcher()
    router.add_get(r"/users/{id:\d+}", handler, name="user")
    assert str(router["user"].url_for(id="abc", unused="x")) == "/users/abc"


def test_plain_url_for_takes_no_parts() -> None:
    router = web.UrlDispatcher()
    router.add_get("/", handler, name="index")
    with pytest.raises(TypeError):
        router["index"].url_for(x="1")


def test_non_ascii_literals_are_encoded_in_canonical_and_url() -> None:
    router = web.UrlDispatcher()
    router.add_get("/café/{x}", handler, name="dyn")
    router.add_get("/thé", handler, name="plain")
    assert router["dyn"].canonical == "/caf%C3%A9/{x}"
    assert router["dyn"].url_for(x="1").raw_path == "/caf%C3%A9/1"
    assert router["plain"].url_for().raw_path == "/th%C3%A9"
    assert router["plain"].url_for().path == "/thé"


def test_sub_app_urls_include_the_prefix() -> None:
    app = web.Application()
    sub = web.Application()
    sub.router.add_get("/", handler, name="index")
    sub.router.add_get("/users/{id}", handler, name="user")
    resource = app.add_subapp("/api/", sub)
    assert str(sub.router["index"].url_for()) == "/api/"
    assert str(sub.router["user"].url_for(id="5")) == "/api/users/5"
    assert sub.router["user"].canonical == "/api/users/{id}"
    assert resource.canonical == "/api"
    assert resource.get_info() == {"app": sub, "prefix": "/api"}
    with pytest.raises(RuntimeError, match="sub-application root"):
        resource.url_for()


def test_nested_sub_app_urls_include_every_prefix() -> None:
    app = web.Application()
    mid = web.Application()
    leaf = web.Application()
    leaf.router.add_get("/items/{id}", handler, name="item")
    leaf.router.add_get("", handler, name="root")
    mid.add_subapp("/v1", leaf)
    app.add_subapp("/api", mid)
    assert str(leaf.router["item"].url_for(id="9")) == "/api/v1/items/9"
    assert str(leaf.router["root"].url_for()) == "/api/v1"


async def test_nested_sub_app_routes_resolve_under_every_prefix() -> None:
    app = web.Application()
    mid = web.Application()
    leaf = web.Application()
    leaf.router.add_get("/items/{id}", handler, name="item")
    mid.add_subapp("/v1", leaf)
    app.add_subapp("/api", mid)
    info = await resolve(app.router, "GET", "/api/v1/items/3")
    assert info.route.name == "item"
    assert dict(info) == {"id": "3"}
    assert info.apps == (mid, leaf)  # the root app is added by the app itself
    assert (await resolve(app.router, "GET", "/v1/items/3")).http_exception.status == 404


def test_system_route_has_no_url() -> None:
    with pytest.raises(RuntimeError):
        SystemRoute(web.HTTPNotFound()).url_for()
