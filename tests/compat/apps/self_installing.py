"""The first of the three ways: the application module installs the mode itself, before
anything imports aiohttp's server side."""

from runtime.compat.aiohttp import install

install()

from tests.compat.apps.ported import create_app  # noqa: E402 - after install(), on purpose

__all__ = ["create_app"]
