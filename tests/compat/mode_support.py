"""The compatibility mode for one test: installed, then undone with every module that
imported the substitutes, so the next test imports aiohttp's own again."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from runtime.compat import aiohttp as compat_aiohttp

# Modules a test may import under the mode; forgotten afterwards so they rebind.
_EXTENSIONS = ("aiohttp_jinja2", "aiohttp_session", "aiohttp_cors", "aiohttp_sse")


@contextmanager
def compat_mode() -> Iterator[None]:
    before = set(sys.modules)
    compat_aiohttp.install()
    try:
        yield
    finally:
        compat_aiohttp.uninstall()
        for name in set(sys.modules) - before:
            if name.startswith(_EXTENSIONS) or name.startswith("tests.compat.apps"):
                del sys.modules[name]
