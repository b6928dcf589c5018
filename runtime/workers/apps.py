"""From what gunicorn loaded (``pkg:create_app``) to a set-up runner.

gunicorn imports the target (in the arbiter with ``--preload``, else in each worker) and,
for ``pkg:create_app(...)`` with parentheses, calls it at import time. What reaches the
worker is therefore an ``Application``, a sync or async factory, or (from a factory) a
runner. Everything bound to an event loop is created here, inside the worker's loop.
"""

from __future__ import annotations

from typing import Any

from ..web import (
    Application,
    AppRunner,
    BaseRequest,
    BaseRunner,
    Response,
    Server,
    ServerRunner,
    StreamResponse,
)
from ..web.loader import resolve_app

__all__ = ["make_error_app", "make_runner"]


async def make_runner(target: Any, **server_kwargs: Any) -> BaseRunner:
    """Resolve ``target`` and return a runner that is set up (startup hooks have run).

    ``server_kwargs`` configure the server of an ``Application``; a runner the factory
    built keeps its own settings (the worker applies gunicorn's on top after setup).

    Raises:
        TypeError: the target or the factory's result is not an application or runner.
        Exception: whatever the factory or the startup hooks raise.
    """
    resolved = await resolve_app(target)
    if isinstance(resolved, Application):
        resolved = AppRunner(resolved, **server_kwargs)
    runner: BaseRunner = resolved
    if runner.server is None:
        await runner.setup()
    return runner


def make_error_app(text: str) -> Any:
    """What a worker serves when ``--reload`` met a SyntaxError: a 500 with the traceback
    on every request, until the reloader sees the file fixed (development only)."""
    body = f"Application failed to load (the worker restarts when the file changes):\n\n{text}"

    async def failed(request: BaseRequest) -> StreamResponse:
        return Response(status=500, text=body)

    def factory() -> BaseRunner:
        return ServerRunner(Server(failed))

    return factory
