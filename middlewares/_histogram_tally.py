"""Observations of one prometheus_client histogram child, added up between two writes.

In multiprocess mode every ``observe()`` takes a lock and writes two values to an mmap'd
file; under load most of a request's metrics cost was that. A tally counts observations
per bucket in plain Python and :meth:`flush` writes each touched bucket and the sum once.

prometheus_client has no public way to add many observations at once, so the bulk tally
reads the child's ``_upper_bounds``, ``_buckets`` and ``_sum`` (prometheus_client 0.x: one
value per bucket, not cumulative, each with ``inc(amount)``). :func:`tally_for` checks
that shape and falls back to plain ``observe()`` per value when it is not there;
tests/middlewares/test_histogram_tally.py pins it to the installed version.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any, Protocol

__all__ = ["Tally", "tally_for"]


class Tally(Protocol):
    """Observations waiting to be written into one histogram child."""

    def add(self, value: float) -> None: ...

    def flush(self) -> None: ...


class _BucketTally:
    """Counts per bucket and a sum, written with one ``inc`` per touched value."""

    __slots__ = ("_bounds", "_buckets", "_counts", "_sum", "_total")

    def __init__(self, child: Any) -> None:
        self._bounds: list[float] = list(child._upper_bounds)
        self._buckets: list[Any] = child._buckets
        self._sum: Any = child._sum
        # Bucket index to count, touched buckets only: a flush walks what changed, usually
        # one or two buckets, not all of them.
        self._counts: dict[int, int] = {}
        self._total = 0.0

    def add(self, value: float) -> None:
        # The first bound at or above the value: the bucket observe() would increment.
        index = bisect_left(self._bounds, value)
        counts = self._counts
        counts[index] = counts.get(index, 0) + 1
        self._total += value

    def flush(self) -> None:
        counts = self._counts
        if not counts:
            return
        buckets = self._buckets
        for index, count in counts.items():
            buckets[index].inc(count)
        counts.clear()
        if self._total:  # adding 0 changes nothing and would cost a write
            self._sum.inc(self._total)
            self._total = 0.0


class _ObserveTally:
    """The fallback: the values kept as they came, each observed at flush."""

    __slots__ = ("_child", "_values")

    def __init__(self, child: Any) -> None:
        self._child = child
        self._values: list[float] = []

    def add(self, value: float) -> None:
        self._values.append(value)

    def flush(self) -> None:
        values, self._values = self._values, []
        for value in values:
            self._child.observe(value)


def _has_buckets(child: Any) -> bool:
    """Whether ``child`` is a histogram child of the shape :class:`_BucketTally` writes."""
    bounds = getattr(child, "_upper_bounds", None)
    buckets = getattr(child, "_buckets", None)
    total = getattr(child, "_sum", None)
    if not isinstance(bounds, list) or not isinstance(buckets, list):
        return False
    if len(bounds) != len(buckets) or not bounds or bounds[-1] != float("inf"):
        return False
    if bounds != sorted(bounds):
        return False
    return all(callable(getattr(value, "inc", None)) for value in [*buckets, total])


def tally_for(child: Any) -> Tally:
    """A tally for the histogram child ``child`` (``histogram.labels(...)``)."""
    return _BucketTally(child) if _has_buckets(child) else _ObserveTally(child)
