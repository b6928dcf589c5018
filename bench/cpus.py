"""CPU pinning: the servers on one set of CPUs, the load tools on another (``taskset``)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from bench.report import log


def parse_cpu_list(cpus: str) -> set[int]:
    """taskset's list syntax: ``0``, ``0,2``, ``0-3``."""
    out: set[int] = set()
    for part in cpus.split(","):
        low, _, high = part.strip().partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def pin(cpus: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` under ``taskset -c cpus``, or as it is when ``cpus`` is None."""
    return ["taskset", "-c", cpus, *argv] if cpus is not None else list(argv)


def pinning(server_cpus: str, client_cpus: str, *, enabled: bool) -> tuple[str | None, str | None]:
    """The server and client CPU lists to pin to: none when pinning is off or fewer than two
    CPUs are available (with a warning)."""
    if not enabled:
        return None, None
    available = os.sched_getaffinity(0)
    if len(available) < 2:
        log(f"warning: only CPUs {sorted(available)} available: not pinning server and client")
        return None, None
    return server_cpus, client_cpus
