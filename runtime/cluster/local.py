"""This worker's sockets: by user and by topic, and which topics it must subscribe to.

A socket leaves by itself when its connection ends (the WebSocket calls ``discard`` on
every registry it joined), so the maps only ever hold open or closing sockets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..websocket.connection import WebSocketBase
from .config import Overflow
from .outbox import Outbox
from .stats import ClusterStats

__all__ = ["LocalSockets", "Member"]


class Member:
    """One registered socket: its user, its topics and its outgoing queue."""

    __slots__ = ("outbox", "topics", "user")

    def __init__(self, outbox: Outbox, user: str | None) -> None:
        self.outbox = outbox
        self.user = user
        self.topics: set[str] = set()


class LocalSockets:
    """The registry of one worker's sockets.

    Args:
        on_topics: called with (topics now wanted, topics no longer wanted) whenever the
            set of topics some local socket wants changes; the hub (un)subscribes.
        on_users: called with the users whose local socket count changed (presence).
    """

    __slots__ = (
        "_limit",
        "_on_topics",
        "_on_users",
        "_overflow",
        "_stats",
        "by_topic",
        "by_user",
        "members",
    )

    def __init__(
        self,
        *,
        limit: int,
        overflow: Overflow,
        stats: ClusterStats,
        on_topics: Callable[[Iterable[str], Iterable[str]], None],
        on_users: Callable[[Iterable[str]], None],
    ) -> None:
        self._limit = limit
        self._overflow = overflow
        self._stats = stats
        self._on_topics = on_topics
        self._on_users = on_users
        self.members: dict[WebSocketBase, Member] = {}
        self.by_user: dict[str, dict[Member, None]] = {}
        self.by_topic: dict[str, dict[Member, None]] = {}

    def add(self, ws: WebSocketBase, user: str | None, topics: Iterable[str]) -> None:
        """Register ``ws`` (again: a new user replaces the old one, topics add up)."""
        member = self.members.get(ws)
        if member is None:
            if ws.closed:
                return
            outbox = Outbox(ws, limit=self._limit, overflow=self._overflow, stats=self._stats)
            member = self.members[ws] = Member(outbox, None)
            ws._registries.append(self)
        if user is not None and user != member.user:
            self._set_user(member, user)
        self.subscribe(ws, topics)

    def _set_user(self, member: Member, user: str | None) -> None:
        changed = []
        old = member.user
        if old is not None:
            bucket = self.by_user[old]
            del bucket[member]
            if not bucket:
                del self.by_user[old]
            changed.append(old)
        member.user = user
        if user is not None:
            self.by_user.setdefault(user, {})[member] = None
            changed.append(user)
        self._on_users(changed)

    def subscribe(self, ws: WebSocketBase, topics: Iterable[str]) -> None:
        """Add topics to a registered socket."""
        member = self.members.get(ws)
        if member is None:
            raise LookupError("register the WebSocket with the hub first")
        new = []
        for topic in topics:
            if not isinstance(topic, str) or not topic:
                raise ValueError(f"a topic is a non-empty str, got {topic!r}")
            if topic in member.topics:
                continue
            member.topics.add(topic)
            bucket = self.by_topic.get(topic)
            if bucket is None:
                bucket = self.by_topic[topic] = {}
                new.append(topic)
            bucket[member] = None
        if new:
            self._on_topics(new, ())

    def unsubscribe(self, ws: WebSocketBase, topics: Iterable[str]) -> None:
        """Remove topics from a socket (no error for one it does not have)."""
        member = self.members.get(ws)
        if member is None:
            return
        self._leave_topics(member, list(topics))

    def _leave_topics(self, member: Member, topics: list[str]) -> None:
        gone = []
        for topic in topics:
            if topic not in member.topics:
                continue
            member.topics.discard(topic)
            bucket = self.by_topic[topic]
            del bucket[member]
            if not bucket:
                del self.by_topic[topic]
                gone.append(topic)
        if gone:
            self._on_topics((), gone)

    def discard(self, ws: WebSocketBase) -> None:
        """Remove ``ws`` entirely (the WebSocket calls this when its connection ends)."""
        member = self.members.pop(ws, None)
        if member is None:
            return
        member.outbox.discard()
        self._leave_topics(member, list(member.topics))
        if member.user is not None:
            self._set_user(member, None)
        if self in ws._registries:
            ws._registries.remove(self)

    def of_user(self, user: str) -> list[Member]:
        return list(self.by_user.get(user, ()))

    def of_topics(self, topics: Iterable[str]) -> list[Member]:
        seen: dict[Member, None] = {}
        for topic in topics:
            seen.update(self.by_topic.get(topic, {}))
        return list(seen)

    def user_counts(self) -> dict[str, int]:
        return {user: len(members) for user, members in self.by_user.items()}
