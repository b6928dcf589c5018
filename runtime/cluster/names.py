"""The Redis names a hub uses, all under one prefix (docs/cluster.md lists them).

- ``{p}:topic:{topic}``   pub/sub channel of a topic (data plane, at-most-once)
- ``{p}:control``         stream of control operations (at-least-once, ``MAXLEN ~``)
- ``{p}:ctl``             pub/sub channel that wakes the workers when the stream grew
- ``{p}:reply:{worker}``  pub/sub channel where a worker hears the answers to its operations
- ``{p}:workers``         sorted set indexing the workers (score: last heartbeat, for humans)
- ``{p}:worker:{worker}`` a worker's liveness key, with the presence TTL
- ``{p}:presence:{worker}`` hash ``u:{user}`` -> sockets, with the presence TTL
"""

from __future__ import annotations

__all__ = ["Names"]


class Names:
    """Channel and key names under ``prefix``."""

    __slots__ = ("control", "ctl", "prefix", "topic_prefix", "workers")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.topic_prefix = f"{prefix}:topic:".encode()
        self.control = f"{prefix}:control"
        self.ctl = f"{prefix}:ctl".encode()
        self.workers = f"{prefix}:workers"

    def topic(self, topic: str) -> bytes:
        return self.topic_prefix + topic.encode()

    def reply(self, worker: str) -> bytes:
        return f"{self.prefix}:reply:{worker}".encode()

    def worker(self, worker: str) -> str:
        return f"{self.prefix}:worker:{worker}"

    def presence(self, worker: str) -> str:
        return f"{self.prefix}:presence:{worker}"
