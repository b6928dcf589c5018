"""``GunicornWebWorker``: ``gunicorn 'pkg:create_app' -k runtime.workers.GunicornWebWorker``.

The gunicorn 27 worker contract and the reasons behind each choice here are in
docs/gunicorn-worker.md. In short: the loop exists before gunicorn installs signals; the
app loads inside it; the worker reports ``booted`` only once it listens (a failed start
exits with gunicorn's boot-error code, 3, and the arbiter halts instead of respawning); a
loop timer beats the heartbeat until the very end; a stop is bounded by
``graceful_timeout``; the loop is torn down without leftovers, and the exit is 0.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from gunicorn.workers import base

from ..http.forwarded import AllowList, ForwardedTrust
from ..web import BaseRunner, Server, shutdown_websockets
from .accept import ConnectionLimit, GunicornSite
from .adapter import RequestAdapter, limits_from_config
from .apps import make_error_app, make_runner
from .header_map import header_name_policy
from .heartbeat import Heartbeat, heartbeat_interval
from .posix_signals import LoopSignals, format_blocked_stack
from .proxy_gate import ProxyProtocolGate
from .shutdown import QUICK_TIMEOUT, Drain, ShutdownTiming

__all__ = ["GunicornUVLoopWebWorker", "GunicornWebWorker"]

_TEARDOWN_TIMEOUT = 1.0
_WEBSOCKET_CLOSE_TIMEOUT = 2.0


class GunicornWebWorker(base.Worker):  # type: ignore[misc] # gunicorn ships no type hints
    """A gunicorn worker serving a Berth application on an asyncio loop.

    The target may be an ``Application``, a sync or an async factory returning an
    ``Application`` or a runner (``AppRunner``, ``ServerRunner``).
    """

    #: Seconds an idle keep-alive connection stays open once a graceful stop begins, so a
    #: request already sent is answered (with ``Connection: close``) instead of lost.
    shutdown_grace = 1.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # in the arbiter, before fork: nothing loop-bound
        self.loop: asyncio.AbstractEventLoop | None = None
        self.runner: BaseRunner | None = None
        self._signals: LoopSignals | None = None
        self._heartbeat: Heartbeat | None = None
        self._stop_requested: asyncio.Event | None = None
        self._stopping = False
        self._quick = False
        self._drain: Drain | None = None
        self._sites: list[GunicornSite] = []
        self._aborted_task: asyncio.Task[Any] | None = None

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Called by the arbiter at start: say which settings this worker does not use."""
        if cfg.threads > 1:
            log.warning(
                "%s does not use --threads; one event loop serves every connection "
                "(see --worker-connections)",
                cls.__name__,
            )
        protocols = getattr(cfg, "http_protocols", None) or []
        if any(proto != "h1" for proto in protocols):
            log.warning(
                "%s serves HTTP/1.1 only; http_protocols=%s is ignored",
                cls.__name__,
                ",".join(protocols),
            )

    # -- process setup (gunicorn calls these in order) ----------------------------------

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        """The worker's loop; ``GunicornUVLoopWebWorker`` returns a uvloop one."""
        return asyncio.new_event_loop()

    def init_process(self) -> None:
        # The loop must exist before the base class calls init_signals().
        self.loop = self.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self._stop_requested = asyncio.Event()
        super().init_process()

    def init_signals(self) -> None:
        assert self.loop is not None
        self._signals = LoopSignals(
            self.loop,
            list(self.SIGNALS),
            graceful=self._on_term,
            quick=self._on_quit,
            reopen_logs=self.log.reopen_files,
            ignore=lambda: self.log.debug("worker: SIGWINCH ignored."),
            abort=self.handle_abort,
        )
        self._signals.install()

    def load_wsgi(self) -> None:
        """Load the target; under ``--reload`` a SyntaxError serves a 500 page (async, not
        gunicorn's WSGI one) until the reloader sees the file change."""
        try:
            self.wsgi = self.app.wsgi()
        except SyntaxError as exc:
            if not self.cfg.reload:
                raise
            self.log.exception(exc)
            if self.reloader is not None and exc.filename is not None:
                self.reloader.add_extra_file(exc.filename)
            self.wsgi = make_error_app("".join(traceback.format_exception(exc)))

    # -- signals ------------------------------------------------------------------------

    def _on_term(self) -> None:
        self.request_stop("SIGTERM")

    def _on_quit(self) -> None:
        self.cfg.worker_int(self)
        self.request_stop("SIGQUIT/SIGINT", quick=True)

    def handle_abort(self, sig: int, frame: FrameType | None) -> None:
        """SIGABRT from the arbiter's watchdog: the loop did not beat for ``timeout``.

        Installed with ``signal.signal``, so it runs even while the loop is blocked, and the
        frame shows what blocks it.
        """
        self.alive = False
        self.aborted = True
        loop = self.loop
        if loop is not None and loop.is_running():
            # The SystemExit below ends this task; teardown retrieves it (no "exception
            # was never retrieved" noise).
            self._aborted_task = asyncio.current_task(loop)
        stack = format_blocked_stack(frame, outer=(GunicornWebWorker.run.__code__,))
        self.log.critical(
            "Worker %s aborted (no heartbeat for %ss); the event loop was blocked at:\n%s",
            self.pid,
            self.cfg.timeout,
            stack.rstrip(),
        )
        self.cfg.worker_abort(self)
        sys.exit(1)

    def request_stop(self, reason: str, *, quick: bool = False) -> None:
        """Begin a graceful stop (or a quick one); later calls may only make it quicker."""
        self.alive = False
        if quick and not self._quick:
            self._quick = True
            if self._drain is not None:
                self._drain.go_quick()
        if self._stopping:
            return
        self._stopping = True
        for site in self._sites:
            site.stop_accepting()  # now: the stop itself begins on the next loop iteration
        self.log.info("Worker %s stopping (%s)%s", self.pid, reason, " quickly" if quick else "")
        if self._stop_requested is not None:
            self._stop_requested.set()

    def _check_alive(self) -> None:
        # The reloader thread clears ``alive`` and writes to PIPE; so may a subclass.
        if not self.alive and not self._stopping and not self.aborted:
            self.request_stop("code changed" if self.cfg.reload else "alive cleared")

    def _on_wakeup(self) -> None:
        try:
            while os.read(self.PIPE[0], 4096):
                pass
        except BlockingIOError:
            pass
        self._check_alive()

    def _on_orphaned(self) -> None:
        self.log.info("Parent changed, shutting down: %s", self)
        self.request_stop("parent changed")

    # -- running ------------------------------------------------------------------------

    def run(self) -> None:
        self.booted = False  # until the listeners accept: a failed start then exits with 3
        _adopt_framework_logs(self.log)
        assert self.loop is not None
        try:
            self.loop.run_until_complete(self._main())
        finally:
            self._teardown()

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        self._heartbeat = Heartbeat(
            self.notify,
            heartbeat_interval(self.timeout),
            self.ppid,
            self._on_orphaned,
            self._check_alive,
        )
        self._heartbeat.start()
        loop.add_reader(self.PIPE[0], self._on_wakeup)
        timing = ShutdownTiming.from_graceful_timeout(
            self.cfg.graceful_timeout, self.shutdown_grace
        )
        runner = self.runner = await make_runner(self.wsgi, access_log=None)
        try:
            # A stop asked for during the startup hooks: go straight to the shutdown hooks.
            sites = [] if self._stopping else await self._start_serving(runner, timing)
        except Exception:
            await Drain(runner, [], timing, self.close_websockets, self.log).run(quick=True)
            raise
        self.booted = True
        assert self._stop_requested is not None
        await self._stop_requested.wait()
        self._drain = Drain(runner, sites, timing, self.close_websockets, self.log)
        await self._drain.run(quick=self._quick)

    async def _start_serving(
        self, runner: BaseRunner, timing: ShutdownTiming
    ) -> list[GunicornSite]:
        server = runner.server
        assert server is not None
        cfg = self.cfg
        trust = ForwardedTrust(
            _allow_list(cfg, "forwarded_allow_ips", "forwarded_allow_networks"),
            cfg.secure_scheme_headers,
            header_name_policy(cfg),
        )
        adapter = RequestAdapter(self, trust, self._on_last_request)
        adapter.install(
            server, keepalive=cfg.keepalive, limits=limits_from_config(cfg), grace=timing.grace
        )
        limit = ConnectionLimit(cfg.worker_connections, server.connections, self.log)
        ssl_context = None
        if cfg.is_ssl:
            from gunicorn.sock import ssl_context as make_ssl_context  # noqa: PLC0415

            ssl_context = make_ssl_context(cfg)  # the user's ssl_context hook and ALPN
        factory = self._protocol_factory(server)
        sites = []
        for listener in self.sockets:
            sock = getattr(listener, "sock", listener)
            sock.setblocking(False)
            site = GunicornSite(
                runner,
                sock,
                protocol_factory=factory,
                limit=limit,
                ssl_context=ssl_context,
                shutdown_timeout=timing.drain,
                logger=self.log,
            )
            await site.start()
            sites.append(site)
            self._sites.append(site)
        self.log.debug("Worker %s serving on %s", self.pid, ", ".join(s.name for s in sites))
        return sites

    def _protocol_factory(self, server: Server) -> Callable[[], Any]:
        mode = self.cfg.proxy_protocol
        if isinstance(mode, bool):  # gunicorn < 24.1 had a flag; since then it is a string
            mode = "auto" if mode else "off"
        if mode == "off":
            return server
        allow = _allow_list(self.cfg, "proxy_allow_ips", "proxy_allow_networks")
        log = self.log

        def factory() -> ProxyProtocolGate:
            return ProxyProtocolGate(server(), mode, allow, log)

        return factory

    def _on_last_request(self) -> None:
        self.log.info("Autorestarting worker after current request.")
        self.request_stop("max_requests")

    async def close_websockets(self, runner: BaseRunner) -> None:
        """Close every open WebSocket with 1001 Going Away (checklist row 8).

        Runs once the listeners are closed, right before ``on_shutdown``; a peer that does
        not answer the close cannot hold the stop longer than a couple of seconds.
        """
        server = runner.server
        if server is not None:
            await shutdown_websockets(server.connections, timeout=_WEBSOCKET_CLOSE_TIMEOUT)

    # -- teardown -----------------------------------------------------------------------

    def _teardown(self) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            if self._heartbeat is not None:
                self._heartbeat.stop()
            loop.remove_reader(self.PIPE[0])
            aborted = self._aborted_task
            if aborted is not None and aborted.done() and not aborted.cancelled():
                aborted.exception()  # SystemExit from handle_abort: already reported
            _cancel_all_tasks(loop, self.log)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(
                asyncio.wait_for(loop.shutdown_default_executor(), _TEARDOWN_TIMEOUT)
            )
        except TimeoutError:
            self.log.warning("Executor threads still busy at exit")
        except Exception:
            self.log.exception("Error while closing the event loop")
        finally:
            if self._signals is not None:
                self._signals.remove()
            loop.close()
            asyncio.set_event_loop(None)


class GunicornUVLoopWebWorker(GunicornWebWorker):
    """The same worker on a uvloop loop (``pip install berth[uvloop]``)."""

    def new_event_loop(self) -> asyncio.AbstractEventLoop:
        import uvloop  # noqa: PLC0415 - optional dependency

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        return loop


def _adopt_framework_logs(log: Any) -> None:
    """Send the framework's own logs (``runtime.*``: handler errors, bad requests) to
    gunicorn's error log, unless the user configured logging themselves."""
    error_log = getattr(log, "error_log", None)
    framework = logging.getLogger("runtime")
    if not isinstance(error_log, logging.Logger) or framework.handlers:
        return
    if logging.getLogger().handlers:
        return  # logconfig (or the app) set up the root logger: records reach it already
    for handler in error_log.handlers:
        framework.addHandler(handler)
    framework.setLevel(error_log.level)
    framework.propagate = False


def _allow_list(cfg: Any, entries: str, networks: str) -> AllowList:
    """An allow list from gunicorn's setting, with the networks gunicorn parsed and cached
    (``cfg.forwarded_allow_networks()``, new in 24.1) when it has them."""
    values = getattr(cfg, entries)
    if isinstance(values, str):
        values = [value.strip() for value in values.split(",")]
    parsed = getattr(cfg, networks, None)
    return AllowList(values, parsed() if callable(parsed) else None)


def _cancel_all_tasks(loop: asyncio.AbstractEventLoop, log: Any) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, pending = loop.run_until_complete(asyncio.wait(tasks, timeout=QUICK_TIMEOUT))
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            log.error("Task %r failed during shutdown", task, exc_info=task.exception())
    if pending:
        log.warning("%d task(s) ignored cancellation at exit: %r", len(pending), pending)
