"""A child server process as the supervisor sees it: started on the shared socket, loaded
or not (the ready pipe says), stopped gracefully."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys

from .child import READY
from .serving import ServeOptions

__all__ = ["Child"]

# Past its own shutdown_timeout, a child that still runs is killed.
STOP_MARGIN = 5.0


class Child:
    """One server process, its ready pipe (child to supervisor) and its lifeline (the
    supervisor's end, whose closing tells the child to stop)."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        ready: asyncio.StreamReader,
        ready_transport: asyncio.ReadTransport,
        lifeline: int,
    ) -> None:
        self.process = process
        self._ready = ready
        self._ready_transport = ready_transport
        self._lifeline = lifeline

    @property
    def pid(self) -> int:
        return self.process.pid

    @classmethod
    async def start(cls, sock: socket.socket, options: ServeOptions) -> Child:
        """Start a server on ``sock``; it loads the application in its own process."""
        ready_r, ready_w = os.pipe()
        lifeline_r, lifeline_w = os.pipe()
        argv = [
            *("-m", "runtime.devserver.child"),
            *("--listen-fd", str(sock.fileno())),
            *("--ready-fd", str(ready_w)),
            *("--lifeline-fd", str(lifeline_r)),
            *options.to_argv(),
        ]
        # Each child imports the edited modules afresh; a .pyc written by the previous
        # one could be taken for current when an edit keeps the size within one second.
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable, *argv, pass_fds=(sock.fileno(), ready_w, lifeline_r), env=env
            )
        except BaseException:
            for fd in (ready_r, lifeline_w):
                os.close(fd)
            raise
        finally:
            for fd in (ready_w, lifeline_r):  # the child's ends
                os.close(fd)
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(ready_r, "rb", buffering=0)
        )
        return cls(process, reader, transport, lifeline_w)

    async def loaded(self) -> str | None:
        """Wait until the child serves (None) or gives up: then the reason, most often the
        traceback of the import or of the factory, once the child has exited."""
        line = await self._ready.readline()
        if line == READY.encode():
            return None
        text = (line + await self._ready.read()).decode(errors="replace")
        code = await self.process.wait()
        return text or f"The server process exited with code {code} before it served.\n"

    async def stop(self, timeout: float) -> int:
        """Stop gracefully (SIGTERM), killing it past ``timeout`` + a margin; its exit code."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout + STOP_MARGIN)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        self._ready_transport.close()
        if self._lifeline >= 0:
            os.close(self._lifeline)
            self._lifeline = -1
        return self.process.returncode if self.process.returncode is not None else -1
