"""docs/faq.md, "How to programmatically close a WebSocket server-side?", with several
workers: /logout closes the user's sockets on every worker and host."""

from __future__ import annotations

from runtime import cluster, web


def authenticate_user(request: web.Request) -> str:
    return request.headers["X-User"]  # stands for your authentication


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    user_id = authenticate_user(request)
    await ws.prepare(request)
    cluster.hub(request).register(ws, user=user_id)
    async for msg in ws:
        if msg.type is web.WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


async def logout(request: web.Request) -> web.Response:
    report = await cluster.hub(request).close_user(
        authenticate_user(request), code=web.WSCloseCode.POLICY_VIOLATION, reason="logged out"
    )
    return web.Response(text=f"closed {report.closed} sockets on {len(report.workers)} workers")


def create_app() -> web.Application:
    app = web.Application()
    cluster.setup(app)
    app.router.add_get("/echo", echo)
    app.router.add_post("/logout", logout)
    return app
