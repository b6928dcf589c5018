"""The opt-in middleware catalogue: each middleware in a module of its own, public API only.

Nothing here runs unless an application lists it in ``web.Application(middlewares=[...])``.
Each module is imported only when asked for, so ``from middlewares import stash_middleware``
does not pay for structlog.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from middlewares.access_logging import access_log_middleware
    from middlewares.compression import compression_middleware
    from middlewares.deprecation import deprecated, deprecation_middleware
    from middlewares.metrics import metrics_handler, metrics_middleware
    from middlewares.proxy import (
        allowed_hosts_middleware,
        forwarded_middleware,
        https_middleware,
        x_forwarded_middleware,
    )
    from middlewares.stash import provide, stash_middleware

_HOMES = {
    "access_log_middleware": "access_logging",
    "allowed_hosts_middleware": "proxy",
    "compression_middleware": "compression",
    "deprecated": "deprecation",
    "deprecation_middleware": "deprecation",
    "forwarded_middleware": "proxy",
    "https_middleware": "proxy",
    "metrics_handler": "metrics",
    "metrics_middleware": "metrics",
    "provide": "stash",
    "stash_middleware": "stash",
    "x_forwarded_middleware": "proxy",
}

__all__ = [
    "access_log_middleware",
    "allowed_hosts_middleware",
    "compression_middleware",
    "deprecated",
    "deprecation_middleware",
    "forwarded_middleware",
    "https_middleware",
    "metrics_handler",
    "metrics_middleware",
    "provide",
    "stash_middleware",
    "x_forwarded_middleware",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'middlewares' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{home}", __name__), name)
