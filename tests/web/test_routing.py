"""The router, unit level: patterns, decoding, 404/405, order, registration rules, index."""

from __future__ import annotations

import pytest

from runtime import web
from runtime.web.routing.match_info import MatchInfoError
from runtime.web.routing.resource import DynamicResource
from runtime.web.routing.route import SystemRoute
from tests.web.routing_support import make_request, resolve


async def handler(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")


async def other(request: web.Request) -> web.StreamResponse:
    return web.Response(text="other")


# -- matching -----------------------------------------------------------------------------


async def test_plain_path_matches_exactly() -> None:
    router = web.UrlDispatcher()
    route = router.add_get("/about", handler)
    info = await resolve(router, "GET", "/about?x=1")
    assert info.route is route
    assert info.handler is handler
    assert dict(info) == {}
    assert (await resolve(router, "GET", "/about/")).http_exception.status == 404
    assert (await resolve(router, "GET", "/abou")).http_exception.status == 404


async def test_variable_matches_one_segment() -> None:
    router = web.UrlDispatcher()
    router.add_get("/users/{id}", handler)
    assert dict(await resolve(router, "GET", "/users/42")) == {"id": "42"}
    assert (await resolve(router, "GET", "/users/42/posts")).http_exception.status == 404
    assert (await resolve(router, "GET", "/users/")).http_exception.status == 404


async def test_variable_with_regex() -> None:
    router = web.UrlDispatcher()
    router.add_get(r"/users/{id:\d+}", handler)
    assert dict(await resolve(router, "GET", "/users/42")) == {"id": "42"}
    assert (await resolve(router, "GET", "/users/abc")).http_exception.status == 404


async def test_regex_digits_are_ascii_only() -> None:
    router = web.UrlDispatcher()
    router.add_get(r"/users/{id:\d+}", handler)
    router.add_get(r"/words/{w:\w+}", handler)
    # U+0661 ARABIC-INDIC DIGIT ONE and U+0967 DEVANAGARI DIGIT ONE are \d to Unicode re.
    assert (await resolve(router, "GET", "/users/%D9%A1")).http_exception.status == 404
    assert (await resolve(router, "GET", "/users/%E0%A5%A7")).http_exception.status == 404
    assert (await resolve(router, "GET", "/words/%C3%A9")).http_exception.status == 404
    assert dict(await resolve(router, "GET", "/words/abc_1")) == {"w": "abc_1"}


async def test_regex_with_nested_braces() -> None:
    router = web.UrlDispatcher()
    router.add_get(r"/year/{y:\d{4}}", handler)
    assert dict(await resolve(router, "GET", "/year/2024")) == {"y": "2024"}
    assert (await resolve(router, "GET", "/year/24")).http_exception.status == 404


async def test_several_variables_in_one_segment() -> None:
    router = web.UrlDispatcher()
    router.add_get("/files/{name}.{ext}", handler)
    assert dict(await resolve(router, "GET", "/files/report.pdf")) == {
        "name": "report",
        "ext": "pdf",
    }


async def test_tail_catch_all_spans_segments() -> None:
    router = web.UrlDispatcher()
    router.add_route("*", "/path/to/{tail:.+}", handler)
    info = await resolve(router, "OPTIONS", "/path/to/a/b/c")
    assert dict(info) == {"tail": "a/b/c"}
    assert (await resolve(router, "GET", "/path/to/")).http_exception.status == 404
    assert (await resolve(router, "GET", "/path/tox")).http_exception.status == 404


# -- percent-decoding ---------------------------------------------------------------------


async def test_match_info_values_are_decoded() -> None:
    router = web.UrlDispatcher()
    router.add_get("/users/{name}", handler)
    assert dict(await resolve(router, "GET", "/users/John%20Doe")) == {"name": "John Doe"}
    assert dict(await resolve(router, "GET", "/users/caf%C3%A9")) == {"name": "café"}
    assert dict(await resolve(router, "GET", "/users/100%25")) == {"name": "100%"}


async def test_encoded_slash_stays_inside_its_segment() -> None:
    # As aiohttp 3.10+: match on the path with %2F kept encoded, then decode the value.
    router = web.UrlDispatcher()
    router.add_get("/users/{name}", handler)
    router.add_get("/users/{name}/posts", other)
    info = await resolve(router, "GET", "/users/a%2Fb")
    assert dict(info) == {"name": "a/b"}
    assert info.handler is handler
    info = await resolve(router, "GET", "/users/a%2fb/posts")
    assert dict(info) == {"name": "a/b"}
    assert info.handler is other


async def test_encoded_percent_2f_is_not_a_slash() -> None:
    router = web.UrlDispatcher()
    router.add_get("/users/{name}", handler)
    assert dict(await resolve(router, "GET", "/users/a%252Fb")) == {"name": "a%2Fb"}


async def test_plain_path_matches_its_encoded_form() -> None:
    router = web.UrlDispatcher()
    router.add_get("/a b", handler)
    router.add_get("/café", other)
    assert (await resolve(router, "GET", "/a%20b")).handler is handler
    assert (await resolve(router, "GET", "/caf%C3%A9")).handler is other


async def test_non_ascii_literal_in_a_pattern() -> None:
    # aiohttp 3.14 never matches this one (it compares the quoted literal with the decoded
    # path); docs/web-api.md lists the difference.
    router = web.UrlDispatcher()
    router.add_get("/café/{x}", handler)
    assert dict(await resolve(router, "GET", "/caf%C3%A9/1")) == {"x": "1"}


@pytest.mark.parametrize(
    ("route", "target", "found"),
    [
        # aiohttp 3.14's test_decoded_url_match: a route is written decoded, the request's
        # escapes are decoded before matching.
        ("/467,802,24834/hello", "/467%2C802%2C24834/hello", True),
        ("/{ids:([0-9]+)(,([0-9]+))*}/hello", "/467%2C802%2C24834/hello", True),
        ("/467,802,24834/hello", "/467,802,24834/hello", True),
        # An escape written in a route is text: "%2C" there is never a request's comma...
        ("/1%2C3/hello", "/1%2C3/hello", False),
        ("/1%2C3/hello", "/1,3/hello", False),
        ("/x/{y}/a%2Cb", "/x/1/a%2Cb", False),
        ("/caf%C3%A9", "/caf%C3%A9", False),
        # ...but "%2F" and "%25" stay encoded in path_safe, so written so they match one.
        ("/a%2Fb", "/a%2Fb", True),
        ("/a%2Fb", "/a/b", False),
        ("/a%2Fb/{x}", "/a%2Fb/1", True),
        ("/a%25b", "/a%25b", True),
    ],
)
async def test_escapes_in_routes_match_as_in_aiohttp(route: str, target: str, found: bool) -> None:
    router = web.UrlDispatcher()
    router.add_get(route, handler)
    info = await resolve(router, "GET", target)
    assert (info.handler is handler) is found


@pytest.mark.parametrize(
    ("prefix", "target", "found"),
    [("/a,b", "/a%2Cb/f", True), ("/a%2Cb", "/a%2Cb/f", False), ("/a%2Fb", "/a%2Fb/f", True)],
)
async def test_escapes_in_sub_app_prefixes_match_as_in_aiohttp(
    prefix: str, target: str, found: bool
) -> None:
    sub = web.Application()
    sub.router.add_get("/f", handler)
    app = web.Application()
    app.add_subapp(prefix, sub)
    app.freeze()
    info = await resolve(app.router, "GET", target)
    assert (info.handler is handler) is found


# -- failed matches -----------------------------------------------------------------------


async def test_not_found_is_a_match_info_error() -> None:
    router = web.UrlDispatcher()
    router.add_get("/", handler)
    info = await resolve(router, "GET", "/nope")
    assert isinstance(info, MatchInfoError)
    assert isinstance(info.http_exception, web.HTTPNotFound)
    assert isinstance(info.route, SystemRoute)
    assert info.route.status == 404
    assert info.expect_handler is None
    assert info.get_info() == {"http_exception": info.http_exception}
    with pytest.raises(web.HTTPNotFound):
        await info.handler(make_request("GET", "/nope"))
    # Each failed match gets its own exception: it is the response that is sent.
    assert (await resolve(router, "GET", "/nope")).http_exception is not info.http_exception


async def test_method_not_allowed_lists_the_allowed_methods() -> None:
    router = web.UrlDispatcher()
    router.add_get("/items", handler)
    router.add_post("/items", handler)
    info = await resolve(router, "DELETE", "/items")
    exc = info.http_exception
    assert isinstance(exc, web.HTTPMethodNotAllowed)
    assert exc.method == "DELETE"
    assert exc.allowed_methods == {"GET", "HEAD", "POST"}
    assert exc.headers["Allow"] == "GET,HEAD,POST"


async def test_method_not_allowed_collects_every_resource_matching_the_path() -> None:
    router = web.UrlDispatcher()
    router.add_get("/items/new", handler)
    router.add_put("/items/{id}", handler)
    router.add_post("/{section}/new", handler)
    router.add_delete("/other", handler)
    exc = (await resolve(router, "PATCH", "/items/new")).http_exception
    assert exc.allowed_methods == {"GET", "HEAD", "PUT", "POST"}


async def test_not_found_wins_over_nothing_else() -> None:
    router = web.UrlDispatcher()
    assert (await resolve(router, "GET", "/")).http_exception.status == 404


async def test_asterisk_target_does_not_break_resolution() -> None:
    router = web.UrlDispatcher()
    router.add_get("/{x}", handler)
    assert (await resolve(router, "OPTIONS", "*")).http_exception.status == 404


# -- methods ------------------------------------------------------------------------------


async def test_add_get_adds_head_unless_told_not_to() -> None:
    router = web.UrlDispatcher()
    router.add_get("/a", handler)
    router.add_get("/b", handler, allow_head=False)
    assert (await resolve(router, "HEAD", "/a")).route.method == "HEAD"
    assert (await resolve(router, "HEAD", "/b")).http_exception.status == 405


async def test_any_method_route_and_specific_route_on_one_resource() -> None:
    router = web.UrlDispatcher()
    router.add_get("/x", handler)
    router.add_route("*", "/x", other)
    assert (await resolve(router, "GET", "/x")).handler is handler
    assert (await resolve(router, "BREW", "/x")).handler is other


async def test_method_is_upper_cased() -> None:
    router = web.UrlDispatcher()
    route = router.add_route("post", "/x", handler)
    assert route.method == "POST"
    assert (await resolve(router, "POST", "/x")).route is route


def test_method_must_be_a_token() -> None:
    router = web.UrlDispatcher()
    with pytest.raises(ValueError, match="not an HTTP method"):
        router.add_route("GE T", "/x", handler)


def test_same_method_twice_is_refused() -> None:
    router = web.UrlDispatcher()
    router.add_get("/x", handler)
    with pytest.raises(RuntimeError, match="will never be executed"):
        router.add_get("/x", other)
    router.add_route("*", "/y", handler)
    with pytest.raises(RuntimeError, match="will never be executed"):
        router.add_post("/y", other)


def test_routes_on_the_same_path_share_the_last_resource() -> None:
    router = web.UrlDispatcher()
    router.add_get("/x", handler)
    router.add_post("/x", handler)
    router.add_put("/x", handler)
    router.add_patch("/x", handler)
    router.add_delete("/x", handler)
    router.add_options("/x", handler)
    assert len(router.resources()) == 1
    assert {r.method for r in router.routes()} == {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
    }
    router.add_get("/x", handler, name="named")  # another name: another resource
    assert len(router.resources()) == 2


# -- order --------------------------------------------------------------------------------


async def test_longest_literal_prefix_wins_then_registration_order() -> None:
    # aiohttp 3.10+: the most explicit resource first, whatever the registration order.
    router = web.UrlDispatcher()
    router.add_get("/users/{name}", handler)
    router.add_get("/users/me", other)
    assert (await resolve(router, "GET", "/users/me")).handler is other
    assert (await resolve(router, "GET", "/users/ada")).handler is handler

    # Under the same literal prefix, the first registered match wins (docs/faq.md's
    # "order specific").
    router = web.UrlDispatcher()
    router.add_get("/users/{name}", handler)
    router.add_get("/users/{id:\\d+}", other)
    assert (await resolve(router, "GET", "/users/42")).handler is handler

    router = web.UrlDispatcher()
    router.add_get("/users/me", other)
    router.add_get("/users/{name}", handler)
    assert (await resolve(router, "GET", "/users/me")).handler is other


async def test_order_holds_across_index_buckets() -> None:
    router = web.UrlDispatcher()
    router.add_get("/{tail:.*}", handler)  # indexed under "/"
    router.add_get("/a/b/{c}", other)  # indexed under "/a/b"
    router.add_get("/a/b/c", other)  # plain
    assert (await resolve(router, "GET", "/a/b/c")).handler is other
    assert (await resolve(router, "GET", "/a/x")).handler is handler

    router = web.UrlDispatcher()
    router.add_get("/a/b/{c}", other)
    router.add_get("/{tail:.*}", handler)
    assert (await resolve(router, "GET", "/a/b/c")).handler is other
    assert (await resolve(router, "GET", "/a/x")).handler is handler


async def test_literal_text_before_a_variable_in_the_same_segment() -> None:
    router = web.UrlDispatcher()
    router.add_get("/v{version}/items", handler)
    router.add_get("/a/b{rest:.*}", other)
    assert dict(await resolve(router, "GET", "/v2/items")) == {"version": "2"}
    assert dict(await resolve(router, "GET", "/a/bcd/e")) == {"rest": "cd/e"}


async def test_double_slashes_in_patterns_and_paths() -> None:
    router = web.UrlDispatcher()
    router.add_get("/a//{x}", handler)
    assert dict(await resolve(router, "GET", "/a//1")) == {"x": "1"}
    assert (await resolve(router, "GET", "/a/1")).http_exception.status == 404


# -- the index ----------------------------------------------------------------------------


def _count_regex_tries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    tried: list[str] = []
    original = DynamicResource._match

    def counting(self: DynamicResource, path: str) -> dict[str, str] | None:
        tried.append(self.canonical)
        return original(self, path)

    monkeypatch.setattr(DynamicResource, "_match", counting)
    return tried


async def test_two_hundred_routes_do_not_mean_two_hundred_regex_tries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = web.UrlDispatcher()
    for i in range(100):
        router.add_get(f"/r{i}/{{id:\\d+}}", handler, name=f"dyn{i}")
        router.add_get(f"/api/v1/thing{i}/{{id}}/detail", handler, name=f"deep{i}")
    router.add_get("/static/page", other)
    tried = _count_regex_tries(monkeypatch)

    info = await resolve(router, "GET", "/r57/12")
    assert info.route.name == "dyn57"
    assert tried == ["/r57/{id}"]
    tried.clear()

    info = await resolve(router, "GET", "/api/v1/thing99/7/detail")
    assert info.route.name == "deep99"
    assert tried == ["/api/v1/thing99/{id}/detail"]
    tried.clear()

    assert (await resolve(router, "GET", "/static/page")).handler is other
    assert tried == []  # plain paths: a dict lookup, no regex at all

    assert (await resolve(router, "GET", "/nothing/here")).http_exception.status == 404
    assert tried == []


async def test_patterns_with_a_variable_first_segment_are_tried_for_every_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    router = web.UrlDispatcher()
    for i in range(200):
        router.add_get(f"/x{i}/{{id}}", handler)
    router.add_get("/{lang}/about", other)
    tried = _count_regex_tries(monkeypatch)

    assert (await resolve(router, "GET", "/en/about")).handler is other
    assert tried == ["/{lang}/about"]


async def test_sub_app_routes_stay_indexed_after_the_prefix_is_added(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = web.Application()
    sub = web.Application()
    for i in range(50):
        sub.router.add_get(f"/items{i}/{{id}}", handler, name=f"i{i}")
    app.add_subapp("/api", sub)
    tried = _count_regex_tries(monkeypatch)

    info = await resolve(app.router, "GET", "/api/items42/1")
    assert info.route.name == "i42"
    assert tried == ["/api/items42/{id}"]


# -- registration rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/{}", "/{1a}", "/{a", "/a}", "/{a:}", "/{a:(}", "/{a}/{a}", "/{a b}"],
)
def test_malformed_patterns_are_refused(path: str) -> None:
    with pytest.raises(ValueError):
        web.UrlDispatcher().add_get(path, handler)


def test_path_must_start_with_a_slash() -> None:
    with pytest.raises(ValueError, match="started with /"):
        web.UrlDispatcher().add_get("users", handler)


@pytest.mark.parametrize("name", ["with space", "class", "a.for", "1st", "a..b"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="Incorrect route name"):
        web.UrlDispatcher().add_get("/", handler, name=name)


def test_good_names_are_accepted() -> None:
    router = web.UrlDispatcher()
    for name in ["index", "users.detail", "api:v1-list", "_private"]:
        router.add_get(f"/{name.replace(':', '_')}", handler, name=name)
    assert list(router) == ["index", "users.detail", "api:v1-list", "_private"]


def test_duplicate_names_are_refused() -> None:
    router = web.UrlDispatcher()
    router.add_get("/a", handler, name="x")
    with pytest.raises(ValueError, match="Duplicate 'x'"):
        router.add_get("/b", handler, name="x")


def test_router_is_a_mapping_of_named_resources() -> None:
    router = web.UrlDispatcher()
    router.add_get("/a", handler, name="a")
    router.add_get("/b", handler)
    assert "a" in router and "b" not in router
    assert len(router) == 1
    assert router["a"].canonical == "/a"
    assert dict(router.named_resources()) == {"a": router["a"]}
    with pytest.raises(TypeError):
        router.named_resources()["c"] = router["a"]  # type: ignore[index]
    assert len(router.resources()) == 2
    assert router["a"] in router.resources()
    assert len(router.routes()) == 4
    assert all(route in router.routes() for route in router["a"])


def test_freeze_refuses_every_kind_of_registration() -> None:
    router = web.UrlDispatcher()
    resource = router.add_resource("/a")
    router.freeze()
    assert router.frozen
    attempts = [
        lambda: router.add_get("/b", handler),
        lambda: router.add_route("POST", "/a", handler),
        lambda: router.add_resource("/c"),
        lambda: router.add_view("/d", web.View),
        lambda: router.add_static("/static", "."),
        lambda: router.add_routes([web.get("/e", handler)]),
        lambda: resource.add_route("GET", handler),
    ]
    for attempt in attempts:
        with pytest.raises(RuntimeError, match="frozen") as exc_info:
            attempt()
        assert "starts" in str(exc_info.value)


def test_register_resource_checks_the_type() -> None:
    with pytest.raises(TypeError):
        web.UrlDispatcher().register_resource("/a")  # type: ignore[arg-type]


# -- handlers -----------------------------------------------------------------------------


def test_non_callable_handler_is_refused() -> None:
    with pytest.raises(TypeError, match="async function or a View"):
        web.UrlDispatcher().add_get("/", "not a handler")  # type: ignore[arg-type]


def test_generator_handler_is_refused() -> None:
    def gen(request: web.Request):  # type: ignore[no-untyped-def]
        yield

    with pytest.raises(TypeError, match="Generator"):
        web.UrlDispatcher().add_get("/", gen)


async def test_plain_function_handler_is_deprecated_but_works() -> None:
    def sync_handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="sync")

    router = web.UrlDispatcher()
    with pytest.warns(DeprecationWarning, match="Bare functions are deprecated") as record:
        router.add_route("GET", "/", sync_handler)
    assert record[0].filename == __file__  # the warning points at the caller
    info = await resolve(router, "GET", "/")
    response = await info.handler(make_request("GET", "/"))
    assert response.text == "sync"


async def test_plain_function_returning_a_non_response_fails_loudly() -> None:
    router = web.UrlDispatcher()
    with pytest.warns(DeprecationWarning):
        router.add_route("GET", "/", lambda request: "text")
    info = await resolve(router, "GET", "/")
    with pytest.raises(TypeError, match="not a response"):
        await info.handler(make_request("GET", "/"))


def test_expect_handler_must_be_a_coroutine_function() -> None:
    with pytest.raises(TypeError, match="expect_handler"):
        web.UrlDispatcher().add_route("POST", "/", handler, expect_handler=lambda r: None)


# -- routes and match info ----------------------------------------------------------------


async def test_route_attributes() -> None:
    router = web.UrlDispatcher()
    route = router.add_post("/users/{id}", handler, name="user")
    assert route.method == "POST"
    assert route.handler is handler
    assert route.resource is router["user"]
    assert route.name == "user"
    assert route.url_for(id="3") == router["user"].url_for(id="3")
    assert route.get_info() == router["user"].get_info()
    assert route.expect_handler is None
    assert "POST" in repr(route) and "/users/{id}" in repr(route)


async def test_expect_handler_is_exposed_on_the_match_info() -> None:
    async def expect(request: web.Request) -> web.StreamResponse | None:
        return None

    router = web.UrlDispatcher()
    router.add_post("/upload", handler, expect_handler=expect)
    router.add_put("/other", handler)
    assert (await resolve(router, "POST", "/upload")).expect_handler is expect
    assert (await resolve(router, "PUT", "/other")).expect_handler is None


async def test_match_info_app_stack() -> None:
    router = web.UrlDispatcher()
    router.add_get("/", handler)
    info = await resolve(router, "GET", "/")
    inner, outer = web.Application(), web.Application()
    with pytest.raises(RuntimeError):
        info.current_app  # noqa: B018
    info.add_app(inner)
    info.add_app(outer)
    assert info.apps == (outer, inner)
    assert info.current_app is inner
    with info.set_current_app(outer):
        assert info.current_app is outer
    assert info.current_app is inner
    info.freeze()
    with pytest.raises(RuntimeError, match="freeze"):
        info.add_app(web.Application())
    assert "MatchInfo" in repr(info)


async def test_resource_resolve_reports_allowed_methods() -> None:
    router = web.UrlDispatcher()
    resource = router.add_resource("/x")
    resource.add_route("GET", handler)
    match_info, allowed = await resource.resolve(make_request("POST", "/x"))
    assert match_info is None
    assert allowed == {"GET"}
    match_info, allowed = await resource.resolve(make_request("GET", "/y"))
    assert match_info is None and allowed == set()
    assert len(resource) == 1 and [r.method for r in resource] == ["GET"]


def test_empty_path_is_the_root_once_frozen() -> None:
    router = web.UrlDispatcher()
    resource = router.add_resource("")
    assert resource.canonical == ""
    router.freeze()
    assert resource.canonical == "/"


async def test_long_paths_with_many_slashes() -> None:
    router = web.UrlDispatcher()
    router.add_get("/a/{tail:.+}", handler)
    router.add_get("/a/b/c/{x}", other)
    deep = "/a" + "/b" * 3000
    assert dict(await resolve(router, "GET", deep)) == {"tail": deep[3:]}
    assert (await resolve(router, "GET", "/" * 8000)).http_exception.status == 404
    assert (await resolve(router, "GET", "/a/b/c/d")).handler is other  # longer literal prefix
