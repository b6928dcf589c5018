"""What /proc says about a server: its process group's members, their RSS, descriptors and CPU
time, and how busy some CPUs were.

Linux only, standard library only: the harness reads the CPU figures around every load tool
run, and ``bench/memory.py`` (run as a script in the bench venv) the RSS and descriptors.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _stat_fields(stat: Path) -> list[str]:
    """The fields of ``/proc/<pid>/stat`` after the command name (which may hold spaces):
    state, ppid, pgrp, ..."""
    return stat.read_text().rsplit(")", 1)[1].split()


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(_stat_fields(stat)[2]) == pgid:
                pids.append(int(stat.parent.name))
    return sorted(pids)


def rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB, None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def fd_count(pid: int) -> int:
    """How many descriptors a process holds (0 if it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) used so far by the live processes of a process group."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = _stat_fields(stat)
            if int(fields[2]) == pgid:
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def cpus_busy_seconds(cpus: set[int]) -> float:
    """Busy time (everything but idle and iowait, steal included) of some CPUs, all processes."""
    ticks = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/stat").read_text().splitlines():
            name, *values = line.split()
            if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, values[:8])
                ticks += user + nice + system + irq + softirq + steal
    return ticks / os.sysconf("SC_CLK_TCK")
