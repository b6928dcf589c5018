"""A gunicorn configuration module (``-c python:tests.workers.apps.hooks``): every worker
hook prints a marker, and the TLS hook adds an ALPN protocol the test client asks for."""

from __future__ import annotations

import ssl
import sys
from collections.abc import Callable
from typing import Any


def _mark(text: str) -> None:
    print(f"HOOK {text}", file=sys.stderr, flush=True)


def post_worker_init(worker: Any) -> None:
    _mark(f"post_worker_init {worker.pid}")


def worker_int(worker: Any) -> None:
    _mark(f"worker_int {worker.pid}")


def worker_abort(worker: Any) -> None:
    _mark(f"worker_abort {worker.pid}")


def worker_exit(server: Any, worker: Any) -> None:
    _mark(f"worker_exit {worker.pid}")


def pre_request(worker: Any, req: Any) -> None:
    _mark(f"pre_request {req.method} {req.path}")


def post_request(worker: Any, req: Any, environ: dict[str, Any], resp: Any) -> None:
    _mark(f"post_request {environ['RAW_URI']} {resp.status}")


def ssl_context(config: Any, default_ssl_context_factory: Callable[[], ssl.SSLContext]) -> Any:
    context = default_ssl_context_factory()
    context.set_alpn_protocols(["berth-test", "http/1.1"])
    return context
