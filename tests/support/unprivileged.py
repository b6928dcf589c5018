"""File permissions as an ordinary user sees them, also when the tests run as root.

Root reads any file, so a test of what a server does with an unreadable file would prove
nothing under root (CI and fresh machines run as root). :func:`unprivileged` lowers the
process's *effective* user to ``nobody`` for the duration of a block -- on Linux for every
thread, the loop's executor included -- and lets that user walk down to ``path``; the real
user stays root, so the block ends by taking root back.
"""

from __future__ import annotations

import concurrent.futures.thread  # noqa: F401 - see unprivileged(): loaded before it runs
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NOBODY = 65534


@contextmanager
def unprivileged(path: Path) -> Iterator[None]:
    """Run the block as ``nobody`` when we are root (as we are otherwise)."""
    if os.geteuid() != 0:
        yield
        return
    # The executor module is imported above: as nobody, root's Python library is unreadable.
    opened: list[tuple[Path, int]] = []
    for directory in [*reversed(path.parents), path]:
        if not directory.is_dir():
            continue
        mode = directory.stat().st_mode
        if not mode & stat.S_IXOTH:
            opened.append((directory, stat.S_IMODE(mode)))
            directory.chmod(stat.S_IMODE(mode) | stat.S_IXOTH | stat.S_IROTH)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        for directory, mode in reversed(opened):
            directory.chmod(mode)
