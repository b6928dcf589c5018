"""``middlewares.deprecation``: RFC 9745 / RFC 8594 headers, warnings, logs, 410 after sunset."""

from __future__ import annotations

import datetime
import warnings
from typing import Any

import pytest

from middlewares.deprecation import (
    Deprecation,
    deprecated,
    deprecation_middleware,
    deprecation_of,
)
from runtime import web
from tests.support import Reply, fetch, serve

UTC = datetime.UTC
SINCE = datetime.date(2025, 1, 1)  # 1735689600
SUNSET = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
DOCS = "https://api.example.com/docs/deprecations#v1-items"


class FakeClock:
    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


class Recorder:
    """A stand-in structlog logger: keeps (event, fields)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def warning(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))


calls: list[str] = []


@deprecated(since=SINCE, sunset=SUNSET, link=DOCS, replacement="/v2/items")
async def list_items_v1(request: web.Request) -> web.StreamResponse:
    calls.append("v1")
    return web.Response(text="v1 items")


async def shared(request: web.Request) -> web.StreamResponse:
    calls.append(request.path)
    return web.Response(text="shared", headers={"Link": '</next>; rel="next"'})


async def fresh(request: web.Request) -> web.StreamResponse:
    return web.Response(text="fresh")


@deprecated(since=SINCE)
async def raises_404(request: web.Request) -> web.StreamResponse:
    raise web.HTTPNotFound(text="no item")


class ItemView(web.View):
    @deprecated(since=SINCE, replacement="/v2/items")
    async def delete(self) -> web.StreamResponse:
        return web.Response(text="deleted")

    async def get(self) -> web.StreamResponse:
        return web.Response(text="view get")


@deprecated(since=SINCE, sunset_link="https://api.example.com/sunset-policy")
class LegacyView(web.View):
    async def get(self) -> web.StreamResponse:
        return web.Response(text="legacy")


routes = web.RouteTableDef()


@routes.get("/table/above")
@deprecated(since=SINCE)
async def table_above(request: web.Request) -> web.StreamResponse:
    return web.Response(text="above")


@deprecated(since=SINCE)
@routes.get("/table/below")
async def table_below(request: web.Request) -> web.StreamResponse:
    return web.Response(text="below")


def make_app(clock: FakeClock, logger: Recorder | None = None, **options: Any) -> web.Application:
    app = web.Application(
        middlewares=[deprecation_middleware(clock=clock, logger=logger or Recorder(), **options)]
    )
    router = app.router
    router.add_get("/v1/items", list_items_v1)
    deprecated(since=SINCE, replacement="/v2/things")(router.add_post("/v1/things", shared))
    deprecated(since=SINCE)(router.add_get("/v1/both", shared).resource)
    router.add_get("/v2/things", shared)  # the same handler, not deprecated
    router.add_get("/fresh", fresh)
    router.add_get("/raises", raises_404)
    router.add_view("/items/{id}", ItemView)
    router.add_view("/legacy", LegacyView)
    later = datetime.datetime(2030, 1, 1, tzinfo=UTC)
    router.add_get("/soon", deprecated(since=later, sunset=later)(fresh_copy()))
    router.add_get(
        "/hard",
        deprecated(since=SINCE, sunset=SUNSET, gone_after_sunset=True)(fresh_copy()),
    )
    router.add_get(
        "/soft",
        deprecated(since=SINCE, sunset=SUNSET, gone_after_sunset=False)(fresh_copy()),
    )
    router.add_routes(routes)
    return app


def fresh_copy() -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        calls.append(request.path)
        return web.Response(text="ok")

    return handler


async def get(
    clock: FakeClock, method: str, path: str, logger: Recorder | None = None, **options: Any
) -> Reply:
    async with serve(make_app(clock, logger, **options)) as port:
        return await fetch(port, method, path)


BEFORE_SUNSET = FakeClock(datetime.datetime(2025, 6, 1, tzinfo=UTC))


# -- headers -------------------------------------------------------------------------------------


async def test_headers_on_a_deprecated_handler() -> None:
    with pytest.warns(DeprecationWarning):
        reply = await get(BEFORE_SUNSET, "GET", "/v1/items")
    assert reply.status == 200 and reply.text == "v1 items"
    assert reply.headers["Deprecation"] == "@1735689600"  # RFC 9745: @epoch seconds
    assert reply.headers["Sunset"] == "Wed, 01 Jul 2026 12:00:00 GMT"  # RFC 8594: HTTP-date
    assert reply.headers["Link"] == (
        f'<{DOCS}>; rel="deprecation", </v2/items>; rel="successor-version"'
    )


async def test_route_and_resource_marks_leave_the_shared_handler_alone() -> None:
    async with serve(make_app(BEFORE_SUNSET)) as port:
        with pytest.warns(DeprecationWarning, match="POST /v1/things"):
            post = await fetch(port, "POST", "/v1/things")
        with pytest.warns(DeprecationWarning, match="GET /v1/both"):
            got = await fetch(port, "GET", "/v1/both")
        with pytest.warns(DeprecationWarning, match="HEAD /v1/both"):
            head = await fetch(port, "HEAD", "/v1/both")
        new = await fetch(port, "GET", "/v2/things")  # same handler: no warning, no headers
    assert post.headers.getall("Link") == [
        '</next>; rel="next"',
        '</v2/things>; rel="successor-version"',
    ]
    assert got.headers["Deprecation"] == head.headers["Deprecation"] == "@1735689600"
    assert "Deprecation" not in new.headers and new.headers["Link"] == '</next>; rel="next"'


async def test_view_method_and_view_class_marks() -> None:
    async with serve(make_app(BEFORE_SUNSET)) as port:
        with pytest.warns(DeprecationWarning, match="DELETE /items/{id}"):
            deleted = await fetch(port, "DELETE", "/items/3")
        kept = await fetch(port, "GET", "/items/3")
        with pytest.warns(DeprecationWarning, match="GET /legacy"):
            legacy = await fetch(port, "GET", "/legacy")
    assert deleted.headers["Link"] == '</v2/items>; rel="successor-version"'
    assert "Deprecation" not in kept.headers
    assert legacy.headers["Link"] == '<https://api.example.com/sunset-policy>; rel="sunset"'


async def test_decorator_order_with_route_table_does_not_matter() -> None:
    async with serve(make_app(BEFORE_SUNSET)) as port:
        with pytest.warns(DeprecationWarning) as record:
            above = await fetch(port, "GET", "/table/above")
            below = await fetch(port, "GET", "/table/below")
    assert above.headers["Deprecation"] == below.headers["Deprecation"] == "@1735689600"
    assert len(record) == 2


async def test_raised_http_errors_carry_the_headers() -> None:
    with pytest.warns(DeprecationWarning):
        reply = await get(BEFORE_SUNSET, "GET", "/raises")
    assert (reply.status, reply.headers["Deprecation"]) == (404, "@1735689600")


async def test_plain_routes_and_404s_are_untouched() -> None:
    async with serve(make_app(BEFORE_SUNSET)) as port:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fresh_reply = await fetch(port, "GET", "/fresh")
            missing = await fetch(port, "GET", "/nowhere")
    assert fresh_reply.status == 200 and missing.status == 404
    assert "Deprecation" not in fresh_reply.headers and "Deprecation" not in missing.headers


# -- warnings --------------------------------------------------------------------------------


async def test_the_warning_points_at_the_handler_source() -> None:
    with pytest.warns(DeprecationWarning) as record:
        await get(BEFORE_SUNSET, "GET", "/v1/items")
    [warning] = record
    assert warning.filename == __file__
    assert warning.lineno == list_items_v1.__code__.co_firstlineno
    assert str(warning.message) == (
        "GET /v1/items is deprecated since 2025-01-01, sunset 2026-07-01; use /v2/items"
    )


async def test_warnings_as_errors_make_calls_to_deprecated_endpoints_fail() -> None:
    # What `python -W error` or pytest's `filterwarnings = error` does to a test that calls a
    # deprecated endpoint: the warning becomes an exception before the handler runs.
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        reply = await get(BEFORE_SUNSET, "GET", "/v1/items")
    assert reply.status == 500
    assert calls == []


async def test_a_future_deprecation_is_pending() -> None:
    with pytest.warns(PendingDeprecationWarning, match="deprecated since 2030-01-01"):
        reply = await get(BEFORE_SUNSET, "GET", "/soon")
    assert reply.status == 200
    assert reply.headers["Deprecation"] == "@1893456000"


# -- logs --------------------------------------------------------------------------------------


async def test_uses_are_logged_at_most_once_per_interval_per_route() -> None:
    clock = FakeClock(datetime.datetime(2025, 6, 1, tzinfo=UTC))
    logger = Recorder()
    async with serve(make_app(clock, logger, log_interval=60)) as port:
        with pytest.warns(DeprecationWarning):
            for _ in range(5):
                await fetch(port, "GET", "/v1/items", [("User-Agent", "old-client/1")])
                clock.advance(10)
            await fetch(port, "POST", "/v1/things")  # another route: logged at once
            clock.advance(20)  # 70 s after the first log
            await fetch(port, "GET", "/v1/items")
    events = [(event, fields["path"], fields["suppressed"]) for event, fields in logger.events]
    assert events == [
        ("deprecated_endpoint_called", "/v1/items", 0),
        ("deprecated_endpoint_called", "/v1/things", 0),
        ("deprecated_endpoint_called", "/v1/items", 4),
    ]
    first = logger.events[0][1]
    assert first == {
        "suppressed": 0,
        "method": "GET",
        "path": "/v1/items",
        "since": "2025-01-01T00:00:00+00:00",
        "sunset": "2026-07-01T12:00:00+00:00",
        "replacement": "/v2/items",
        "remote": "127.0.0.1",
        "user_agent": "old-client/1",
    }


# -- after the sunset ------------------------------------------------------------------------


AFTER_SUNSET = FakeClock(datetime.datetime(2026, 7, 1, 12, 0, tzinfo=UTC))


async def test_after_sunset_the_endpoint_is_gone_when_configured() -> None:
    calls.clear()
    logger = Recorder()
    with pytest.warns(DeprecationWarning, match="was retired on 2026-07-01"):
        reply = await get(AFTER_SUNSET, "GET", "/v1/items", logger, gone_after_sunset=True)
    assert reply.status == 410
    assert reply.text == "410 Gone: GET /v1/items was retired on 2026-07-01; use /v2/items\n"
    assert reply.headers["Sunset"] == "Wed, 01 Jul 2026 12:00:00 GMT"
    assert 'rel="successor-version"' in reply.headers["Link"]
    assert calls == []
    assert logger.events[0][0] == "sunset_endpoint_called"


async def test_after_sunset_the_endpoint_still_answers_by_default() -> None:
    with pytest.warns(DeprecationWarning):
        reply = await get(AFTER_SUNSET, "GET", "/v1/items")
    assert reply.status == 200 and reply.headers["Sunset"]


async def test_the_mark_overrides_the_middleware_default() -> None:
    async with serve(make_app(AFTER_SUNSET, gone_after_sunset=True)) as port:
        with pytest.warns(DeprecationWarning):
            hard = await fetch(port, "GET", "/hard")
            soft = await fetch(port, "GET", "/soft")
    assert (hard.status, soft.status) == (410, 200)
    async with serve(make_app(AFTER_SUNSET, gone_after_sunset=False)) as port:
        with pytest.warns(DeprecationWarning):
            hard = await fetch(port, "GET", "/hard")
    assert hard.status == 410


async def test_just_before_the_sunset_it_still_answers() -> None:
    clock = FakeClock(SUNSET - datetime.timedelta(seconds=1))
    with pytest.warns(DeprecationWarning):
        reply = await get(clock, "GET", "/hard")
    assert reply.status == 200


# -- marks and validation ---------------------------------------------------------------------


def test_marks_are_introspectable() -> None:
    info = deprecation_of(list_items_v1)
    assert isinstance(info, Deprecation)
    assert info.since == datetime.datetime(2025, 1, 1, tzinfo=UTC)
    assert deprecation_of(fresh) is None


def test_aware_datetimes_are_converted_to_utc() -> None:
    paris = datetime.timezone(datetime.timedelta(hours=2))
    info = Deprecation(since=datetime.datetime(2025, 1, 1, 2, 0, tzinfo=paris))
    assert info.headers == (("Deprecation", "@1735689600"),)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"since": datetime.datetime(2025, 1, 1)}, "timezone-aware"),
        ({"since": SINCE, "sunset": datetime.date(2024, 1, 1)}, "before since"),
        ({"since": SINCE, "link": "https://x/a b"}, "Link header"),
        ({"since": SINCE, "replacement": "/v2>; rel=evil"}, "Link header"),
        ({"since": SINCE, "sunset_link": ""}, "Link header"),
    ],
)
def test_invalid_marks_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        deprecated(**options)


def test_objects_without_attributes_cannot_be_marked() -> None:
    with pytest.raises(TypeError, match="Cannot mark"):
        deprecated(since=SINCE)(object())


def test_streamed_responses_cannot_get_headers() -> None:
    response = web.StreamResponse()
    response._writer = object()  # type: ignore[assignment]  # as if prepared
    assert Deprecation(since=datetime.datetime(2025, 1, 1, tzinfo=UTC)).apply(response) is False
