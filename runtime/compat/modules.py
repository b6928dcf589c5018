"""The substitute modules of the aiohttp compatibility mode: which aiohttp module names
resolve to which of Berth's objects (docs/compat.md lists them).

Every substitute carries the whole of ``runtime.web``'s face, as aiohttp's ``web`` re-exports
its ``web_*`` modules, plus the names only that module has. Those extra names are loaded on
first use, so a server in the mode never imports the test kit or pytest for
``aiohttp.test_utils`` and ``aiohttp.pytest_plugin``. A name Berth lacks fails with an
``AttributeError`` saying so, instead of silently falling back to aiohttp's server.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Final

from .. import web
from ..web.middleware import Handler, Middleware

__all__ = ["SERVER_MODULES", "build"]

Extras = Callable[[], Mapping[str, Any]]

_TEST_UTILS: Final = (
    "BaseTestServer",
    "RawTestServer",
    "TestClient",
    "TestServer",
    "loop_context",
    "make_mocked_coro",
    "make_mocked_request",
    "unused_port",
)
_PYTEST_PLUGIN: Final = (
    "AiohttpClient",
    "AiohttpRawServer",
    "AiohttpServer",
    "aiohttp_client",
    "aiohttp_raw_server",
    "aiohttp_server",
    "aiohttp_unused_port",
)
_MIDDLEWARES: Final = ("Handler", "Middleware")


def _test_utils() -> Mapping[str, Any]:
    # Deferred, to save start-up time: the test kit (and unittest.mock) only when a test
    # reaches into aiohttp.test_utils, never in a server running in the mode.
    from .. import testing  # noqa: PLC0415
    from .test_client import AiohttpTestClient  # noqa: PLC0415

    names = {name: getattr(testing, name) for name in _TEST_UTILS}
    names["TestClient"] = AiohttpTestClient  # the client stays aiohttp's
    return names


def _pytest_plugin() -> Mapping[str, Any]:
    # Deferred: pytest is a test-time dependency, imported only when pytest loads
    # aiohttp.pytest_plugin, never by a server running in the mode.
    from . import pytest_fixtures  # noqa: PLC0415

    return {name: getattr(pytest_fixtures, name) for name in _PYTEST_PLUGIN}


def _middlewares() -> Mapping[str, Any]:
    return {"Handler": Handler, "Middleware": Middleware}


# aiohttp's module -> its own names beside runtime.web's face, and where they come from.
_EXTRAS: Final[Mapping[str, tuple[tuple[str, ...], Extras] | None]] = {
    "aiohttp.web": None,
    "aiohttp.web_app": None,
    "aiohttp.web_exceptions": None,
    "aiohttp.web_fileresponse": None,
    "aiohttp.web_log": None,
    "aiohttp.web_middlewares": (_MIDDLEWARES, _middlewares),
    "aiohttp.web_protocol": None,
    "aiohttp.web_request": None,
    "aiohttp.web_response": None,
    "aiohttp.web_routedef": None,
    "aiohttp.web_runner": None,
    "aiohttp.web_server": None,
    "aiohttp.web_urldispatcher": None,
    "aiohttp.web_ws": None,
    "aiohttp.test_utils": (_TEST_UTILS, _test_utils),
    "aiohttp.pytest_plugin": (_PYTEST_PLUGIN, _pytest_plugin),
}

SERVER_MODULES: Final = tuple(_EXTRAS)


def build(name: str) -> types.ModuleType:
    """A fresh substitute for aiohttp's module ``name`` (one of :data:`SERVER_MODULES`)."""
    doc = f"Berth's stand-in for {name} (runtime.compat.aiohttp)."
    if name == "aiohttp.pytest_plugin":
        # Loaded by pytest_plugins or -p after install() made it: pytest would warn that it
        # cannot rewrite its asserts, of which it has none.
        doc += " PYTEST_DONT_REWRITE"
    module = types.ModuleType(name, doc)
    namespace = vars(module)
    namespace.update({attr: getattr(web, attr) for attr in web.__all__})
    extras = _EXTRAS[name]
    extra_names, load = extras if extras is not None else ((), None)
    namespace["__all__"] = sorted({*web.__all__, *extra_names})
    namespace["__berth_compat__"] = True

    def load_extras() -> None:
        nonlocal load
        if load is not None:
            namespace.update(load())
            load = None

    def __getattr__(attr: str) -> Any:
        if attr in extra_names:
            load_extras()
            return namespace[attr]
        raise AttributeError(
            f"{name}.{attr} is not provided by Berth's aiohttp compatibility mode "
            "(docs/compat.md, limits)"
        )

    def __dir__() -> list[str]:
        load_extras()  # pytest lists a plugin module's names to find its fixtures
        return sorted(namespace)

    namespace["__getattr__"] = __getattr__
    namespace["__dir__"] = __dir__
    return module
