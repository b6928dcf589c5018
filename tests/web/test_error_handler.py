"""The application's hook for requests the protocol refuses before any handler runs.

aiohttp users cannot change those 400s (aiohttp issue 3287); a Berth application passes
``handler_args={"error_handler": ...}``, which reaches the low-level server whichever way
the app is served: ``AppRunner`` (``run_app``, the test kit) or the gunicorn worker.

Raw bytes throughout: these requests are malformed on purpose, and the client refuses to
send them.
"""

from __future__ import annotations

import logging

import pytest

from runtime import web
from runtime.http.errors import HttpProcessingError
from runtime.web.runner import TCPSite
from runtime.workers.apps import make_runner
from tests.support import build_request, exchange
from tests.web.support import ServerFactory

BAD_HEADER = b"GET / HTTP/1.1\r\nHost: example.test\r\nNo colon here\r\n\r\n"


async def on_bad_request(error: HttpProcessingError) -> web.StreamResponse:
    return web.json_response(
        {"error": error.reason, "status": error.status, "detail": error.message},
        status=error.status,
        headers={"X-Handled-By": "app"},
    )


async def index(request: web.Request) -> web.StreamResponse:
    return web.Response(text="index")


def make_app(hook: object = on_bad_request) -> web.Application:
    app = web.Application(handler_args={"error_handler": hook})
    app.router.add_get("/", index)
    return app


async def test_a_malformed_request_gets_the_apps_response(make_server: ServerFactory) -> None:
    port = (await make_server(make_app())).port
    reply = await exchange(port, BAD_HEADER)
    assert reply.status == 400
    assert reply.headers["X-Handled-By"] == "app"
    assert reply.headers["Content-Type"] == "application/json; charset=utf-8"
    assert '"status": 400' in reply.text
    assert '"error": "Bad Request"' in reply.text
    assert reply.headers["Connection"] == "close"  # the protocol still closes after it
    # Requests that parse still reach the router.
    assert (await exchange(port, build_request("GET", "/"))).text == "index"


async def test_the_hook_sees_each_refusal_status(make_server: ServerFactory) -> None:
    port = (await make_server(make_app(), max_line_size=100)).port
    too_long = await exchange(port, build_request("GET", "/" + "a" * 200))
    assert too_long.status == 414
    assert '"status": 414' in too_long.text
    bad_version = await exchange(port, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n")
    assert (bad_version.status, bad_version.headers["X-Handled-By"]) == (505, "app")
    smuggling = build_request("POST", "/", [("Content-Length", "1"), ("Content-Length", "2")])
    duplicate = await exchange(port, smuggling)
    assert duplicate.status == 400
    assert "Duplicate Content-Length" in duplicate.text


async def raising(error: HttpProcessingError) -> web.StreamResponse:
    raise RuntimeError("hook bug")


async def returning_text(error: HttpProcessingError) -> str:
    return "not a response"


@pytest.mark.parametrize(
    ("hook", "logged"),
    [(raising, "error_handler failed"), (returning_text, "instead of a response")],
)
async def test_a_failing_hook_falls_back_to_the_default_answer(
    make_server: ServerFactory, caplog: pytest.LogCaptureFixture, hook: object, logged: str
) -> None:
    port = (await make_server(make_app(hook))).port
    with caplog.at_level(logging.ERROR):
        reply = await exchange(port, BAD_HEADER)
    assert reply.status == 400
    assert reply.text.startswith("400 Bad Request")
    assert "X-Handled-By" not in reply.headers
    assert logged in caplog.text


async def test_the_hook_answers_a_body_that_breaks_off_in_a_handler(
    make_server: ServerFactory,
) -> None:
    async def upload(request: web.Request) -> web.StreamResponse:
        return web.Response(text=str(len(await request.content.read())))

    app = make_app()
    app.router.add_post("/upload", upload)
    port = (await make_server(app)).port
    head = build_request("POST", "/upload", [("Transfer-Encoding", "chunked")])
    reply = await exchange(port, head + b"3\r\nabc\r\nZZ\r\n")  # "ZZ": not a chunk size
    assert (reply.status, reply.headers["X-Handled-By"]) == (400, "app")


async def test_the_gunicorn_worker_builds_the_server_with_the_hook() -> None:
    # The worker serves an Application through make_runner(), as gunicorn calls it.
    runner = await make_runner(make_app(), access_log=None)
    try:
        assert runner.server is not None
        assert runner.server.error_handler is on_bad_request
        site = TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        assert site.port is not None
        reply = await exchange(site.port, BAD_HEADER)
    finally:
        await runner.cleanup()
    assert (reply.status, reply.headers["X-Handled-By"]) == (400, "app")
