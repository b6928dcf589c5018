"""pytest plugin for the Berth runs of the extensions' suites: ``-p berth_compat`` first.

Imported while pytest reads its command line, before any entry-point plugin or conftest,
so ``runtime.compat.aiohttp.install()`` runs before anything imports ``aiohttp.web``: the
extensions and their tests then build on Berth's objects, and the client stays aiohttp's.

The runs also block pytest-aiohttp and pytest-asyncio (``-p no:aiohttp -p no:asyncio``,
``run.py``) and use what the mode provides instead, as a project ported to Berth would:
Berth's own pytest plugin runs the ``async def`` tests and fixtures, and the mode's
``aiohttp.pytest_plugin`` gives them ``aiohttp_client``, ``aiohttp_server`` and
``aiohttp_raw_server`` on Berth's test kit. Both are registered here rather than with
``-p``, as pytest would warn (an error under the suites' ``filterwarnings = error``) that
modules imported by ``install()`` can no longer have their asserts rewritten.
"""

from __future__ import annotations

import importlib
import sys

import pytest

from runtime import web
from runtime.compat.aiohttp import install
from runtime.testing import pytest_plugin as berth_plugin

# Berth's modules above import nothing of aiohttp's server side; install() must come first.
if "aiohttp.web" in sys.modules:  # pragma: no cover - a harness mistake, said loudly
    raise pytest.UsageError("berth_compat must load before anything imports aiohttp.web")
install()


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    """Register Berth's plugin and the mode's fixtures as this plugin registers."""
    pluginmanager.register(berth_plugin, "berth")
    pluginmanager.register(sys.modules["aiohttp.pytest_plugin"], "aiohttp.pytest_plugin")


def pytest_addoption(parser: pytest.Parser) -> None:
    """pytest-asyncio's ini keys, which the suites' configurations set while the plugin
    that reads them is left out (unknown keys warn, and the suites make warnings errors)."""
    parser.addini("asyncio_mode", "pytest-asyncio's (left out of the Berth runs)")
    parser.addini("asyncio_default_fixture_loop_scope", "pytest-asyncio's (left out)")


def pytest_configure() -> None:
    """Refuse to run unless ``aiohttp.web`` really is Berth's by now."""
    if importlib.import_module("aiohttp.web").Application is not web.Application:
        raise pytest.UsageError("aiohttp.web is not Berth's: the compatibility mode is off")
