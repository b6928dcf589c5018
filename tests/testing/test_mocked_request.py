"""make_mocked_request: aiohttp.test_utils' mocked request, on Berth's Request."""

from __future__ import annotations

import asyncio
import inspect
import ssl

import aiohttp.test_utils
import pytest

from runtime import web
from runtime.testing import make_mocked_coro, make_mocked_request


def test_signature_and_defaults_are_aiohttps() -> None:
    ours = inspect.signature(make_mocked_request).parameters
    theirs = inspect.signature(aiohttp.test_utils.make_mocked_request).parameters
    assert list(ours) == list(theirs)
    for name, param in theirs.items():
        assert ours[name].kind == param.kind, name
        if param.default is aiohttp.test_utils.sentinel:
            assert repr(ours[name].default) == "<sentinel>", name
        elif name != "payload":  # each framework's own empty stream
            assert ours[name].default == param.default, name


def test_method_path_query_and_headers() -> None:
    request = make_mocked_request("post", "/a/b?x=1", {"Host": "example.com", "X-A": "1"})
    assert isinstance(request, web.Request)
    assert request.method == "POST"
    assert request.path == "/a/b"
    assert request.query["x"] == "1"
    assert request.headers["x-a"] == "1"
    assert request.host == "example.com"
    assert request.version == web.HttpVersion11
    assert request.keep_alive
    assert not request.secure
    assert request.match_info == {}


def test_headers_as_pairs_keep_repeats() -> None:
    request = make_mocked_request("GET", "/", [("Cookie", "a=1"), ("X-A", "1"), ("X-A", "2")])
    assert request.headers.getall("X-A") == ["1", "2"]
    assert request.cookies == {"a": "1"}


def test_http_10_and_closing_end_keep_alive() -> None:
    assert not make_mocked_request("GET", "/", version=web.HttpVersion10).keep_alive
    assert not make_mocked_request("GET", "/", closing=True).keep_alive


def test_sslcontext_makes_it_secure() -> None:
    context = ssl.create_default_context()
    request = make_mocked_request("GET", "/", sslcontext=context)
    assert request.secure
    assert request.scheme == "https"


def test_match_info_and_the_default_app() -> None:
    request = make_mocked_request("GET", "/u/7", match_info={"id": "7"})
    assert request.match_info["id"] == "7"
    request.app["db"] = "conn"
    assert request.app["db"] == "conn"
    assert request.config_dict["db"] == "conn"


def test_a_real_app_is_the_current_app() -> None:
    key = web.AppKey("key", int)
    app = web.Application()
    app[key] = 3
    request = make_mocked_request("GET", "/", app=app)
    assert request.app is app
    assert request.config_dict[key] == 3


def test_outside_a_loop_the_loop_is_a_mock() -> None:
    request = make_mocked_request("GET", "/")
    assert not isinstance(request._loop, asyncio.AbstractEventLoop)


async def test_inside_a_loop_it_is_the_running_loop() -> None:
    request = make_mocked_request("GET", "/")
    assert request._loop is asyncio.get_running_loop()


async def test_a_response_is_written_to_the_transport() -> None:
    request = make_mocked_request("GET", "/")
    response = web.StreamResponse()
    response.headers["X-Seen"] = "yes"
    await response.prepare(request)
    await response.write(b"data")
    await response.write_eof()
    sent = b"".join(call.args[0] for call in request.transport.write.call_args_list)
    assert sent.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"X-Seen: yes\r\n" in sent
    assert sent.endswith(b"4\r\ndata\r\n0\r\n\r\n")


async def test_a_given_writer_is_used() -> None:
    writer = make_mocked_coro(None)
    request = make_mocked_request("GET", "/", writer=writer)
    assert request.writer is writer


async def test_make_mocked_coro() -> None:
    coro = make_mocked_coro(5)
    assert await coro(1, a=2) == 5
    coro.assert_called_once_with(1, a=2)
    failing = make_mocked_coro(raise_exception=ValueError("no"))
    with pytest.raises(ValueError, match="no"):
        await failing()
