"""aiohttp compatibility mode: aiohttp's server-side modules resolve to Berth's objects.

Call :func:`install` before the application and its extensions import aiohttp::

    from runtime.compat.aiohttp import install
    install()
    import aiohttp_jinja2              # now builds on runtime.web
    from aiohttp import web            # runtime.web's objects

``aiohttp.web``, its ``web_*`` modules, ``aiohttp.test_utils`` and ``aiohttp.pytest_plugin``
become substitutes (``modules.py``); in ``aiohttp.abc`` and ``aiohttp.typedefs`` only the
server-side names change, as the client uses those modules too. Everything else, the client
first (``aiohttp.ClientSession``), stays aiohttp's.
``python -m runtime --aiohttp-compat`` and ``runtime.workers.GunicornAiohttpCompatWorker``
call it for you (docs/compat.md).
"""

from __future__ import annotations

import sys
import types
from typing import Any, Final

from .. import web
from ..web.middleware import Handler, Middleware
from . import modules

__all__ = ["AiohttpMissingError", "install", "installed", "uninstall"]

_MISSING: Final = object()

# Server-side names patched in place in aiohttp modules the client shares.
_PATCHED_ATTRIBUTES: Final = (
    ("aiohttp.abc", "AbstractAccessLogger", web.AbstractAccessLogger),
    ("aiohttp.typedefs", "Handler", Handler),
    ("aiohttp.typedefs", "Middleware", Middleware),
)


class AiohttpMissingError(ImportError):
    """The mode was asked for but aiohttp, whose client it keeps, is not installed."""


class _Installation:
    """What :func:`install` replaced, to put back in :func:`uninstall`."""

    def __init__(self, package: types.ModuleType) -> None:
        self.package = package
        self.modules: dict[str, object] = {}
        self.package_attributes: dict[str, object] = {}
        self.attributes: list[tuple[types.ModuleType, str, object]] = []


_installation: _Installation | None = None


def _import_aiohttp() -> types.ModuleType:
    try:
        import aiohttp  # noqa: PLC0415 - an optional dependency, needed only by this mode
        import aiohttp.abc  # noqa: PLC0415
        import aiohttp.typedefs  # noqa: PLC0415
    except ImportError as exc:
        raise AiohttpMissingError(
            "Berth's aiohttp compatibility mode needs aiohttp itself (its client stays "
            "aiohttp's): pip install aiohttp"
        ) from exc
    return aiohttp


def installed() -> bool:
    """Whether the mode is in force."""
    return _installation is not None


def install() -> None:
    """Make aiohttp's server-side modules resolve to Berth's; calling it again does nothing.

    Modules that imported aiohttp's own ``aiohttp.web`` before keep it: install first.

    Raises:
        AiohttpMissingError: aiohttp is not installed (an ``ImportError``).
    """
    global _installation  # noqa: PLW0603 - the mode is process-wide, as sys.modules is
    if _installation is not None:
        return
    record = _Installation(_import_aiohttp())
    for name in modules.SERVER_MODULES:
        short = name.rpartition(".")[2]
        record.modules[name] = sys.modules.get(name, _MISSING)
        record.package_attributes[short] = vars(record.package).get(short, _MISSING)
        substitute = modules.build(name)
        sys.modules[name] = substitute
        setattr(record.package, short, substitute)
    for module_name, attribute, value in _PATCHED_ATTRIBUTES:
        module = sys.modules[module_name]
        record.attributes.append((module, attribute, getattr(module, attribute, _MISSING)))
        setattr(module, attribute, value)
    # ABC registration: seen by modules that imported AbstractView before the mode too.
    record.package.abc.AbstractView.register(web.View)
    _installation = record


def uninstall() -> None:
    """Put aiohttp's own modules back (for tests); modules that imported the substitutes
    keep what they imported."""
    global _installation  # noqa: PLW0603
    record = _installation
    if record is None:
        return
    _installation = None
    package: Any = record.package
    for name, previous in record.modules.items():
        sys.modules.pop(name, None)
        if previous is not _MISSING:
            sys.modules[name] = previous  # type: ignore[assignment]
    for short, previous in record.package_attributes.items():
        vars(package).pop(short, None)
        if previous is not _MISSING:
            setattr(package, short, previous)
    for module, attribute, previous in reversed(record.attributes):
        if previous is _MISSING:
            vars(module).pop(attribute, None)
        else:
            setattr(module, attribute, previous)
    abstract_view = package.abc.AbstractView
    abstract_view._abc_registry_clear()
    abstract_view._abc_caches_clear()
