"""What a cluster hub is told: where Redis is, how long presence lives, how slow sockets
are treated (docs/cluster.md)."""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass

__all__ = ["DEFAULT_URL", "ClusterConfig", "Overflow"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"


class Overflow(enum.StrEnum):
    """What happens when a socket's outgoing queue is full (the peer reads too slowly)."""

    #: Close the socket with 1013 Try Again Later (RFC 6455 7.4.1, IANA registry): the
    #: client learns it fell behind and may reconnect and resync.
    CLOSE = "close"
    #: Drop the oldest queued message to make room (the freshest state wins).
    DROP_OLDEST = "drop_oldest"
    #: Drop the message that does not fit (what was queued first is sent first).
    DROP_NEWEST = "drop_newest"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """Settings of one worker's hub.

    Attributes:
        url: the Redis URL (``redis://``, ``rediss://``, ``unix://``); ``valkey`` speaks
            the same protocol.
        prefix: the namespace of every channel and key, so several applications share one
            Redis.
        presence_ttl: seconds a worker's presence (and its users') outlives its last
            heartbeat; heartbeats run every third of it. A SIGKILLed worker vanishes after
            at most this long.
        queue_size: messages a socket may have waiting for its peer to read.
        overflow: what a full queue does (:class:`Overflow`).
        sharded: topics use sharded pub/sub (``SSUBSCRIBE``/``SPUBLISH``, Redis 7+), which
            a Redis Cluster routes to one shard instead of broadcasting to every node.
        control_maxlen: about how many control operations the stream keeps (``MAXLEN ~``);
            a worker cut off for longer than it takes to issue that many misses the oldest.
        control_poll: seconds between reads of the control stream when no notification
            came (a notification lost in a gap is picked up by the next poll).
        health_interval: seconds of silence after which the subscriber connection is
            pinged; twice that without any answer and it is taken for dead.
        backoff_min, backoff_max: the listener's reconnect delays, doubling from the first
            to the second.
    """

    url: str = DEFAULT_URL
    prefix: str = "berth"
    presence_ttl: float = 15.0
    queue_size: int = 256
    overflow: Overflow = Overflow.CLOSE
    sharded: bool = False
    control_maxlen: int = 10_000
    control_poll: float = 1.0
    health_interval: float = 5.0
    backoff_min: float = 1.0
    backoff_max: float = 30.0

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("url: a Redis URL such as redis://127.0.0.1:6379/0")
        if not self.prefix or any(c.isspace() for c in self.prefix):
            raise ValueError(f"prefix: a non-empty name without spaces, got {self.prefix!r}")
        if self.presence_ttl < 0.3:
            raise ValueError(f"presence_ttl: at least 0.3 seconds, got {self.presence_ttl}")
        if self.queue_size < 1:
            raise ValueError(f"queue_size: at least 1, got {self.queue_size}")
        if self.control_maxlen < 100:
            raise ValueError(f"control_maxlen: at least 100, got {self.control_maxlen}")
        for name in ("control_poll", "health_interval", "backoff_min"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: a positive number of seconds")
        if self.backoff_max < self.backoff_min:
            raise ValueError("backoff_max: not below backoff_min")
        # A str from a config file becomes the enum (and a typo fails here, not later).
        object.__setattr__(self, "overflow", Overflow(self.overflow))

    @staticmethod
    def url_from_env() -> str:
        """``$REDIS_URL``, or the local default."""
        return os.environ.get("REDIS_URL") or DEFAULT_URL
