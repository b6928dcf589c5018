"""The hub's counters: plain integers a metrics exporter reads (docs/observability.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["ClusterStats"]


@dataclass(slots=True)
class ClusterStats:
    """What one worker's hub did since it started.

    Attributes:
        published: messages this worker published.
        received: data messages its subscriber received from Redis.
        delivered: messages handed to local sockets (one per socket).
        dropped: messages a full queue dropped, or that a closing socket could not take.
        closed_slow: sockets closed with 1013 because their queue overflowed.
        gaps: times messages may have been missed (a reconnect, a repeated subscription).
        reconnects: subscriber connections lost and made again.
        control_applied: control operations (close_user, send_user) applied here.
        listener_restarts: times the watchdog restarted a listener that had died.
    """

    published: int = 0
    received: int = 0
    delivered: int = 0
    dropped: int = 0
    closed_slow: int = 0
    gaps: int = 0
    reconnects: int = 0
    control_applied: int = 0
    listener_restarts: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
