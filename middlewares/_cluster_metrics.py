"""The cluster hub's counters in Prometheus: :func:`track_cluster`.

``runtime.cluster`` counts what its hub does in plain integers (``hub.stats``, a
``ClusterStats``); this module copies their increase into prometheus_client counters every
``interval`` seconds while the application runs, and once more after it stopped. The hub is
taken duck-typed (:class:`ClusterHub`): the catalogue does not import ``runtime.cluster``
(docs/architecture.md, the layers).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Final, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from runtime import web

__all__ = ["CLUSTER_COUNTERS", "ClusterHub", "ClusterMetrics", "track_cluster"]

#: ``hub.stats`` field -> (counter name without ``_total``, help).
CLUSTER_COUNTERS: Final[Mapping[str, tuple[str, str]]] = {
    "published": ("berth_cluster_messages_published", "Messages this worker published."),
    "received": (
        "berth_cluster_messages_received",
        "Data messages the worker's subscriber received from Redis.",
    ),
    "delivered": (
        "berth_cluster_messages_delivered",
        "Messages handed to local sockets, one per socket.",
    ),
    "dropped": (
        "berth_cluster_messages_dropped",
        "Messages a full socket queue dropped, or a closing socket could not take.",
    ),
    "closed_slow": (
        "berth_cluster_sockets_closed_slow",
        "Sockets closed with 1013 because their queue overflowed.",
    ),
    "gaps": ("berth_cluster_gaps", "Times messages may have been missed (see on_gap)."),
    "reconnects": ("berth_cluster_reconnects", "Subscriber connections lost and made again."),
    "control_applied": (
        "berth_cluster_control_operations",
        "Control operations (close_user, send_user) applied by this worker.",
    ),
    "listener_restarts": (
        "berth_cluster_listener_restarts",
        "Times the watchdog restarted a listener that had died.",
    ),
}


class ClusterStatsLike(Protocol):
    """What :func:`track_cluster` reads of ``hub.stats``."""

    def as_dict(self) -> Mapping[str, int]: ...


class ClusterHub(Protocol):
    """A ``runtime.cluster`` hub as :func:`track_cluster` sees it."""

    @property
    def stats(self) -> ClusterStatsLike: ...

    @property
    def connected(self) -> bool: ...


class ClusterMetrics:
    """The cluster's counters and the ``berth_cluster_connected`` gauge, in ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = REGISTRY) -> None:
        self.counters: dict[str, Counter] = {
            field: Counter(name, doc, registry=registry)
            for field, (name, doc) in CLUSTER_COUNTERS.items()
        }
        self.connected = Gauge(
            "berth_cluster_connected",
            "Workers whose cluster subscriber is connected to Redis (1 per worker).",
            registry=registry,
            multiprocess_mode="livesum",  # a dead worker is not connected
        )


_default: ClusterMetrics | None = None


def default_cluster_metrics() -> ClusterMetrics:
    """The :class:`ClusterMetrics` of prometheus_client's default registry, made on first use."""
    global _default  # noqa: PLW0603 - one set of metrics per process, made lazily
    if _default is None:
        _default = ClusterMetrics()
    return _default


class _Copier:
    """Copies the increase of ``hub.stats`` since the last copy into the counters."""

    __slots__ = ("_hub", "_last", "_metrics")

    def __init__(self, hub: ClusterHub, metrics: ClusterMetrics) -> None:
        self._hub = hub
        self._metrics = metrics
        self._last: dict[str, int] = {}

    def copy(self, *, running: bool = True) -> None:
        now = dict(self._hub.stats.as_dict())
        for field, counter in self._metrics.counters.items():
            increase = now.get(field, 0) - self._last.get(field, 0)
            if increase > 0:
                counter.inc(increase)
        self._last = now
        self._metrics.connected.set(1 if running and self._hub.connected else 0)

    async def every(self, interval: float) -> None:
        while True:
            self.copy()
            await asyncio.sleep(interval)


def track_cluster(
    app: web.Application,
    hub: ClusterHub,
    *,
    metrics: ClusterMetrics | None = None,
    interval: float = 1.0,
) -> None:
    """Export ``hub.stats`` (``runtime.cluster``) as Prometheus counters while ``app`` runs.

    Every ``interval`` seconds from the application's start (after gunicorn's fork), the
    increase of each counter of ``hub.stats`` is added to its ``berth_cluster_*_total``
    counter, and ``berth_cluster_connected`` is set to 1 while the hub's subscriber is
    connected; once more after the application and its hub have stopped (``on_cleanup``,
    which runs after every ``cleanup_ctx``), so the last counts are not lost, with the gauge
    at 0. Call it after ``cluster.setup``: ``track_cluster(app, cluster.setup(app))``.

    Args:
        app: the application that owns ``hub``.
        hub: its hub (:class:`ClusterHub`: ``stats.as_dict()`` and ``connected``).
        metrics: where to count; default the counters of prometheus_client's default
            registry (what ``metrics_handler()`` renders).
        interval: seconds between two copies.
    """
    if interval <= 0:
        raise ValueError(f"interval must be positive, not {interval!r}")
    copier = _Copier(hub, metrics if metrics is not None else default_cluster_metrics())

    async def copying(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.create_task(copier.every(interval), name="berth-cluster-metrics")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def last_copy(app: web.Application) -> None:
        copier.copy(running=False)

    app.cleanup_ctx.append(copying)
    app.on_cleanup.append(last_copy)
