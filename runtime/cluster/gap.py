"""A gap: a time when this worker may have missed published messages."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Gap"]


@dataclass(frozen=True, slots=True)
class Gap:
    """Messages on ``topics`` may have been missed.

    Attributes:
        reason: ``"reconnect"`` (the subscriber connection was lost and made again),
            ``"resubscribed"`` (Redis confirmed a subscription twice: the client library
            reconnected by itself), or ``"restarted"`` (the watchdog replaced a listener).
        topics: the local topics affected.
        duration: seconds without a subscription, as far as this worker can tell (0 when
            unknown).
    """

    reason: str
    topics: frozenset[str]
    duration: float = 0.0
