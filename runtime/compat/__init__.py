"""Compatibility modes: running code written for another framework on Berth.

``runtime.compat.aiohttp.install()`` makes ``aiohttp.web`` and the server-side modules
aiohttp's extensions import resolve to Berth's objects (docs/compat.md).
"""
