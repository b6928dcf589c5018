"""Metric updates coalesced per event-loop pass: recorded in plain Python, written once.

Under load many requests finish in one pass of the loop; each writes its values into a
:class:`Pending` item (a label set's tallies, a gauge's net delta, a counter's count), and
the first change of a pass schedules :meth:`Batch.flush` with ``loop.call_soon``, which
writes every touched item into prometheus_client once, at the start of the next pass. So a
prometheus value is written once per pass and label set, not once per request, and it is in
place one loop pass after the response went to the transport (a scrape by another worker
in that instant counts it in the next scrape: late, never lost).
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["Batch", "CounterDelta", "GaugeDelta", "Pending"]


class Pending:
    """Something with values waiting to be written: :meth:`write` writes and resets them."""

    __slots__ = ("dirty",)

    def __init__(self) -> None:
        self.dirty = False

    def write(self) -> None:
        raise NotImplementedError


class Batch:
    """The items changed since the last flush, written together once per loop pass."""

    __slots__ = ("_changed", "_loop")

    def __init__(self) -> None:
        self._changed: list[Pending] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # where a flush is scheduled

    def mark(self, item: Pending) -> None:
        """Note that ``item`` changed (call when ``item.dirty`` is false)."""
        item.dirty = True
        self._changed.append(item)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A flush of a loop that closed before running it would never come: a new loop
            # schedules its own, which writes whatever is pending.
            self._loop = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write every changed item now (also what a scrape does before rendering)."""
        self._loop = None
        changed, self._changed = self._changed, []
        for item in changed:
            item.dirty = False
            item.write()


class GaugeDelta(Pending):
    """A gauge child's net change (``+1`` when a request starts, ``-1`` when it ends)."""

    __slots__ = ("_child", "delta")

    def __init__(self, child: Any) -> None:
        super().__init__()
        self._child = child
        self.delta = 0

    def write(self) -> None:
        if self.delta:
            self._child.inc(self.delta)
            self.delta = 0


class CounterDelta(Pending):
    """A counter child's count since the last flush."""

    __slots__ = ("_child", "count")

    def __init__(self, child: Any) -> None:
        super().__init__()
        self._child = child
        self.count = 0

    def write(self) -> None:
        if self.count:
            self._child.inc(self.count)
            self.count = 0
