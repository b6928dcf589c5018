"""Which of Berth's hot paths a Berth server runs, checked before it is measured (issue 19).

Berth's hot path runs compiled (mypyc) or as its pure-Python source: ``BERTH_NO_EXTENSIONS=1``
selects the source, and so, with a warning, does a build that is missing, partial or older
than its source (``runtime/extensions.py``). A run measures both under different names
(``berth-gunicorn``, ``berth-gunicorn-pure``), so a stale build would otherwise be measured
as "compiled" without anyone noticing. Before a Berth server starts (and before each fresh
server the instructions and memory scenarios start), ``python -m runtime --version`` runs
with the bench venv's interpreter in that server's environment and working directory: the
same files, the same decision. The mode its line names must be the one the server promises
(``Server.hot_path``), or the server is not started and its cells fail with the line in the
message; the line goes into the results file.

Standard library only: this runs under whatever Python starts ``bench/run.py``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from bench.paths import ROOT
from bench.servers import NO_EXTENSIONS, HotPath, Server

# The words `python -m runtime --version` uses for each mode ("berth 0.1.0, hot path compiled
# (mypyc, 11 modules)", "berth 0.1.0, hot path pure Python (BERTH_NO_EXTENSIONS=1)").
_WORDS: Mapping[HotPath, str] = {"compiled": "hot path compiled", "pure": "hot path pure Python"}
_PROMISE: Mapping[HotPath, str] = {
    "compiled": "Berth's compiled hot path (mypyc)",
    "pure": f"Berth's pure-Python hot path ({NO_EXTENSIONS}=1)",
}
_FIX: Mapping[HotPath, str] = {
    "compiled": "build it with `make extensions` (or pip install -e . again) and run again",
    "pure": f"{NO_EXTENSIONS}=1 did not reach it: see its Server.env in bench/servers.py",
}
PROBE_TIMEOUT_S = 60.0  # importing Berth takes well under a second here


class HotPathError(RuntimeError):
    """The server would run the other hot path, or Berth did not say which it runs. A
    RuntimeError, so a fresh server's check fails its cell as any other failed run does."""


def mode_line(python: Path, env: Mapping[str, str]) -> str:
    """The line ``python -m runtime --version`` prints with ``env``, from the repository
    root (where the servers run)."""
    argv = [str(python), "-m", "runtime", "--version"]
    try:
        done = subprocess.run(
            argv,
            cwd=ROOT,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HotPathError(f"`python -m runtime --version`: {type(exc).__name__}: {exc}") from exc
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        errors = done.stderr.strip().splitlines()
        last = errors[-1] if errors else "no output"
        raise HotPathError(
            f"`python -m runtime --version` failed (exit code {done.returncode}): {last}"
        )
    return lines[-1].strip()


def running(line: str) -> HotPath | None:
    """The mode a ``--version`` line names, None when it names neither."""
    for mode, words in _WORDS.items():
        if words in line:
            return mode
    return None


def mismatch(server: Server, line: str) -> str | None:
    """Why ``line`` does not fit ``server``'s promise, in words for the report; None when it
    fits (or the server is not Berth)."""
    expected = server.hot_path
    if expected is None or running(line) == expected:
        return None
    return (
        f"{server.name} must run {_PROMISE[expected]}, but `python -m runtime --version` in "
        f"its environment says {line!r}; not measured under that name ({_FIX[expected]})"
    )


def verify(server: Server, python: Path, env: Mapping[str, str]) -> str | None:
    """The ``--version`` line of a Berth server (None for the others); HotPathError when it
    names the other mode."""
    if server.hot_path is None:
        return None
    line = mode_line(python, env)
    problem = mismatch(server, line)
    if problem:
        raise HotPathError(problem)
    return line
