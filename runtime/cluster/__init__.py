"""WebSocket fan-out and a user registry across workers and hosts, on Redis.

Install the extra (``pip install berth[redis]``), then in the app factory::

    from runtime import cluster, web

    def create_app() -> web.Application:
        app = web.Application()
        cluster.setup(app)                     # $REDIS_URL, or redis://127.0.0.1:6379/0
        ...

    async def chat(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        hub = cluster.hub(request)
        hub.register(ws, user=user_id, topics=[room])
        async for msg in ws:
            await hub.publish(room, msg.data)  # every socket in the room, on every worker
        return ws

    report = await cluster.hub(request).close_user(user_id, code=4001, reason="logout")

The model (at-most-once messages, at-least-once control operations, gaps) and the Redis
settings that matter are in docs/cluster.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from ..web import AppKey, Application, Request
from .config import ClusterConfig, Overflow
from .control import ClusterUnavailable, Report
from .gap import Gap
from .hub import GapHandler, Hub, close_on_gap
from .stats import ClusterStats

__all__ = [
    "HUB",
    "ClusterConfig",
    "ClusterStats",
    "ClusterUnavailable",
    "Gap",
    "GapHandler",
    "Hub",
    "Overflow",
    "Report",
    "close_on_gap",
    "hub",
    "setup",
]

HUB: AppKey[Hub] = AppKey("runtime.cluster.hub", Hub)


def setup(
    app: Application,
    url: str | None = None,
    *,
    prefix: str = "berth",
    presence_ttl: float = 15.0,
    queue_size: int = 256,
    overflow: Overflow | str = Overflow.CLOSE,
    on_gap: GapHandler | None = None,
    sharded: bool = False,
    control_maxlen: int = 10_000,
    health_interval: float = 5.0,
    control_poll: float = 1.0,
    backoff_min: float = 1.0,
    backoff_max: float = 30.0,
) -> Hub:
    """Give ``app`` a hub that connects when the application starts (after gunicorn's
    fork, from ``cleanup_ctx``) and leaves the cluster when it stops.

    Args:
        url: the Redis URL; ``None`` reads ``$REDIS_URL`` (default
            ``redis://127.0.0.1:6379/0``).
        on_gap: called as ``on_gap(gap, sockets)`` (sync or async) when messages may have
            been missed; the default, :func:`close_on_gap`, closes those sockets with 1012.
        The rest: see :class:`ClusterConfig`.

    Returns:
        The hub (also ``cluster.hub(app)``).

    Raises:
        ValueError: a setting out of range.
    """
    config = ClusterConfig(
        url=url or ClusterConfig.url_from_env(),
        prefix=prefix,
        presence_ttl=presence_ttl,
        queue_size=queue_size,
        overflow=Overflow(overflow),
        sharded=sharded,
        control_maxlen=control_maxlen,
        health_interval=health_interval,
        control_poll=control_poll,
        backoff_min=backoff_min,
        backoff_max=backoff_max,
    )
    the_hub = Hub(config, on_gap=on_gap)
    app[HUB] = the_hub

    async def cluster_lifetime(app: Application) -> AsyncIterator[None]:
        await the_hub.start()
        try:
            yield
        finally:
            await the_hub.stop()

    app.cleanup_ctx.append(cluster_lifetime)
    return the_hub


def hub(owner: Request | Application) -> Hub:
    """The hub of a request's application (or of its parents), or of ``owner``.

    Raises:
        LookupError: no application on the way set up a cluster.
    """
    state = owner.config_dict if isinstance(owner, Request) else owner
    try:
        return state[HUB]
    except KeyError:
        raise LookupError("No cluster here: call cluster.setup(app) in the app factory") from None
