"""The smallest load settings a bench test can run with; a test changes what it needs."""

from __future__ import annotations

import dataclasses
from typing import Any

from bench.plan import LoadSettings


def tiny_load(**changes: Any) -> LoadSettings:
    """One of everything, no warm-up, no ready timeout, with ``changes`` applied."""
    load = LoadSettings(
        runs=1,
        duration=1,
        warmup=0,
        connections=1,
        threads=1,
        ws_connections=1,
        ws_window=1,
        rate=1.0,
        rate_connections=1,
        mem_connections=1,
        fanout_clients=1,
        fanout_window=1,
        fanout_rate=1.0,
        instr_requests=1,
        instr_warmup=0,
        ready_timeout=None,
    )
    return dataclasses.replace(load, **changes)
