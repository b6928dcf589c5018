"""Finding an application from ``pkg.module:name``: an instance, a sync or an async factory."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from .app import Application
from .runner import BaseRunner

__all__ = ["import_target", "resolve_app"]


def import_target(spec: str) -> Any:
    """Import ``pkg.module:attr`` (``attr`` may be dotted) and return the attribute.

    Raises:
        ValueError: when ``spec`` has no ``:``.
        ImportError / AttributeError: with the module or name that was missing.
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"Expected 'package.module:app_or_factory', got {spec!r}")
    target: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise AttributeError(f"Module {module_name!r} has no attribute {attr!r}") from None
    return target


async def resolve_app(target: Any, *args: Any) -> Any:
    """Turn ``target`` into what it stands for: an ``Application`` (or an ``AppRunner``,
    which workers accept too).

    ``target`` may be the object itself, a sync factory, an async factory, or a coroutine.
    Factories are called with ``args``.
    """
    if isinstance(target, Application):
        return target
    if inspect.isawaitable(target):
        return _check(await target)
    if callable(target):
        result = target(*args)
        if inspect.isawaitable(result):
            result = await result
        return _check(result)
    raise TypeError(
        f"Expected an Application or a factory returning one, got {target!r}{_hint(target)}"
    )


def _check(result: Any) -> Any:

    if isinstance(result, (Application, BaseRunner)):
        return result
    raise TypeError(f"The factory returned {result!r}, not an Application{_hint(result)}")


def _hint(result: Any) -> str:
    """What to do when the application is aiohttp's own: the mode that serves it."""
    if not type(result).__module__.startswith("aiohttp."):
        return ""
    return (
        f" but aiohttp's {type(result).__name__}: serve it in the aiohttp compatibility mode "
        "(python -m runtime --aiohttp-compat, gunicorn -k "
        "runtime.workers.GunicornAiohttpCompatWorker, or runtime.compat.aiohttp.install() "
        "before aiohttp is imported; docs/compat.md)"
    )
