"""docs/faq.md, "How to receive incoming events from different sources in parallel?": the
handler is the socket's only reader; a task per other source sends on the same socket."""

from __future__ import annotations

import asyncio

from runtime import web


class Hub:
    """Stands for a pub/sub channel (Redis, NATS, ...): every subscriber gets every event."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[str]] = set()

    def subscribe(self) -> asyncio.Queue[str]:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self.queues.add(queue)
        return queue

    def publish(self, event: str) -> None:
        for queue in self.queues:
            queue.put_nowait(event)


HUB = web.AppKey("hub", Hub)


async def forward(queue: asyncio.Queue[str], ws: web.WebSocketResponse) -> None:
    while True:  # the second source: its events go out on the same socket
        await ws.send_str(await queue.get())


async def chat(request: web.Request) -> web.WebSocketResponse:
    hub = request.app[HUB]
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    queue = hub.subscribe()
    forwarder = asyncio.create_task(forward(queue, ws))
    try:
        async for msg in ws:  # the one reader: what this user sends
            if msg.type is web.WSMsgType.TEXT:
                hub.publish(msg.data)
    finally:
        forwarder.cancel()
        hub.queues.discard(queue)
    return ws


def create_app() -> web.Application:
    app = web.Application()
    app[HUB] = Hub()
    app.router.add_get("/chat", chat)
    return app
