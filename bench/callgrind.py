"""valgrind's callgrind as the instruction counter: its command line, switching it on and
dumping its counts from outside (``vgdb``), and reading a dump's total.

Why callgrind: ``perf stat`` is not available on this VM (no PMU in the guest), and callgrind
counts the instructions a process executes (``Ir``) the same way on every run, whatever else
the machine is doing. The server starts with collection off (``--instr-atstart=no``: about
4x slower than native instead of about 50x, so starting up and warming up stay short), and
the harness sends the same monitor commands ``callgrind_control`` sends, through ``vgdb``
(valgrind's own gdbserver client, a C program: no Perl needed):

- ``instrumentation on`` once the warm-up is done;
- ``dump`` at the end of each counted window: it writes ``<out>.<pid>.<n>`` and zeroes the
  counters, so each dump holds exactly one window.

``--trace-children=yes`` counts a server's worker processes too (granian's worker is a child
of its master); every process of the server's group running under callgrind is switched on
and dumped, and their counts are added.

Standard library only: this runs under whatever Python starts ``bench/run.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.apt import ensure_installed
from bench.plan import BenchError
from bench.procfs import group_pids

DUMP_TIMEOUT_S = 30.0  # a dump of a large server is a few MB; this is far more than it takes


@dataclass(frozen=True)
class Valgrind:
    """Where valgrind and its ``vgdb`` are."""

    valgrind: str
    vgdb: str


def ensure_valgrind() -> Valgrind:
    """valgrind and vgdb, installing Debian's ``valgrind`` package first when missing."""
    valgrind = ensure_installed("valgrind", "valgrind")
    vgdb = shutil.which("vgdb") or str(Path(valgrind).with_name("vgdb"))
    if not os.access(vgdb, os.X_OK):
        raise BenchError(f"valgrind is at {valgrind} but its vgdb is not")
    return Valgrind(valgrind=valgrind, vgdb=vgdb)


def valgrind_version(valgrind: Valgrind) -> str:
    """``valgrind --version`` (for the results file), "" when it does not answer."""
    done = subprocess.run(
        [valgrind.valgrind, "--version"], check=False, capture_output=True, text=True, timeout=10
    )
    return done.stdout.strip()


def callgrind_argv(valgrind: str, out_prefix: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` under callgrind with collection off, each process's dumps written to
    ``<out_prefix>.<pid>.<n>``."""
    return [
        valgrind,
        "--tool=callgrind",
        "--instr-atstart=no",
        "--trace-children=yes",
        "--vgdb=yes",
        f"--callgrind-out-file={out_prefix}.%p",
        *argv,
    ]


def counted_pids(pgid: int) -> list[int]:
    """The processes of a process group that run under callgrind (their executable is
    valgrind's callgrind tool, whatever their command line says)."""
    pids = []
    for pid in group_pids(pgid):
        try:
            exe = os.readlink(f"/proc/{pid}/exe")
        except OSError:
            continue
        if "callgrind" in Path(exe).name:
            pids.append(pid)
    return pids


def monitor(vgdb: str, pid: int, command: str) -> None:
    """Send one callgrind monitor command (``instrumentation on``, ``dump``) to ``pid`` and
    wait for its answer; RuntimeError when it fails."""
    try:
        done = subprocess.run(
            [vgdb, f"--pid={pid}", *command.split()],
            check=False,
            capture_output=True,
            text=True,
            timeout=DUMP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"vgdb {command!r} to {pid}: no answer in {DUMP_TIMEOUT_S:g} s") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise RuntimeError(f"vgdb {command!r} to {pid} exited {done.returncode}: {output}")


def read_total(path: Path) -> int:
    """The instruction count of one callgrind dump: its ``totals:`` line (the last line
    written, so its presence also says the file is complete). ValueError without one."""
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"{path}: no totals line")


def wait_total(path: Path, timeout: float = DUMP_TIMEOUT_S) -> int:
    """``read_total`` of a dump that may still be being written."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return read_total(path)
        except (OSError, ValueError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"callgrind dump {path}: {exc}") from None
        time.sleep(0.05)


def dump_path(out_prefix: Path, pid: int, number: int) -> Path:
    """Where callgrind writes the ``number``-th dump (from 1) of ``pid``."""
    return Path(f"{out_prefix}.{pid}.{number}")
