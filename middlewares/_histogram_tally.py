"""Observations of one prometheus_client histogram child, added up between two writes.

In multiprocess mode every ``observe()`` takes a lock and writes two values to an mmap'd
file; under load most of a request's metrics cost was that. A tally keeps the values in a
plain list, and :meth:`flush` counts them per bucket and writes each touched bucket and the
sum once.

prometheus_client has no public way to add many observations at once, so the bulk tally
reads the child's ``_upper_bounds``, ``_buckets`` and ``_sum`` (prometheus_client 0.x: one
value per bucket, not cumulative, each with ``inc(amount)``). :func:`tally_for` checks
that shape and falls back to plain ``observe()`` per value when it is not there;
tests/middlewares/test_histogram_tally.py pins it to the installed version.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any, Protocol

__all__ = ["Tally", "tally_for"]


class Tally(Protocol):
    """Observations waiting to be written into one histogram child.

    ``values`` is the list itself: a request appends to it (``values.append`` is a C call,
    no Python frame), and :meth:`flush` writes and clears it.
    """

    values: list[float]

    def add(self, value: float) -> None: ...

    def flush(self) -> None: ...


class _BucketTally:
    """The values kept as they came; a flush counts them per bucket and writes one ``inc``
    per touched bucket and one for the sum.

    The count is per bucket, not per value: the values are sorted (in C), and each touched
    bucket's count is the number of values up to its bound minus those up to the bound
    below. A loop pass's values usually fall in one or two buckets, so a flush of many
    requests costs a few bisections rather than one per request.
    """

    __slots__ = ("_bounds", "_buckets", "_sum", "values")

    def __init__(self, child: Any) -> None:
        self._bounds: list[float] = list(child._upper_bounds)
        self._buckets: list[Any] = child._buckets
        self._sum: Any = child._sum
        self.values: list[float] = []

    def add(self, value: float) -> None:
        self.values.append(value)

    def flush(self) -> None:
        values = self.values
        if not values:
            return
        total = sum(values)
        values.sort()
        bounds = self._bounds
        buckets = self._buckets
        # observe(v) increments the first bucket whose bound is >= v: bucket i holds the
        # values in (bounds[i - 1], bounds[i]]. Start at the smallest value's bucket and
        # stop once every value is counted (the last bound is +Inf).
        index = bisect_left(bounds, values[0])
        below = 0
        end = len(values)
        last = len(bounds)  # a NaN is below no bound: it ends the walk, counted nowhere
        while below < end and index < last:
            upto = bisect_right(values, bounds[index], below)
            if upto > below:
                buckets[index].inc(upto - below)
                below = upto
            index += 1
        values.clear()
        if total:  # adding 0 changes nothing and would cost a write
            self._sum.inc(total)


class _ObserveTally:
    """The fallback: the values kept as they came, each observed at flush."""

    __slots__ = ("_child", "values")

    def __init__(self, child: Any) -> None:
        self._child = child
        self.values: list[float] = []

    def add(self, value: float) -> None:
        self.values.append(value)

    def flush(self) -> None:
        values = self.values[:]
        self.values.clear()  # the same list: the series hands it out (middlewares/metrics.py)
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
