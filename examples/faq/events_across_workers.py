"""docs/faq.md, "How to receive incoming events from different sources in parallel?",
with several workers: events published anywhere reach the sockets on every worker."""

from __future__ import annotations

from runtime import cluster, web


async def chat(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    hub = cluster.hub(request)
    hub.register(ws, topics=["news"])  # the second source: the hub sends on this socket
    async for msg in ws:  # the one reader: what this user sends
        if msg.type is web.WSMsgType.TEXT:
            await hub.publish("news", msg.data)
    return ws


async def post_news(request: web.Request) -> web.Response:
    # Any other part of the app (a handler, a background task) publishes the same way.
    await cluster.hub(request).publish("news", await request.text())
    return web.Response(status=204)


def create_app() -> web.Application:
    app = web.Application()
    cluster.setup(app)  # one subscription per worker, on $REDIS_URL
    app.router.add_get("/chat", chat)
    app.router.add_post("/news", post_news)
    return app
