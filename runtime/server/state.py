"""The states of one HTTP/1.1 connection and the changes allowed between them.

``HttpProtocol`` (runtime/server/protocol.py) keeps its lifecycle in one :class:`ConnState`
and changes it only through :func:`transition`, which refuses a change the table below does
not list, so an impossible sequence (an upgrade after a refusal, reading after the close)
fails loudly in tests instead of corrupting a connection. Two things stay outside the state
because they are orthogonal to it: *draining* (a graceful shutdown began: every answer from
now on carries ``Connection: close``, whatever the state) and which timer is armed
(:class:`TimerKind`). See docs/architecture.md.
"""

from __future__ import annotations

import enum

__all__ = ["ConnState", "InvalidTransition", "TimerKind", "transition"]


class ConnState(enum.Enum):
    """Where a connection is in its life."""

    #: Reading requests and answering them in order.
    OPEN = "open"
    #: An upgrade request waits for its handler: parsing stopped, later bytes are kept. The
    #: handler either accepts (UPGRADED) or answers normally (back to OPEN, bytes re-fed).
    SWITCHING = "switching"
    #: Another protocol (a WebSocket) owns the connection's bytes.
    UPGRADED = "upgraded"
    #: A request was refused (malformed, too large, too slow): the answer is being sent and
    #: nothing more is read; the connection closes after it.
    REFUSING = "refusing"
    #: Our side is finished (FIN sent): what the client still sends is read and dropped, so
    #: a reset does not destroy the answer on its way (RFC 9112 9.6), until the client
    #: closes or ``lingering_time`` ends.
    LINGERING = "lingering"
    #: The transport is gone.
    CLOSED = "closed"


class TimerKind(enum.Enum):
    """What the connection's one timer is armed for."""

    HEAD = "head"  # head_timeout, and the head's data-rate windows
    BODY = "body"  # a body's data-rate windows
    IDLE = "idle"  # keepalive_timeout between requests
    GRACE = "grace"  # the window idle connections get once draining began
    LINGER = "linger"  # lingering_time


class InvalidTransition(RuntimeError):
    """A state change the table does not allow: a bug in the connection's code."""


_ALLOWED: dict[ConnState, frozenset[ConnState]] = {
    ConnState.OPEN: frozenset(
        {ConnState.SWITCHING, ConnState.REFUSING, ConnState.LINGERING, ConnState.CLOSED}
    ),
    ConnState.SWITCHING: frozenset(
        {ConnState.OPEN, ConnState.UPGRADED, ConnState.LINGERING, ConnState.CLOSED}
    ),
    ConnState.UPGRADED: frozenset({ConnState.CLOSED}),
    ConnState.REFUSING: frozenset({ConnState.LINGERING, ConnState.CLOSED}),
    ConnState.LINGERING: frozenset({ConnState.CLOSED}),
    ConnState.CLOSED: frozenset(),
}


def transition(current: ConnState, new: ConnState) -> ConnState:
    """``new``, if the table allows going there from ``current``.

    Raises:
        InvalidTransition: it does not.
    """
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"connection state {current.value} -> {new.value}")
    return new
