"""The gunicorn worker for aiohttp applications and their extensions, unchanged:
``gunicorn app:create_app -k runtime.workers.GunicornAiohttpCompatWorker``.

It installs the aiohttp compatibility mode (``runtime.compat.aiohttp``, docs/compat.md)
before the application is imported: gunicorn calls ``setup()`` when it loads the worker
class in the arbiter, which is before ``--preload`` imports the application there and
before the workers fork; ``load_wsgi`` installs it again (idempotent) for a worker that
imports the application itself.
"""

from __future__ import annotations

from ..compat.aiohttp import install
from .worker import GunicornUVLoopWebWorker, GunicornWebWorker

__all__ = ["GunicornAiohttpCompatWorker", "GunicornUVLoopAiohttpCompatWorker"]


class GunicornAiohttpCompatWorker(GunicornWebWorker):
    """:class:`GunicornWebWorker` with ``import aiohttp.web`` resolving to Berth."""

    @classmethod
    def setup(cls) -> None:
        """Called by gunicorn's config when it loads this class (in the arbiter)."""
        install()

    def load_wsgi(self) -> None:
        install()
        super().load_wsgi()


class GunicornUVLoopAiohttpCompatWorker(GunicornAiohttpCompatWorker, GunicornUVLoopWebWorker):
    """:class:`GunicornAiohttpCompatWorker` on a uvloop loop (the mode's hooks come first in
    the MRO, then the uvloop worker's)."""
