"""middlewares.tracing against the real OpenTelemetry SDK, its in-memory span exporter and
metric reader: span names by route template, attributes, the parent from a traceparent,
errors, the WebSocket handshake and session spans, trace ids in structlog's context."""

from __future__ import annotations

import pytest
import structlog
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from middlewares.tracing import SPAN_ID_KEY, TRACE_ID_KEY, tracing_middleware
from runtime import web
from runtime.testing.pytest_plugin import ClientFactory

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class Tracing:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meters = MeterProvider(metric_readers=[self.reader])

    def middleware(self) -> object:
        return tracing_middleware(tracer_provider=self.provider, meter_provider=self.meters)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


SEEN = web.AppKey("seen", dict[str, object])


def app_with(tracing: Tracing) -> web.Application:
    seen: dict[str, object] = {}

    async def user(request: web.Request) -> web.Response:
        seen.update(structlog.contextvars.get_contextvars())
        seen["on_request"] = (request.get(TRACE_ID_KEY), request.get(SPAN_ID_KEY))
        return web.Response(text=request.match_info["id"])

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("no")

    async def teapot(request: web.Request) -> web.Response:
        raise web.HTTPServiceUnavailable()

    async def socket(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            await ws.send_str(msg.data)
        return ws

    app = web.Application(middlewares=[tracing.middleware()])  # type: ignore[list-item]
    app.router.add_get("/users/{id}", user)
    app.router.add_get("/boom", boom)
    app.router.add_get("/busy", teapot)
    app.router.add_get("/ws", socket)
    app[SEEN] = seen
    return app


async def test_span_named_by_route_template_with_http_attributes(
    make_client: ClientFactory,
) -> None:
    tracing = Tracing()
    client = await make_client(app_with(tracing))
    resp = await client.get("/users/42?x=1", headers={"User-Agent": "probe/1"})
    assert resp.status == 200
    [span] = tracing.spans()
    assert span.name == "GET /users/{id}"
    assert span.kind is SpanKind.SERVER
    assert span.status.status_code is StatusCode.UNSET
    attrs = dict(span.attributes or {})
    assert attrs["http.request.method"] == "GET"
    assert attrs["http.route"] == "/users/{id}"
    assert attrs["url.path"] == "/users/42"
    assert attrs["url.query"] == "x=1"
    assert attrs["url.scheme"] == "http"
    assert attrs["http.response.status_code"] == 200
    assert attrs["network.protocol.version"] == "1.1"
    assert attrs["user_agent.original"] == "probe/1"
    assert attrs["server.port"] == client.port
    assert attrs["client.address"] == "127.0.0.1"


async def test_a_user_agent_that_is_not_utf8_is_an_attribute_exporters_can_encode(
    make_client: ClientFactory,
) -> None:
    tracing = Tracing()
    client = await make_client(app_with(tracing))
    # The octet 0xE5 sent raw (a lone surrogate stands for it), then UTF-8 text.
    resp = await client.get("/users/42", headers={"User-Agent": "probe\udce5 \u00e9"})
    assert resp.status == 200
    [span] = tracing.spans()
    agent = dict(span.attributes or {})["user_agent.original"]
    assert agent == "probe\\xe5 \u00e9"
    assert isinstance(agent, str)
    agent.encode("utf-8")


async def test_traceparent_makes_the_span_a_child_and_ids_reach_structlog(
    make_client: ClientFactory,
) -> None:
    tracing = Tracing()
    app = app_with(tracing)
    client = await make_client(app)
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    resp = await client.get("/users/1", headers={"traceparent": traceparent})
    assert resp.status == 200
    [span] = tracing.spans()
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None and format(span.parent.span_id, "016x") == PARENT_ID
    assert app[SEEN]["trace_id"] == TRACE_ID
    assert app[SEEN]["span_id"] == format(span.context.span_id, "016x")
    # and on the request, where gunicorn's access line (written later) reads them
    assert app[SEEN]["on_request"] == (TRACE_ID, format(span.context.span_id, "016x"))
    assert "trace_id" not in structlog.contextvars.get_contextvars()


async def test_exceptions_and_5xx_are_errors_4xx_are_not(make_client: ClientFactory) -> None:
    tracing = Tracing()
    client = await make_client(app_with(tracing))
    assert (await client.get("/boom")).status == 500
    assert (await client.get("/busy")).status == 503
    assert (await client.get("/nowhere")).status == 404
    boom, busy, nowhere = tracing.spans()
    assert boom.name == "GET /boom"
    assert boom.status.status_code is StatusCode.ERROR
    assert [e.name for e in boom.events] == ["exception"]
    assert (boom.attributes or {})["error.type"] == "RuntimeError"
    assert busy.status.status_code is StatusCode.ERROR
    assert (busy.attributes or {})["http.response.status_code"] == 503
    assert nowhere.name == "GET"  # no route matched: no template, never the raw path
    assert nowhere.status.status_code is StatusCode.UNSET
    assert "http.route" not in (nowhere.attributes or {})


async def test_unknown_methods_are_folded(make_client: ClientFactory) -> None:
    tracing = Tracing()
    client = await make_client(app_with(tracing))
    await client.request("PROPFIND", "/users/1")
    [span] = tracing.spans()
    assert span.name == "_OTHER"
    assert (span.attributes or {})["http.request.method_original"] == "PROPFIND"


async def test_websocket_handshake_span_ends_at_101_and_links_the_session(
    make_client: ClientFactory,
) -> None:
    tracing = Tracing()
    client = await make_client(app_with(tracing))
    async with client.ws_connect("/ws") as ws:
        await ws.send_str("hi")
        assert (await ws.receive()).data == "hi"
        [handshake] = tracing.spans()  # ended at the 101, while the session goes on
        assert handshake.name == "GET /ws"
        assert (handshake.attributes or {})["http.response.status_code"] == 101
        await ws.close()
    await client.close()
    handshake, session = tracing.spans()
    assert session.name == "WebSocket /ws"
    assert [link.context.span_id for link in session.links] == [handshake.context.span_id]
    assert session.start_time is not None and handshake.end_time is not None
    assert session.start_time >= handshake.end_time


async def test_request_duration_metric(make_client: ClientFactory) -> None:
    tracing = Tracing()
    client = await make_client(app_with(tracing))
    for _ in range(3):
        await client.get("/users/7")
    data = tracing.reader.get_metrics_data()
    assert data is not None
    [metric] = [
        m
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "http.server.request.duration"
    ]
    [point] = metric.data.data_points  # type: ignore[attr-defined]
    assert point.count == 3
    assert point.attributes["http.route"] == "/users/{id}"
    assert point.attributes["http.response.status_code"] == 200


@pytest.mark.parametrize("path", ["/users/1"])
async def test_without_providers_it_uses_the_global_no_op_ones(
    make_client: ClientFactory, path: str
) -> None:
    app = web.Application(middlewares=[tracing_middleware()])

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app.router.add_get("/users/{id}", ok)
    client = await make_client(app)
    assert (await client.get(path)).status == 200
