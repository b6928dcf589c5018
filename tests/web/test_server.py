"""``web.Server``: what a handler's failures and a client's departure become, as aiohttp
makes them."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import runtime
from runtime import web
from tests.support import Connection, build_request, fetch, read_chunk, read_head, serve


async def test_handler_timeout_is_504() -> None:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        await asyncio.wait_for(asyncio.Event().wait(), 0.01)  # an upstream that never answers
        return web.Response(text="unreachable")

    async with serve(handler) as port, await Connection.open(port) as conn:
        first = await conn.request()
        second = await conn.request()  # answered on the same connection
    assert (first.status, second.status) == (504, 504)
    assert first.text == "504: Gateway Timeout"


async def test_client_gone_mid_stream_is_visible_without_handler_cancellation() -> None:
    """What server-sent-event loops rely on: once the client leaves, the transport is gone
    and the next write raises, though the handler is not cancelled."""
    client_gone = asyncio.Event()
    seen: dict[str, Any] = {}

    async def events(request: web.BaseRequest) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: 1\n\n")
        await client_gone.wait()
        for _ in range(500):  # the close reaches us in a moment
            if request.transport is None:
                break
            await asyncio.sleep(0.01)
        seen["transport"] = request.transport
        try:
            await response.write(b"data: 2\n\n")
        except Exception as exc:
            seen["error"] = exc
        seen["done"] = True
        return response

    async with serve(events, handler_cancellation=False) as port:
        conn = await Connection.open(port)
        conn.writer.write(build_request(host="localhost"))
        await read_head(conn.reader)
        assert await read_chunk(conn.reader) == b"data: 1\n\n"
        await conn.close()
        client_gone.set()
        for _ in range(500):
            if "done" in seen:
                break
            await asyncio.sleep(0.01)
    assert seen["transport"] is None
    error = seen["error"]
    assert isinstance(error, ConnectionResetError)
    assert isinstance(error, runtime.ClientConnectionError)
    assert isinstance(error, runtime.ClientConnectionResetError)


async def test_half_closed_client_still_gets_its_answer() -> None:
    """A client that stops sending before the answer began is waiting for it (RFC 9112
    9.6): only once a response is under way does a close mean the client has gone."""

    async def slow(request: web.BaseRequest) -> web.StreamResponse:
        await asyncio.sleep(0.05)  # the FIN arrives first
        return web.Response(text="still answered")

    async with serve(slow) as port:
        loop = asyncio.get_running_loop()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setblocking(False)
            await loop.sock_sendall(sock, build_request(host="localhost"))
            sock.shutdown(socket.SHUT_WR)
            received = b""
            while chunk := await loop.sock_recv(sock, 65536):
                received += chunk
    assert received.startswith(b"HTTP/1.1 200 OK")
    assert received.endswith(b"still answered")


async def _fails(request: web.BaseRequest) -> web.StreamResponse:
    raise RuntimeError("kaboom")


async def test_an_unhandled_error_answers_aiohttps_plain_500_page(
    caplog: Any,
) -> None:
    async with serve(_fails) as port, await Connection.open(port) as conn:
        reply = await conn.request()
    assert reply.status == 500
    assert reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text == "500 Internal Server Error\n\nServer got itself in trouble"
    assert "Error handling request from 127.0.0.1" in caplog.text  # aiohttp's words


async def test_a_browser_gets_the_500_page_in_html_with_the_traceback_in_debug() -> None:
    accept = [("Accept", "text/html,application/xhtml+xml")]
    async with serve(_fails) as port, await Connection.open(port) as conn:
        plain = await conn.request(headers=accept)
    async with serve(_fails, debug=True) as port, await Connection.open(port) as conn:
        debug_html = await conn.request(headers=accept)
        debug_text = await conn.request()
    assert plain.headers["Content-Type"].startswith("text/html")
    assert plain.text == (
        "<html><head><title>500 Internal Server Error</title></head><body>\n"
        "<h1>500 Internal Server Error</h1>\nServer got itself in trouble\n</body></html>\n"
    )
    assert debug_html.text.startswith(
        "<html><head><title>500 Internal Server Error</title></head><body>\n"
        "<h1>500 Internal Server Error</h1>\n<h2>Traceback:</h2>\n"
        "<pre>Traceback (most recent call last):\n"
    )
    assert "RuntimeError: kaboom" in debug_html.text
    assert debug_text.text.startswith(
        "500 Internal Server Error\n\nTraceback (most recent call last):\n"
    )


async def test_keepalive_timeout_zero_closes_each_connection_once_answered() -> None:
    """As aiohttp and gunicorn's ``--keep-alive 0`` mean it; a pause before the first
    request is still allowed."""

    async def ok(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(text="ok")

    async with serve(ok, keepalive_timeout=0) as port, await Connection.open(port) as conn:
        await asyncio.sleep(0.05)
        reply = await conn.request()
        rest = await asyncio.wait_for(conn.reader.read(), 5)
    assert (reply.status, reply.text, rest) == (200, "ok", b"")
    assert reply.headers["Connection"] == "close"


async def test_debug_records_use_aiohttps_words(caplog: Any) -> None:
    # Code and tests written for aiohttp match on these records (a mocked logger's calls).
    caplog.set_level("DEBUG", "runtime.server")

    async def times_out(request: web.BaseRequest) -> web.StreamResponse:
        raise TimeoutError("upstream")

    async def cancelled(request: web.BaseRequest) -> web.StreamResponse:
        raise asyncio.CancelledError()

    async with serve(times_out) as port, await Connection.open(port) as conn:
        assert (await conn.request()).status == 504
    assert "Request handler timed out." in caplog.messages
    async with serve(cancelled) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(build_request("GET", "/"))
        assert await reader.read() == b""  # closed without an answer
        writer.close()
    assert "Ignored premature client disconnection" in caplog.messages


async def test_each_request_runs_in_a_named_task() -> None:
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None and task is request.task
        return web.Response(text=task.get_name())

    async with serve(handler) as port, await Connection.open(port) as conn:
        first, second = await conn.request(), await conn.request()
    assert first.text == second.text == "berth-request"


async def test_a_task_factory_set_on_the_loop_makes_the_request_tasks() -> None:
    """A factory (context propagation, a task monitor) sees every request's task, on every
    Python version: the direct path to ``asyncio.Task`` is only taken without one."""
    loop = asyncio.get_running_loop()
    made: list[asyncio.Task[Any]] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        made.append(task)
        return task

    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        return web.Response(text=str(asyncio.current_task() in made))

    loop.set_task_factory(factory)
    try:
        async with serve(handler) as port, await Connection.open(port) as conn:
            reply = await conn.request()
    finally:
        loop.set_task_factory(None)
    assert reply.text == "True"


class KeywordRequest(web.BaseRequest):
    """A request class with a constructor of its own, keyword limits only (aiohttp's form)."""

    __slots__ = ("built_with",)

    def __init__(self, *args: Any, client_max_size: int, client_max_fields: int) -> None:
        super().__init__(
            *args, client_max_size=client_max_size, client_max_fields=client_max_fields
        )
        self.built_with = (client_max_size, client_max_fields)


def keyword_factory(*args: Any, **kwargs: Any) -> web.BaseRequest:
    return web.BaseRequest(*args, **kwargs)


async def test_every_kind_of_request_factory_gets_the_servers_limits() -> None:
    # web.BaseRequest and web.Request get the limits by position (cheaper); a subclass with
    # its own constructor and a plain function get them by keyword, as in aiohttp.
    async def handler(request: web.BaseRequest) -> web.StreamResponse:
        limits = (request.client_max_size, request._client_max_fields)
        built = getattr(request, "built_with", limits)
        return web.Response(text=f"{type(request).__name__} {limits} {built}")

    for factory, name in (
        (None, "BaseRequest"),
        (web.Request, "Request"),
        (KeywordRequest, "KeywordRequest"),
        (keyword_factory, "BaseRequest"),
    ):
        async with serve(
            handler, request_factory=factory, client_max_size=123, client_max_fields=45
        ) as port:
            reply = await fetch(port)
        assert reply.text == f"{name} (123, 45) (123, 45)", factory
