"""The substitute modules of the aiohttp compatibility mode: which aiohttp module names
resolve to which of Berth's objects (docs/compat.md lists them).

Every substitute carries the whole of ``runtime.web``'s face, as aiohttp's ``web`` re-exports
its ``web_*`` modules, plus the names only that module has. A name Berth lacks fails with an
``AttributeError`` saying so, instead of silently falling back to aiohttp's server.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Final

from .. import web
from ..web.middleware import Handler, Middleware

__all__ = ["SERVER_MODULES", "build"]


def _web_face() -> dict[str, Any]:
    return {name: getattr(web, name) for name in web.__all__}


def _test_utils() -> dict[str, Any]:
    # Deferred, to save start-up time: the test kit (and unittest.mock) only when a test
    # imports aiohttp.test_utils, never in a server running in the mode.
    from .. import testing  # noqa: PLC0415

    return {name: getattr(testing, name) for name in testing.__all__}


def _pytest_plugin() -> dict[str, Any]:
    # Deferred: pytest is a test-time dependency, imported only when a test asks for
    # aiohttp.pytest_plugin, never by a server running in the mode.
    from . import pytest_fixtures  # noqa: PLC0415

    return {name: getattr(pytest_fixtures, name) for name in pytest_fixtures.__all__}


def _middlewares() -> dict[str, Any]:
    return {"Handler": Handler, "Middleware": Middleware}


# aiohttp's module -> what it holds beside runtime.web's face (None: only the face).
_EXTRAS: Final[Mapping[str, Callable[[], dict[str, Any]] | None]] = {
    "aiohttp.web": None,
    "aiohttp.web_app": None,
    "aiohttp.web_exceptions": None,
    "aiohttp.web_fileresponse": None,
    "aiohttp.web_log": None,
    "aiohttp.web_middlewares": _middlewares,
    "aiohttp.web_protocol": None,
    "aiohttp.web_request": None,
    "aiohttp.web_response": None,
    "aiohttp.web_routedef": None,
    "aiohttp.web_runner": None,
    "aiohttp.web_server": None,
    "aiohttp.web_urldispatcher": None,
    "aiohttp.web_ws": None,
    "aiohttp.test_utils": _test_utils,
    "aiohttp.pytest_plugin": _pytest_plugin,
}

SERVER_MODULES: Final = tuple(_EXTRAS)


def _missing(module: str) -> Callable[[str], Any]:
    def __getattr__(name: str) -> Any:
        raise AttributeError(
            f"{module}.{name} is not provided by Berth's aiohttp compatibility mode "
            "(docs/compat.md, limits)"
        )

    return __getattr__


def build(name: str) -> types.ModuleType:
    """A fresh substitute for aiohttp's module ``name`` (one of :data:`SERVER_MODULES`),
    built when it is first imported."""
    module = types.ModuleType(name, f"Berth's stand-in for {name} (runtime.compat.aiohttp).")
    namespace = _web_face()
    extras = _EXTRAS[name]
    if extras is not None:
        namespace.update(extras())
    vars(module).update(namespace)
    module.__all__ = sorted(namespace)  # type: ignore[attr-defined]
    module.__getattr__ = _missing(name)  # type: ignore[method-assign]
    module.__berth_compat__ = True  # type: ignore[attr-defined]
    return module
