"""gunicorn's per-connection and per-request settings, applied to a ``Server``.

Connection settings go into the server's ``ProtocolConfig`` (``keepalive``,
``limit_request_*``). Each request then passes through the server's hooks:

- ``request_factory`` and ``request_handler``: a compiled ``RequestGate``
  (``runtime/server/request_gate.py``). It counts the request against ``max_requests`` (the
  last one answers with ``Connection: close`` and starts the graceful stop), applies the
  trusted proxy headers (``request.remote``, ``request.scheme``) and ``header_map`` (header
  names with ``_``; ``runtime/http/forwarded.py``), answers 400 on contradicting scheme
  headers or a refused name, then calls ``cfg.pre_request``;
- ``on_request_done``: ``log.access`` (access log and StatsD) and ``cfg.post_request``; with
  gunicorn's own logger and no ``post_request``, the same access line written from the
  atoms its format names (``access_line.py``).

What runs per request is compiled and lives below this package, which the build cannot
compile (docs/compiled.md); this module only reads gunicorn's settings into it.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..http.forwarded import ForwardedTrust
from ..http.parser import Limits
from ..server.request_gate import RequestGate
from ..web import BaseRequest, HTTPBadRequest, Request
from .access import AccessResponse, build_environ, sockname_of
from .access_line import AccessLine, serves

if TYPE_CHECKING:
    from ..web import BaseRequest, Server, StreamResponse

__all__ = ["RequestAdapter", "limits_from_config"]

# gunicorn's own bounds (http/message.py): a request line of at most 8190 bytes, at most
# 32768 fields, and 8190 bytes per field when the setting is 0 or less.
_MAX_REQUEST_LINE = 8190
_MAX_HEADERS = 32768
_DEFAULT_FIELD_SIZE = 8190


def _bad_request(text: str) -> HTTPBadRequest:
    return HTTPBadRequest(text=text)


def limits_from_config(cfg: Any) -> Limits:
    """``limit_request_line`` (0 = unlimited), ``limit_request_fields`` and
    ``limit_request_field_size``, clamped the way gunicorn clamps them."""
    line = cfg.limit_request_line
    line = _MAX_REQUEST_LINE if line < 0 or line > _MAX_REQUEST_LINE else line
    fields = cfg.limit_request_fields
    fields = _MAX_HEADERS if fields <= 0 or fields > _MAX_HEADERS else fields
    field_size = cfg.limit_request_field_size
    field_size = _DEFAULT_FIELD_SIZE if field_size <= 0 else field_size
    return Limits(max_line_size=line, max_field_size=field_size, max_headers=fields)


class RequestAdapter:
    """Installs gunicorn's request handling on a server for one worker.

    Args:
        worker: the gunicorn worker (``cfg``, ``log``, ``max_requests``).
        trust: who may set forwarded and scheme headers, and the header name policy.
        on_last_request: called once when ``max_requests`` is reached.
    """

    def __init__(
        self, worker: Any, trust: ForwardedTrust, on_last_request: Callable[[], None]
    ) -> None:
        self._worker = worker
        self._cfg = worker.cfg
        self._log = worker.log
        self._trust = trust
        self._on_last_request = on_last_request

    def install(self, server: Server, *, keepalive: float, limits: Limits, grace: float) -> None:
        """Apply connection settings and wrap the server's request hooks.

        Args:
            server: the runner's server, set up but not serving yet.
            keepalive: gunicorn's ``keepalive``: the idle timeout between requests.
            limits: the request head limits.
            grace: the idle keep-alive window at the start of a graceful stop.
        """
        server.config = dataclasses.replace(
            server.config, keepalive_timeout=max(0.0, keepalive), limits=limits
        )
        server.shutdown_grace = grace
        server.access_logger = None  # gunicorn's access log replaces the framework's
        pre_request = None if self._default_hook_is_silent("pre_request") else self._cfg.pre_request
        worker = self._worker
        gate = RequestGate(
            server.request_factory,
            server.request_handler,
            self._trust,
            # gunicorn's max_requests = 0 (no restarts) reads sys.maxsize.
            budget=None if worker.max_requests >= sys.maxsize else worker.max_requests,
            on_budget_spent=self._on_last_request,
            close_always=keepalive <= 0,  # gunicorn's keepalive <= 0: every response closes
            before=None if pre_request is None else functools.partial(pre_request, worker),
            refuse=_bad_request,
            # The built-in request classes take the limits by position (web.Server does
            # the same): a class called with keywords makes a dict of them per request.
            positional=server.request_factory in (BaseRequest, Request),
        )
        server.request_factory = gate
        server.request_handler = gate.handle
        server.on_request_done = None if self._nothing_to_report() else self._make_done_hook()

    def _default_hook_is_silent(self, name: str) -> bool:
        """gunicorn's default ``pre_request`` only logs at debug level: when that level is
        off and the hook is not the user's, calling it per request would do nothing."""
        setting = self._cfg.settings.get(name)
        if setting is None or setting.value is not setting.default:
            return False
        error_log = getattr(self._log, "error_log", None)
        return error_log is not None and not error_log.isEnabledFor(logging.DEBUG)

    def _nothing_to_report(self) -> bool:
        """True when the logger's ``access`` is gunicorn's own with the access log off and
        ``post_request`` is the default no-op: then per-request reporting would do nothing,
        and we skip building its arguments. A StatsD logger or any other logger class
        overrides ``access``, so it still gets every request."""
        from gunicorn.glogging import Logger  # noqa: PLC0415 - gunicorn is loaded by now

        access = getattr(type(self._log), "access", None)
        access_off = access is Logger.access and not getattr(self._log, "access_log_enabled", True)
        return access_off and self._default_post_request()

    def _default_post_request(self) -> bool:
        setting = self._cfg.settings.get("post_request")
        return setting is not None and setting.value is setting.default

    def _make_done_hook(self) -> Callable[[BaseRequest, StreamResponse, float], None]:
        worker = self._worker
        log = self._log
        post_request = self._cfg.post_request
        if self._default_post_request() and serves(log):
            # gunicorn's own logger and no post_request: write the line from the atoms the
            # format names (access_line.py), with no environ or full atoms per request.
            line = AccessLine(log, self._cfg)

            def write_access_line(
                request: BaseRequest, response: StreamResponse, elapsed: float
            ) -> None:
                try:
                    line.write(request, response, elapsed)
                except Exception:
                    log.exception("Error in the access logger")

            return write_access_line

        def on_request_done(request: BaseRequest, response: StreamResponse, elapsed: float) -> None:
            try:
                environ = build_environ(request, sockname_of(request))
                resp = AccessResponse(response)
            except Exception:
                log.exception("Could not describe %r for the access log", request)
                return
            # gunicorn's order (workers/sync.py): the access log, then post_request. The
            # access call runs even with the access log off: StatsD counts requests there.
            try:
                log.access(resp, request, environ, datetime.timedelta(seconds=elapsed))
            except Exception:
                log.exception("Error in the access logger")
            try:
                post_request(worker, request, environ, resp)
            except Exception:
                log.exception("Error in the post_request hook")

        return on_request_done
