"""What the load clients (``ws_load.py``, ``rate_load.py``, ``memory.py``) share: the loop they
run on, and the one result line they print for the harness to read
(``bench/runners/load_tool.py``).

Standard library only (uvloop when it is installed): the clients run as scripts too.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from typing import Any

RESULT_MARKER = "BENCH_RESULT "  # prefix of the JSON line every client prints


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # noqa: PLC0415  (optional: the bench venv has it)
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def report(
    tool: str,
    work: Coroutine[Any, Any, Any],
    errors: tuple[type[BaseException], ...] = (RuntimeError, OSError),
) -> int:
    """Run ``work`` on a new loop; print its result as the result line (exit status 0), or
    one readable line on stderr for an expected error (exit status 1)."""
    loop = new_loop()
    try:
        result = loop.run_until_complete(work)
    except errors as exc:
        print(f"{tool}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    finally:
        loop.close()
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0
