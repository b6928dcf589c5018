"""A readiness endpoint for load balancers: 200 while serving, 503 once a graceful stop begins.

::

    app = web.Application()
    app.router.add_get("/ready", web.readiness(app))

The state follows the application's own signals, so it works the same under ``run_app``,
an ``AppRunner`` or the gunicorn worker:

- ``starting`` until ``on_startup`` has run (nothing is listening yet, but a sub-application
  or a test may ask);
- ``ready`` from then on;
- ``draining`` from the moment a graceful stop starts: the first ``on_shutdown`` receiver is
  the one installed here. ``AppRunner.cleanup()`` stops accepting, marks every connection
  closing, then runs ``on_shutdown``, so a health check that is still connected, or arrives
  over a kept-alive connection, is answered 503 (with ``Connection: close``) while in-flight
  requests finish.

``Readiness.drain()`` marks the application ``draining`` by hand and ``Readiness.resume()``
undoes it. With several gunicorn workers (processes) a file is easier to reach:
``readiness(app, drain_file="/run/myapp/drain")`` answers 503 while that file exists, so a
deploy script takes a host out of the load balancer with ``touch`` before restarting it.
Extra ``checks`` (a database ping) make the endpoint answer 503 while one fails.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from .app import AppKey, Application
from .response import Response

if TYPE_CHECKING:
    from .request import Request

__all__ = ["READINESS", "Readiness", "ReadinessState", "readiness"]

readiness_logger = logging.getLogger("runtime.readiness")

Check = Callable[[], Awaitable[object]]


class ReadinessState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


class Readiness:
    """The serving state of one application, and the handler that reports it.

    Args:
        checks: coroutine functions called on each request to the endpoint; one that raises
            (or does not finish within ``check_timeout``) makes the answer 503.
        check_timeout: seconds to wait for the checks.
        drain_file: answer 503 while this file exists.
    """

    def __init__(
        self,
        checks: Iterable[Check] = (),
        *,
        check_timeout: float = 2.0,
        drain_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.state = ReadinessState.STARTING
        self._manual_drain = False
        self._checks = tuple(checks)
        self._check_timeout = check_timeout
        self._drain_file = os.fspath(drain_file) if drain_file is not None else None

    @property
    def ready(self) -> bool:
        """True while the application serves and nobody asked it to drain."""
        return (
            self.state is ReadinessState.READY
            and not self._manual_drain
            and not (self._drain_file is not None and os.path.exists(self._drain_file))
        )

    def drain(self) -> None:
        """Answer 503 from now on, though the application keeps serving other requests."""
        self._manual_drain = True

    def resume(self) -> None:
        """Undo :meth:`drain` (a graceful stop, once begun, cannot be undone)."""
        self._manual_drain = False

    async def on_startup(self, app: Application) -> None:
        if self.state is ReadinessState.STARTING:
            self.state = ReadinessState.READY

    async def on_shutdown(self, app: Application) -> None:
        self.state = ReadinessState.DRAINING

    async def _failed_check(self) -> str | None:
        if not self._checks:
            return None
        try:
            async with asyncio.timeout(self._check_timeout):
                for check in self._checks:
                    await check()
        except TimeoutError:
            readiness_logger.warning("Readiness check timed out after %ss", self._check_timeout)
            return "check timed out"
        except Exception as exc:
            readiness_logger.warning("Readiness check %r failed: %r", check, exc)
            return f"check failed: {type(exc).__name__}"
        return None

    async def handler(self, request: Request) -> Response:
        """``200 ready`` or ``503 draining`` / ``503 starting`` / ``503 check failed``."""
        headers = {"Cache-Control": "no-store"}
        if not self.ready:
            starting = self.state is ReadinessState.STARTING
            reason = "starting" if starting else "draining"
            return Response(status=503, text=f"{reason}\n", headers=headers)
        failure = await self._failed_check()
        if failure is not None:
            return Response(status=503, text=f"{failure}\n", headers=headers)
        return Response(text="ready\n", headers=headers)


READINESS = AppKey("readiness", Readiness)


def readiness(
    app: Application,
    checks: Iterable[Check] = (),
    *,
    check_timeout: float = 2.0,
    drain_file: str | os.PathLike[str] | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """Track ``app``'s serving state and return the readiness handler for it.

    Call it while building the application (before it starts): it registers an
    ``on_startup`` receiver and, first in line, an ``on_shutdown`` receiver, and stores the
    :class:`Readiness` as ``app[READINESS]`` (for ``drain()``/``resume()``).

    Args:
        app: the application whose lifecycle the endpoint reports (the root application,
            or a sub-application: its signals run with its parent's).
        checks: coroutine functions that must succeed for a 200.
        check_timeout: seconds the checks may take together.
        drain_file: answer 503 while this file exists (``touch`` it to take the host out
            of a load balancer, remove it to bring the host back).

    Returns:
        The handler: ``app.router.add_get("/ready", web.readiness(app))``.

    Raises:
        RuntimeError: if ``app`` has already started (its signals are frozen) or already
            has a readiness handler.
    """
    if READINESS in app:
        raise RuntimeError("readiness() was already called for this application")
    state = Readiness(checks, check_timeout=check_timeout, drain_file=drain_file)
    app.on_startup.append(state.on_startup)
    # First, so the endpoint turns 503 before slower receivers (closing WebSockets) run.
    app.on_shutdown.insert(0, state.on_shutdown)
    app[READINESS] = state
    return state.handler
