"""What the supervisor tells the terminal: where it serves, each reload, and a failed
load as one block (the changed files, the traceback, what still serves)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["exited", "failed", "reloaded", "running", "stopped", "superseded"]

RULE = "=" * 8


def _shown(paths: Sequence[str]) -> str:
    """The paths relative to the current directory when under it, comma-separated."""
    cwd = os.getcwd()
    rel = [os.path.relpath(p, cwd) if p.startswith(cwd + os.sep) else p for p in paths]
    return ", ".join(rel)


def _out(text: str) -> None:
    print(text, flush=True)


def running(address: str, dirs: Sequence[str], include: Sequence[str]) -> None:
    _out(
        f"{RULE} Running on {address} ========\n"
        f"Reloading when {' '.join(include)} files change in {_shown(dirs)}\n"
        "(Press CTRL+C to quit)"
    )


def reloaded(changed: Sequence[str], pid: int) -> None:
    if changed:
        _out(f"Reloaded after changes to {_shown(changed)}: pid {pid} serves")
    else:
        _out(f"Loaded: pid {pid} serves")


def superseded(changed: Sequence[str]) -> None:
    _out(f"Changed again ({_shown(changed)}) before the new version loaded: starting over")


def failed(changed: Sequence[str], error: str, serving: int | None) -> None:
    """The block for a version that did not load; what serves meanwhile is said last."""
    what = f"Reload failed after changes to {_shown(changed)}" if changed else "Load failed"
    still = (
        f"Still serving the last good version (pid {serving})"
        if serving is not None
        else "Nothing is serving yet"
    )
    print(
        f"\n{RULE} {what} {RULE}\n{error.rstrip()}\n"
        f"{RULE} {still}; fix the error and save {RULE}\n",
        file=sys.stderr,
        flush=True,
    )


def exited(pid: int, code: int) -> None:
    print(
        f"{RULE} The server (pid {pid}) exited with code {code}; waiting for a change {RULE}",
        file=sys.stderr,
        flush=True,
    )


def stopped() -> None:
    _out("Stopped")
