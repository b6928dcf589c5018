"""The options aiohttp 3.14's ``web.Application``, ``web.Server``, ``AppRunner`` and
``run_app`` take: each is accepted with aiohttp's meaning (docs/web-api.md lists the few
that change nothing here), and a new aiohttp keyword fails a test here."""

from __future__ import annotations

import asyncio
import gzip
import inspect
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp
import pytest
from aiohttp import web as aioweb
from aiohttp.web_protocol import RequestHandler

from runtime import web
from runtime.web.request import BaseRequest
from tests.support import fetch
from tests.web.support import ClientFactory, Probe

# -- the keywords, compared with aiohttp's ----------------------------------------------------


def _keywords(*callables: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    """The named keyword parameters of ``callables`` (each passes ``**kwargs`` on to the
    next), the first one's winning."""
    found: dict[str, inspect.Parameter] = {}
    for fn in callables:
        for name, param in inspect.signature(fn).parameters.items():
            if param.kind in (param.VAR_KEYWORD, param.VAR_POSITIONAL) or name == "self":
                continue
            found.setdefault(name, param)
    return found


# Where each side's **kwargs go: aiohttp's Server hands them to RequestHandler, AppRunner to
# the Server, run_app to AppRunner. Berth's AppRunner hands them to our Server, run_app to
# our AppRunner.
AIOHTTP = {
    "Application": _keywords(aioweb.Application),
    "Server": _keywords(aioweb.Server, RequestHandler),
    "AppRunner": _keywords(aioweb.AppRunner, aioweb.BaseRunner, aioweb.Server, RequestHandler),
    "ServerRunner": _keywords(aioweb.ServerRunner, aioweb.BaseRunner),
    "run_app": _keywords(
        aioweb.run_app, aioweb.AppRunner, aioweb.BaseRunner, aioweb.Server, RequestHandler
    ),
}
BERTH = {
    "Application": _keywords(web.Application),
    "Server": _keywords(web.Server),
    "AppRunner": _keywords(web.AppRunner, web.BaseRunner, web.Server),
    "ServerRunner": _keywords(web.ServerRunner, web.BaseRunner),
    "run_app": _keywords(web.run_app, web.AppRunner, web.BaseRunner, web.Server),
}
# aiohttp's RequestHandler is given these by its Server; they are not the user's to pass.
INTERNAL = {"manager", "handler", "web_server", "app"}


@pytest.mark.parametrize("name", sorted(AIOHTTP))
def test_every_aiohttp_keyword_is_accepted(name: str) -> None:
    missing = set(AIOHTTP[name]) - set(BERTH[name]) - INTERNAL
    assert not missing, f"aiohttp's {name} takes {sorted(missing)}: accept them (web-api.md)"


async def _noop(request: BaseRequest) -> web.StreamResponse:
    return web.Response()


def _values(keywords: Iterable[str], ours: dict[str, inspect.Parameter]) -> dict[str, Any]:
    """Our own default for each keyword aiohttp has: passing it must work. (An application
    brings its own ``request_factory``; passing one to ``AppRunner`` fails in aiohttp too.)"""
    return {
        key: ours[key].default
        for key in keywords
        if key not in INTERNAL
        and key != "request_factory"
        and ours[key].default is not inspect.Parameter.empty
    }


async def test_the_server_and_the_runner_take_aiohttps_keywords() -> None:
    server = web.Server(_noop, **_values(AIOHTTP["Server"], BERTH["Server"]))
    assert server.auto_decompress is True
    runner_kwargs = _values(AIOHTTP["AppRunner"], BERTH["AppRunner"])
    runner = web.AppRunner(
        web.Application(**_values(AIOHTTP["Application"], BERTH["Application"])), **runner_kwargs
    )
    await runner.setup()
    await runner.cleanup()


def test_app_runner_refuses_an_access_log_class_that_is_not_one() -> None:
    with pytest.raises(TypeError, match="AbstractAccessLogger"):
        web.AppRunner(web.Application(), access_log_class=dict)  # type: ignore[arg-type]


# -- client_max_fields --------------------------------------------------------------------------


def _form_app(**app_kwargs: Any) -> web.Application:
    async def count(request: web.Request) -> web.Response:
        return web.Response(text=str(len(await request.post())))

    app = web.Application(**app_kwargs)
    app.router.add_post("/", count)
    return app


async def test_an_urlencoded_form_over_client_max_fields_gets_413(
    make_client: ClientFactory,
) -> None:
    client = await make_client(_form_app(client_max_fields=3))
    ok = await client.post("/", data={"a": "1", "b": "2", "c": "3"})
    over = await client.post("/", data={"a": "1", "b": "2", "c": "3", "d": "4"})
    # Counted as aiohttp counts: each "&"-separated piece, empty ones too.
    trailing = await client.post(
        "/", data=b"a=1&b=2&c=3&", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (ok.status, await ok.text()) == (200, "3")
    assert over.status == trailing.status == 413
    assert await over.text() == "Maximum number of form fields 3 exceeded."


def _multipart(*names: str) -> bytes:
    parts = [
        f'--B\r\nContent-Disposition: form-data; name="{name}"\r\n\r\nv\r\n'.encode()
        for name in names
    ]
    upload = (
        b'--B\r\nContent-Disposition: form-data; name="f"; filename="f.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\ndata\r\n"
    )
    return b"".join(parts) + upload + b"--B--\r\n"


async def test_a_multipart_form_over_client_max_fields_gets_413(
    make_client: ClientFactory,
) -> None:
    client = await make_client(_form_app(client_max_fields=2))
    headers = {"Content-Type": "multipart/form-data; boundary=B"}
    ok = await client.post("/", data=_multipart("a"), headers=headers)
    over = await client.post("/", data=_multipart("a", "b"), headers=headers)
    assert (ok.status, await ok.text()) == (200, "2")
    assert over.status == 413
    assert await over.text() == "Maximum number of form fields 2 exceeded."


async def test_client_max_fields_zero_is_no_limit(make_client: ClientFactory) -> None:
    client = await make_client(_form_app(client_max_fields=0))
    reply = await client.post("/", data={f"k{i}": "v" for i in range(2000)})
    assert (reply.status, await reply.text()) == (200, "2000")


async def test_the_default_is_aiohttps_thousand_fields(probe: Probe) -> None:
    async def fields(request: BaseRequest) -> Any:
        clone = request.clone(client_max_fields=5)
        return request.client_max_fields, clone.client_max_fields

    _, value = await probe(fields)
    assert value == (1000, 5)


# -- auto_decompress ----------------------------------------------------------------------------


async def _echo(request: BaseRequest) -> web.StreamResponse:
    body = await request.read()
    return web.Response(
        body=body,
        headers={
            "X-Seen-Encoding": request.headers.get("Content-Encoding", "-"),
            "X-Seen-Length": str(request.content_length),
        },
    )


def _echo_app(**app_kwargs: Any) -> web.Application:
    app = web.Application(**app_kwargs)
    app.router.add_post("/", _echo)
    return app


async def test_a_gzip_request_body_reaches_the_handler_decoded(make_client: ClientFactory) -> None:
    # aiohttp's test_auto_decompress, with the real aiohttp client as the peer.
    plain = b"dataaaaaaaaaaaaaaaaaaaaaaaaa"
    client = await make_client(_echo_app())
    assert client.port is not None
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"http://127.0.0.1:{client.port}/",
            data=gzip.compress(plain),
            headers={"Content-Encoding": "gzip"},
        ) as reply,
    ):
        assert reply.status == 200
        assert await reply.read() == plain
        assert reply.headers["X-Seen-Encoding"] == "-"
        assert reply.headers["X-Seen-Length"] == "None"


async def test_auto_decompress_false_hands_the_body_on_as_sent(
    make_client: ClientFactory,
) -> None:
    body = gzip.compress(b"dataaaaaaaaaaaaaaaaaaaaaaaaa")
    client = await make_client(_echo_app(handler_args={"auto_decompress": False}))
    reply = await client.post("/", data=body, headers={"Content-Encoding": "gzip"})
    assert await reply.read() == body
    assert reply.headers["X-Seen-Encoding"] == "gzip"


async def test_a_decoded_body_is_capped_at_client_max_size(make_client: ClientFactory) -> None:
    bomb = gzip.compress(bytes(4 * 1024 * 1024))  # 4 MiB of zeros in about 4 KB
    client = await make_client(_echo_app())
    reply = await client.post("/", data=bomb, headers={"Content-Encoding": "gzip"})
    assert reply.status == 413


async def test_a_body_not_valid_for_its_coding_gets_400_an_unknown_coding_passes(
    make_client: ClientFactory,
) -> None:
    client = await make_client(_echo_app())
    malformed = await client.post("/", data=b"not gzip", headers={"Content-Encoding": "gzip"})
    unknown = await client.post("/", data=b"\x28\xb5", headers={"Content-Encoding": "compress"})
    assert malformed.status == 400  # RFC 9110 15.5.1
    assert await unknown.read() == b"\x28\xb5"
    assert unknown.headers["X-Seen-Encoding"] == "compress"


# -- read_bufsize, tcp_keepalive -----------------------------------------------------------------


async def test_read_bufsize_is_the_body_buffer(probe: Probe) -> None:
    async def high_water(request: BaseRequest) -> int:
        return request.protocol.config.read_high_water

    _, default = await probe(high_water)
    _, small = await probe(high_water, server_kwargs={"read_bufsize": 4096})
    assert (default, small) == (2**16, 4096)


async def test_the_body_stream_reports_its_limits_as_aiohttps_does(probe: Probe) -> None:
    async def limits(request: BaseRequest) -> list[int]:
        return list(request.content.get_read_buffer_limits())

    _, small = await probe(limits, "POST", data=b"x", server_kwargs={"read_bufsize": 4096})
    assert small == [2048, 4096]  # resumes at or below 2048 unread bytes, pauses above 4096


async def test_tcp_keepalive_probes_are_on_unless_turned_off(probe: Probe) -> None:
    async def keepalive(request: BaseRequest) -> int:
        assert request.transport is not None
        sock = request.transport.get_extra_info("socket")
        return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE))

    _, on = await probe(keepalive)
    _, off = await probe(keepalive, server_kwargs={"tcp_keepalive": False})
    assert (on, off) == (1, 0)


# -- run_app passes the rest on ----------------------------------------------------------------


def test_run_app_passes_other_keywords_to_the_server(unused_port: Callable[[], int]) -> None:
    # A real run_app in a process of its own: auto_decompress=False reaches the server.
    port = unused_port()
    script = textwrap.dedent(
        f"""
        import os, signal
        from runtime import web

        async def echo(request):
            body = await request.read()
            os.kill(os.getpid(), signal.SIGINT)  # answer, then stop gracefully
            return web.Response(body=body)

        app = web.Application()
        app.router.add_post("/", echo)
        web.run_app(app, host="127.0.0.1", port={port}, print=None, auto_decompress=False)
        """
    )
    body = gzip.compress(b"as sent")
    with subprocess.Popen([sys.executable, "-c", script]) as proc:
        try:
            reply = _post_when_up(port, body)
        finally:
            proc.wait(timeout=30)
    assert reply == body
    assert proc.returncode == 0


def _post_when_up(port: int, body: bytes) -> bytes:
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    reply = asyncio.run(fetch(port, "POST", "/", headers=[("Content-Encoding", "gzip")], body=body))
    return reply.body
