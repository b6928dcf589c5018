"""Figures and their presentation: percentiles, a slope, plain-text tables, the JSON line."""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from typing import Any

RESULT_MARKER = "SOAK_RESULT"


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0..100, nearest rank) of ``values``; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ``ys`` over ``xs`` (None with fewer than 3 points or flat xs)."""
    if len(xs) < 3:
        return None
    mean_x = sum(xs) / len(xs)
    mean_y = sum(ys) / len(ys)
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def fmt(value: Any, digits: int = 1) -> str:
    """A cell: None as ``-``, floats rounded."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell, the first left-aligned, the others right."""
    cells = [list(header)] + [[fmt(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: Sequence[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return "  ".join(parts).rstrip()

    out = [line(cells[0]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells[1:]]
    return "\n".join(out)


def emit(scenario: str, figures: dict[str, Any]) -> None:
    """Print the machine-readable line: ``SOAK_RESULT {"scenario": ..., ...}``."""
    print(f"{RESULT_MARKER} {json.dumps({'scenario': scenario, **figures}, default=str)}")
