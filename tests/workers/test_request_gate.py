"""``RequestGate`` in front of a real ``web.Server``: the request budget, keep-alive off,
what a trusted proxy says, refusals and the hook before the handler. The same gate under a
real gunicorn: test_lifecycle.py (max_requests) and test_settings.py (rows 19 and 20)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from runtime import web
from runtime.http.forwarded import AllowList, ForwardedTrust, HeaderNamePolicy
from runtime.server.request_gate import RequestGate
from tests.support import Connection

SECURE = {"X-FORWARDED-PROTO": "https", "X-FORWARDED-SSL": "on"}


async def describe(request: web.BaseRequest) -> web.StreamResponse:
    return web.Response(text=f"{request.scheme} {request.remote} {request.headers.get('X_A')}")


class Gated:
    """A server with a gate; records the spent budget and what ``before`` saw."""

    def __init__(
        self,
        handler: Any = describe,
        server_options: dict[str, Any] | None = None,
        **options: Any,
    ) -> None:
        self.spent = 0
        self.seen: list[str] = []
        self.handler = handler
        self.server_options = server_options or {}
        self.options = options

    def before(self, request: web.BaseRequest) -> None:
        self.seen.append(request.path)

    @asynccontextmanager
    async def serve(self, policy: HeaderNamePolicy | None = None) -> AsyncIterator[int]:
        server = web.Server(self.handler, access_log=None, **self.server_options)
        trust = ForwardedTrust(AllowList(["127.0.0.1"]), SECURE, policy)
        gate = RequestGate(
            server.request_factory,
            server.request_handler,
            trust,
            on_budget_spent=self.on_spent,
            before=self.before,
            refuse=lambda text: web.HTTPBadRequest(text=text),
            **{"budget": None, "close_always": False, **self.options},
        )
        server.request_factory = gate
        server.request_handler = gate.handle
        runner = web.ServerRunner(server, shutdown_timeout=1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            assert site.port is not None
            yield site.port
        finally:
            await runner.cleanup()

    def on_spent(self) -> None:
        self.spent += 1


async def test_the_last_request_of_the_budget_closes_and_reports_once() -> None:
    gated = Gated(budget=2)
    async with gated.serve() as port:
        async with await Connection.open(port) as conn:
            first = await conn.request(target="/1")
            last = await conn.request(target="/2")
        async with await Connection.open(port) as conn:
            after = await conn.request(target="/3")  # served while the stop drains
    assert "close" not in first.headers.get("Connection", "")
    assert last.headers["Connection"] == "close"
    assert after.headers["Connection"] == "close"
    assert gated.spent == 1
    assert gated.seen == ["/1", "/2", "/3"]


async def test_no_budget_and_keep_alive_off() -> None:
    gated = Gated(close_always=True)
    async with gated.serve() as port, await Connection.open(port) as conn:
        reply = await conn.request()
    assert reply.headers["Connection"] == "close"
    assert gated.spent == 0


async def test_a_trusted_proxy_names_the_client_and_the_scheme() -> None:
    headers = {"X-Forwarded-For": "203.0.113.7, 127.0.0.1", "X-Forwarded-Proto": "https"}
    async with Gated().serve() as port:
        async with await Connection.open(port) as conn:
            trusted = await conn.request(headers=headers)
        async with await Connection.open(port, source="127.0.0.2") as conn:
            untrusted = await conn.request(headers=headers)
    assert trusted.text == "https 203.0.113.7 None"
    assert untrusted.text == "http 127.0.0.2 None"


async def refused(policy: HeaderNamePolicy, headers: dict[str, str]) -> tuple[int, str, list[str]]:
    gated = Gated()
    async with gated.serve(policy) as port, await Connection.open(port, "127.0.0.2") as conn:
        reply = await conn.request(headers=headers)
    return reply.status, reply.text, gated.seen


async def test_refusals_answer_400_before_the_hook() -> None:
    drop = HeaderNamePolicy(refuse=False, forwarder_headers=[])
    assert await refused(drop, {"X_A": "1"}) == (200, "http 127.0.0.2 None", ["/"])
    refuse = HeaderNamePolicy(refuse=True, forwarder_headers=[])
    status, text, seen = await refused(refuse, {"X_A": "1"})
    assert (status, seen) == (400, [])
    assert text == "Invalid HTTP header name: 'X_A' (header names containing '_' are refused)\n"


async def test_contradicting_scheme_headers_from_a_trusted_peer_are_a_400() -> None:
    gated = Gated()
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Ssl": "off"}
    async with gated.serve() as port, await Connection.open(port) as conn:
        reply = await conn.request(headers=headers)
    assert (reply.status, reply.text, gated.seen) == (400, "Contradictory scheme headers\n", [])


async def test_the_limits_reach_the_request_by_position_or_by_keyword() -> None:
    # The adapter sets positional for the built-in request classes; either way the request
    # gets the server's limits (and a proxied request, rebuilt, gets them too).
    async def limits(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(text=f"{request.client_max_size} {request._client_max_fields}")

    for positional in (True, False):
        limits_set = {"client_max_size": 123, "client_max_fields": 45}
        gated = Gated(limits, limits_set, positional=positional)
        async with gated.serve() as port, await Connection.open(port) as conn:
            plain = await conn.request()
            proxied = await conn.request(headers={"X-Forwarded-Proto": "https"})
        assert (plain.text, proxied.text) == ("123 45", "123 45"), positional
