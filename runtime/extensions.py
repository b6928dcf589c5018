"""The compiled hot path: which modules mypyc compiles, and whether they are the ones running.

The modules in :data:`COMPILED` are plain Python, the source of truth, and mypyc compiles
them at install time (``setup.py``) into extension modules beside the ``.py`` files
(docs/compiled.md). An extension module wins over its ``.py`` file on import, so choosing
the pure-Python modules takes a finder in front of the import system. :func:`select` runs
once, when ``runtime/__init__.py`` imports this module before any of them, and installs
that finder when:

- ``BERTH_NO_EXTENSIONS`` is set to anything but ``""`` or ``"0"`` (as aiohttp's
  ``AIOHTTP_NO_EXTENSIONS``): the user asked for pure Python;
- in a source checkout, a compiled module is older than its source (edited, not rebuilt with
  ``make extensions``): running it would run code that is no longer in the file, so Berth
  runs the source and warns;
- only some modules are compiled: mypyc's modules call each other directly, so a mix of
  compiled and pure copies of one module would hold two different classes.

``setup.py`` reads :data:`COMPILED` by running this file on its own, so it imports only the
standard library. ``python -m runtime --version`` prints :data:`mode`.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

__all__ = ["COMPILED", "ENV", "Selection", "compiled", "decide", "mode", "select"]

#: What ``setup.py`` compiles: the bytes layer, the connection and the router's resolve path.
#: Only modules whose classes users neither subclass nor mock may join (docs/compiled.md).
COMPILED: Final = (
    "runtime.http.fields",
    "runtime.http.forwarded",
    "runtime.http.message",
    "runtime.http.parser",
    "runtime.http.writer",
    "runtime.http.ws.reader",
    "runtime.http.ws.writer",
    "runtime.server.flow",
    "runtime.server.protocol",
    "runtime.server.request_gate",
    "runtime.server.slow_clients",
    "runtime.server.streams",
    "runtime.web.routing.dispatcher",
)
#: The shared library every compiled module loads (mypyc's group), ``runtime/hotpath__mypyc``.
GROUP: Final = "runtime.hotpath"
ENV: Final = "BERTH_NO_EXTENSIONS"


@dataclass(frozen=True)
class Selection:
    """What :func:`decide` chose: run the compiled modules or their sources, and why."""

    compiled: bool
    reason: str
    stale: tuple[str, ...] = ()


def decide(
    root: Path,
    modules: Sequence[str] = COMPILED,
    environ: Mapping[str, str] = os.environ,
    suffixes: Sequence[str] = tuple(importlib.machinery.EXTENSION_SUFFIXES),
    group: str = GROUP,
) -> Selection:
    """Whether to run the compiled ``modules`` found under ``root`` (the directory that holds
    the ``runtime`` package), by the rules in this module's docstring."""
    if environ.get(ENV, "") not in ("", "0"):
        return Selection(False, f"{ENV}={environ[ENV]}")
    built: list[str] = []
    stale: list[str] = []
    # Only a checkout (setup.py beside the package) is edited after its build; an install's
    # files may be written in any order, so their times say nothing.
    checkout = root.joinpath("setup.py").exists()
    # The modules' code lives in the group's library; each module's own extension is a shim
    # that a rebuild leaves alone when its C did not change. The build's time is the newer.
    group_path = root.joinpath(*group.split("."))
    library = _extension(group_path.with_name(f"{group_path.name}__mypyc.py"), suffixes)
    library_time = library.stat().st_mtime if library is not None else 0.0
    for name in modules:
        source = root.joinpath(*name.split(".")).with_suffix(".py")
        extension = _extension(source, suffixes)
        if extension is None:
            continue
        built.append(name)
        built_at = max(extension.stat().st_mtime, library_time)
        if checkout and source.exists() and source.stat().st_mtime > built_at:
            stale.append(name)
    if not built:
        return Selection(False, "not compiled")
    if stale:
        return Selection(False, "compiled modules older than their source", tuple(stale))
    if len(built) < len(modules):
        missing = sorted(set(modules) - set(built))
        return Selection(False, f"partly compiled (missing {', '.join(missing)})")
    return Selection(True, f"mypyc, {len(built)} modules")


def _extension(source: Path, suffixes: Sequence[str]) -> Path | None:
    for suffix in suffixes:
        candidate = source.with_name(source.stem + suffix)
        if candidate.exists():
            return candidate
    return None


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Imports the listed modules from their ``.py`` files, ahead of their compiled copies."""

    def __init__(self, sources: Mapping[str, Path]) -> None:
        self._sources = dict(sources)

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        source = self._sources.get(fullname)
        if source is None:
            return None
        return importlib.util.spec_from_file_location(fullname, source)


_selection: Selection | None = None


def select() -> Selection:
    """Choose once per process (idempotent); install the source finder for pure Python."""
    global _selection  # noqa: PLW0603  (one decision per process, made at first import)
    if _selection is not None:
        return _selection
    root = Path(__file__).resolve().parent.parent
    _selection = selection = decide(root)
    if not selection.compiled:
        sources = {name: root.joinpath(*name.split(".")).with_suffix(".py") for name in COMPILED}
        sys.meta_path.insert(0, _SourceFinder(sources))
    if selection.stale:
        warnings.warn(
            f"Berth runs its pure-Python modules: the compiled {', '.join(selection.stale)} "
            "are older than their source. Rebuild them with `make extensions` (or pip "
            f"install again), or set {ENV}=1 to silence this.",
            RuntimeWarning,
            stacklevel=2,
        )
    return selection


def compiled() -> bool:
    """Whether the hot path running in this process is the compiled one (asked of the
    imported modules themselves, not of the decision)."""
    import runtime.server.protocol  # noqa: PLC0415  (imported by now; asked on demand)

    return not (runtime.server.protocol.__file__ or "").endswith(".py")


def mode() -> str:
    """One line for ``--version`` and logs: ``compiled (mypyc, 13 modules)`` or
    ``pure Python (why)``."""
    selection = select()
    if compiled():
        return f"compiled ({selection.reason})"
    return f"pure Python ({selection.reason})"


# setup.py runs this file on its own (runpy) only to read COMPILED.
if __name__ == "runtime.extensions":
    select()
