"""docs/faq.md, "How to programmatically close a WebSocket server-side?": tag sockets in the
application's WebSocket registry, close a user's sockets from another handler."""

from __future__ import annotations

from runtime import web


def authenticate_user(request: web.Request) -> str:
    return request.headers["X-User"]  # stands for your authentication


async def echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    user_id = authenticate_user(request)
    await ws.prepare(request)
    web.websockets(request.app).add(ws, key=user_id)
    async for msg in ws:
        if msg.type is web.WSMsgType.TEXT:
            await ws.send_str(msg.data)
    return ws


async def logout(request: web.Request) -> web.Response:
    user_id = authenticate_user(request)
    closed = await web.websockets(request.app).close_all(
        user_id, code=web.WSCloseCode.POLICY_VIOLATION, message="logged out"
    )
    return web.Response(text=f"closed {closed} sockets")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/echo", echo)
    app.router.add_post("/logout", logout)
    return app
