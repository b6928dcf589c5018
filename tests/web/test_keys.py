"""Typed keys as aiohttp 3.14 prints and orders them, applications that mix key kinds, and
``request.config_dict`` scoped to the application whose code runs."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

import pytest

from runtime import web
from runtime.web.chain_map import ChainMapProxy
from tests.web.support import ClientFactory, send

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
HERE = __name__  # the module the keys below are defined in: their names are prefixed with it

COUNT = web.AppKey("count", int)
REQUEST_TYPED = web.AppKey("req", web.Request)
ITERATOR = web.AppKey("iterator", Iterator[int])
ANNOTATED = web.AppKey[Iterator[int]]("annotated")
META = web.RequestKey("meta", Annotated[int, "meta"])  # type: ignore[arg-type]
UNTYPED: web.ResponseKey[object] = web.ResponseKey("untyped")


def test_the_repr_names_the_defining_module_and_the_type() -> None:
    assert repr(COUNT) == f"<AppKey({HERE}.count, type=int)>"
    assert repr(REQUEST_TYPED) == f"<AppKey({HERE}.req, type=runtime.web.request.Request)>"
    assert COUNT.name == "count"  # the name as given


def test_the_repr_of_a_type_that_is_not_a_class() -> None:
    assert repr(ITERATOR) == f"<AppKey({HERE}.iterator, type=collections.abc.Iterator[int])>"
    # Given as the generic's argument, AppKey[Iterator[int]]("annotated"), not to __init__.
    assert repr(ANNOTATED) == f"<AppKey({HERE}.annotated, type=collections.abc.Iterator[int])>"
    assert repr(META) == f"<RequestKey({HERE}.meta, type=typing.Annotated[int, 'meta'])>"
    assert repr(UNTYPED) == f"<ResponseKey({HERE}.untyped, type=<<Unknown>>)>"


def test_a_key_is_named_after_the_module_whose_code_makes_it() -> None:
    # The nearest module-level code on the stack: here the module that defined COUNT; in a
    # thread's target there is none, and the name stays bare (aiohttp fails there).
    made: list[web.AppKey[int]] = []
    thread = threading.Thread(target=lambda: made.append(web.AppKey("bare", int)))
    thread.start()
    thread.join()
    assert repr(made[0]) == "<AppKey(bare, type=int)>"
    assert repr(COUNT).startswith(f"<AppKey({HERE}.count,")


def test_iterating_an_app_that_mixes_key_kinds() -> None:
    b, c = web.AppKey("b", str), web.AppKey("c", str)
    app = web.Application()
    with pytest.warns(web.NotAppKeyWarning):
        app["a"] = "0"
    app[b] = "1"
    app[c] = "2"
    with pytest.warns(web.NotAppKeyWarning):
        app["d"] = "4"
    assert list(app) == ["a", b, c, "d"]  # insertion order
    assert sorted(app) == [b, c, "a", "d"]  # typed keys first, by name, as in aiohttp
    assert sorted(["d", c, "a", b]) == [b, c, "a", "d"]


# -- config_dict ----------------------------------------------------------------------------

ROOT_ONLY = web.AppKey("root_only", str)
SUB_ONLY = web.AppKey("sub_only", str)
BOTH = web.AppKey("both", str)


async def test_config_dict_is_scoped_to_the_app_whose_code_runs(
    make_client: ClientFactory,
) -> None:
    seen: list[tuple[str, bool, str]] = []

    def observer(where: str) -> Callable[..., Awaitable[web.StreamResponse]]:
        @web.middleware
        async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
            config = request.config_dict
            seen.append((where, SUB_ONLY in config, config[BOTH]))
            return await handler(request)

        return observe

    async def handler(request: web.Request) -> web.Response:
        config = request.config_dict
        seen.append(("handler", SUB_ONLY in config, config[BOTH]))
        return web.Response(text=f"{config[ROOT_ONLY]} {config.get(SUB_ONLY)}")

    root = web.Application(middlewares=[observer("root")])
    root[ROOT_ONLY], root[BOTH] = "r", "root's"
    root.router.add_get("/", handler)
    sub = web.Application(middlewares=[observer("sub")])
    sub[SUB_ONLY], sub[BOTH] = "s", "sub's"
    sub.router.add_get("/", handler)
    root.add_subapp("/sub", sub)
    client = await make_client(root)

    assert (await send(client, "GET", "/sub/")).text == "r s"
    # The parent's middleware sees its own app and up, never its sub-app's keys; the
    # sub-app's middleware and handler see the sub-app first, then the root.
    assert seen == [("root", False, "root's"), ("sub", True, "sub's"), ("handler", True, "sub's")]
    seen.clear()
    assert (await send(client, "GET", "/")).text == "r None"
    assert seen == [("root", False, "root's"), ("handler", False, "root's")]


def test_chain_map_iterates_the_outermost_keys_first() -> None:
    inner, outer = {"b": 1, "x": 2}, {"a": 3, "x": 4}
    chain = ChainMapProxy([inner, outer])
    assert list(chain) == ["a", "x", "b"]
    assert (chain["x"], len(chain), dict(chain)) == (2, 3, {"a": 3, "x": 2, "b": 1})


def test_chain_map_cannot_be_subclassed() -> None:
    with pytest.raises(TypeError, match="ChainMapProxy"):

        class Mine(ChainMapProxy):
            pass
