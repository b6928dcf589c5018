"""Instructions per request from two counted windows: the arithmetic of the ``instructions``
scenario (``bench/runners/instructions.py`` does the counting).

Each window is a number of requests answered while callgrind counted the server's
instructions, counters zeroed at its start (a callgrind dump resets them). A window's count
is not just ``requests x cost``: it also holds a part that does not grow with the requests
(the dump itself, the loop waking for a timer, the first read after collection is switched
on). Two windows of different sizes on the same connection cancel that part out::

    per request = (I(large) - I(small)) / (large - small)

which is the slope through the two points; what is left at zero requests is the fixed part,
kept in the results as a sanity check (it should be small next to a window, and is not
reported as the figure). Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """``requests`` answered while the server executed ``instructions`` (callgrind's Ir)."""

    requests: int
    instructions: int


def per_request(small: Window, large: Window) -> float:
    """The instructions one more request costs: the slope between the two windows.

    ValueError unless ``large`` has more requests than ``small`` (the slope is undefined).
    """
    if large.requests <= small.requests:
        raise ValueError(
            f"the large window ({large.requests} requests) must have more requests than the "
            f"small one ({small.requests})"
        )
    return (large.instructions - small.instructions) / (large.requests - small.requests)


def fixed_part(small: Window, large: Window) -> float:
    """What a window costs at zero requests: the intercept of the same line. A value of the
    order of a window's count means the windows disagree (something else ran meanwhile)."""
    return small.instructions - small.requests * per_request(small, large)
