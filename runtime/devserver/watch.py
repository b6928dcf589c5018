"""Which files count as code, and the stream of their changes (watchfiles, as uvicorn uses)."""

from __future__ import annotations

import asyncio
import fnmatch
import os
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["IGNORED_DIRS", "SourceFilter", "changes", "watcher"]

# Directories whose files never count: environments, caches, version control.
IGNORED_DIRS = frozenset(
    {".venv", "venv", "__pycache__", ".git", ".hg", ".mypy_cache", ".ruff_cache",
     ".pytest_cache", ".tox", "node_modules"}
)  # fmt: skip

Watcher = Callable[..., AsyncIterator[set[tuple[Any, str]]]]


class SourceFilter:
    """A changed path under one of ``roots`` counts when its name matches one of
    ``include`` (``*.py`` by default) and none of ``exclude``, and no directory between
    the root and the file is one of :data:`IGNORED_DIRS` (the roots themselves may be
    anywhere, a project kept under a ``venv`` directory included)."""

    def __init__(
        self, roots: Sequence[str], include: Sequence[str] = ("*.py",), exclude: Sequence[str] = ()
    ) -> None:
        self.roots = tuple(os.path.abspath(r) for r in roots)
        self.include = tuple(include)
        self.exclude = tuple(exclude)

    def __call__(self, change: Any, path: str) -> bool:
        """watchfiles' filter signature: ``(change, path) -> keep it``."""
        path = os.path.abspath(path)
        for root in self.roots:
            if os.path.commonpath((root, path)) == root:
                parts = Path(os.path.relpath(path, root)).parts
                break
        else:
            return False
        if IGNORED_DIRS.intersection(parts[:-1]):
            return False
        name = parts[-1]
        return any(fnmatch.fnmatch(name, p) for p in self.include) and not any(
            fnmatch.fnmatch(name, p) for p in self.exclude
        )


def watcher() -> Watcher:
    """watchfiles' ``awatch``.

    Raises:
        RuntimeError: watchfiles is not installed (it comes with the ``berth[dev]`` extra).
    """
    try:
        from watchfiles import awatch  # noqa: PLC0415 - optional extra, berth[dev]
    except ImportError as exc:
        raise RuntimeError(
            "--reload needs watchfiles: pip install 'berth[dev]' (or watchfiles)"
        ) from exc
    return awatch


async def changes(
    awatch: Watcher, keep: SourceFilter, stop: asyncio.Event
) -> AsyncIterator[list[str]]:
    """Yield the sorted paths of each batch of changes to the files ``keep`` counts under
    its roots, until ``stop`` is set."""
    async for batch in awatch(*keep.roots, watch_filter=keep, stop_event=stop):
        yield sorted({path for _, path in batch})
