"""Worker signals, gunicorn's meaning for each, delivered through the event loop.

=======  ====================================================================
TERM     graceful stop (the arbiter's stop, HUP reload, TTOU, max_requests)
QUIT     quick stop, after ``cfg.worker_int(worker)``
INT      same as QUIT
USR1     reopen log files
WINCH    ignored
ABRT     the arbiter's watchdog: the loop has not beaten for ``timeout``
=======  ====================================================================

All but ABRT go through ``loop.add_signal_handler``. ABRT is sent precisely when the loop is
stuck, so a loop handler would never run (aiohttp's, uvicorn's and gunicorn's asgi workers
all lose it, §5 of docs/gunicorn-worker.md). It is installed with ``signal.signal``: CPython
runs it in the main thread at the next bytecode, inside whatever blocks the loop, whose
stack it logs before ``cfg.worker_abort`` and ``sys.exit(1)``. The others in gunicorn's
list (HUP, USR2, CHLD) are reset to their defaults, so subprocesses get correct exit codes.
"""

from __future__ import annotations

import asyncio
import signal
import traceback
from collections.abc import Callable, Collection
from types import CodeType, FrameType

__all__ = ["LoopSignals", "format_blocked_stack"]


# The loop calls every callback, and so every task step, from here.
_LOOP_DISPATCH = asyncio.events.Handle._run.__code__


def format_blocked_stack(frame: FrameType | None, outer: Collection[CodeType] = ()) -> str:
    """The stack the main thread was running when the signal arrived, innermost last.

    Frames outside the loop's callback dispatch (gunicorn's arbiter, the worker's run, the
    loop's own machinery) are left out, as are those outside any frame whose code is in
    ``outer``: what remains is the code that holds the loop.
    """
    if frame is None:
        return "  (no frame)\n"
    stops = {_LOOP_DISPATCH, *outer}
    frames: list[tuple[FrameType, int]] = []
    for current, lineno in traceback.walk_stack(frame):
        if current.f_code in stops:
            break
        frames.append((current, lineno))
    else:
        frames = list(traceback.walk_stack(frame))  # no known boundary: show everything
    summary = traceback.StackSummary.extract(reversed(frames))
    return "".join(summary.format())


class LoopSignals:
    """Installs a worker's handlers; ``remove()`` takes the loop ones back off.

    Args:
        loop: the worker's loop (not yet running is fine).
        resets: every signal gunicorn's base worker handles (``Worker.SIGNALS``), put back to
            the default before anything else is installed.
        graceful, quick, reopen_logs, ignore: loop callbacks for TERM, QUIT/INT, USR1, WINCH.
        abort: the ``signal.signal`` handler for ABRT, ``(signum, frame)``.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        resets: list[int],
        *,
        graceful: Callable[[], None],
        quick: Callable[[], None],
        reopen_logs: Callable[[], None],
        ignore: Callable[[], None],
        abort: Callable[[int, FrameType | None], None],
    ) -> None:
        self._loop = loop
        self._resets = resets
        self._handlers = {
            signal.SIGTERM: graceful,
            signal.SIGQUIT: quick,
            signal.SIGINT: quick,
            signal.SIGUSR1: reopen_logs,
            signal.SIGWINCH: ignore,
        }
        self._abort = abort

    def install(self) -> None:
        for signum in self._resets:
            signal.signal(signum, signal.SIG_DFL)
        for signum, handler in self._handlers.items():
            # add_signal_handler also sets SA_RESTART (siginterrupt False), as gunicorn
            # wants for TERM and USR1: system calls in flight are not interrupted.
            self._loop.add_signal_handler(signum, handler)
        signal.signal(signal.SIGABRT, self._abort)

    def remove(self) -> None:
        """The worker is exiting: ignore late signals from now on.

        A TERM sent to the whole process group reaches the worker twice (once from the
        shell or systemd, once from the arbiter). Closing the loop closes its wakeup pipe
        before it restores the default handlers, so a late signal would either hit a closed
        descriptor (a traceback on stderr) or, once SIG_DFL is back, kill the worker with a
        signal instead of letting it exit 0.
        """
        if self._loop.is_closed():
            return
        for signum in self._handlers:
            self._loop.remove_signal_handler(signum)
            signal.signal(signum, signal.SIG_IGN)
        signal.set_wakeup_fd(-1)
