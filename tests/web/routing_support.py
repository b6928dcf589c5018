"""Helpers for the router unit tests: requests as the parser builds them, no connection
behind them (tests/middlewares uses ``make_request`` too)."""

from __future__ import annotations

from typing import Any

from runtime import web
from runtime.http.message import HttpVersion11, RequestMessage
from runtime.server.streams import EMPTY_PAYLOAD
from runtime.web.request import Request


def make_request(method: str, target: str, headers: dict[str, str] | None = None) -> Request:
    """A request as the parser would produce it; no connection behind it."""
    raw = tuple((k.encode("latin-1"), v.encode("utf-8")) for k, v in (headers or {}).items())
    message = RequestMessage(method, target, HttpVersion11, raw)
    return Request(message, EMPTY_PAYLOAD, None, None, None, None)  # type: ignore[arg-type]


async def resolve(router: web.UrlDispatcher, method: str, target: str, **headers: str) -> Any:
    return await router.resolve(make_request(method, target, headers))


async def text_handler(request: web.Request) -> web.StreamResponse:
    """Answers with the route's name and the match info, for checking what matched."""
    info = ",".join(f"{k}={v}" for k, v in sorted(request.match_info.items()))
    return web.Response(text=f"{request.match_info.route.name}|{info}")
