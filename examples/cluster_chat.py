"""A chat that works with several workers on several hosts: the cluster's reference app.

    REDIS_URL=redis://127.0.0.1:6379/0 gunicorn examples.cluster_chat:create_app \\
        -k runtime.workers.GunicornWebWorker -w 3

- ``GET /ws?user=U&room=R``: a WebSocket. The first message says which worker serves it
  (``{"worker": pid}``); every text message the client sends goes to everyone in room R,
  whichever worker or host holds their socket.
- ``POST /rooms/{room}``: publishes the request body to the room as text.
- ``POST /logout?user=U``: closes every socket of U, everywhere, with code 4001, and answers
  with the report (``{"closed": n, ...}``).
- ``GET /``: a page that joins a room in the browser.

``CLUSTER_PRESENCE_TTL`` (seconds) sets how long a vanished worker's presence lingers.
docs/cluster.md explains the model; docs/faq.md uses it for the FAQ's WebSocket answers.
"""

from __future__ import annotations

import os

from runtime import cluster, web

LOGOUT = 4001  # a private-use close code (RFC 6455 7.4.2): "you were logged out"
MAX_MESSAGE = 64 * 1024

routes = web.RouteTableDef()


def _required(request: web.Request, name: str) -> str:
    value = request.query.get(name, "")
    if not value:
        raise web.HTTPBadRequest(text=f"The query parameter {name!r} is required\n")
    return value


@routes.get("/ws")
async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    user = _required(request, "user")
    room = _required(request, "room")
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_MESSAGE)
    await ws.prepare(request)
    hub = cluster.hub(request)
    hub.register(ws, user=user, topics=[room])
    await ws.send_json({"worker": os.getpid()})
    async for msg in ws:
        if msg.type is web.WSMsgType.TEXT:
            try:
                await hub.publish(room, msg.data)
            except cluster.ClusterUnavailable:
                await ws.send_json({"error": "chat unavailable, try again"})
    return ws


@routes.post("/rooms/{room}")
async def publish(request: web.Request) -> web.Response:
    text = await request.text()
    try:
        await cluster.hub(request).publish(request.match_info["room"], text)
    except cluster.ClusterUnavailable as exc:
        raise web.HTTPServiceUnavailable(text=f"{exc}\n") from exc
    return web.json_response({"published": True})


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    user = _required(request, "user")
    try:
        report = await cluster.hub(request).close_user(user, code=LOGOUT, reason="logged out")
    except cluster.ClusterUnavailable as exc:
        raise web.HTTPServiceUnavailable(text=f"{exc}\n") from exc
    return web.json_response(report.as_dict())


@routes.get("/")
async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")


def create_app() -> web.Application:
    app = web.Application()
    ttl = float(os.environ.get("CLUSTER_PRESENCE_TTL", "15"))
    cluster.setup(app, presence_ttl=ttl)
    app.add_routes(routes)
    return app


PAGE = """<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>Berth cluster chat</title>
<style>
  body { font: 16px system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #log { border: 1px solid #ccc; height: 20em; overflow-y: auto; padding: .5em; }
  #log p { margin: .2em 0; }
  .status { color: #666; }
</style>
<h1>Cluster chat</h1>
<form id="join">
  <input id="user" placeholder="user" value="guest" required>
  <input id="room" placeholder="room" value="lobby" required>
  <button>Join</button>
</form>
<div id="log" aria-live="polite"></div>
<form id="say">
  <input id="text" placeholder="message" autocomplete="off">
  <button>Send</button>
</form>
<p id="state" class="status">not connected</p>
<script>
"use strict";
const log = document.getElementById("log");
const state = document.getElementById("state");
let ws = null;
let wanted = null;  // {user, room} while we want to be connected

function show(text, cls) {
  const p = document.createElement("p");
  p.textContent = text;
  if (cls) p.className = cls;
  log.appendChild(p);
  log.scrollTop = log.scrollHeight;
}

function connect() {
  if (!wanted) return;
  const q = new URLSearchParams(wanted);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${scheme}//${location.host}/ws?${q}`);
  let first = true;
  ws.onopen = () => { state.textContent = `joined ${wanted.room} as ${wanted.user}`; };
  ws.onmessage = (ev) => {
    if (first) {
      first = false;
      state.dataset.worker = JSON.parse(ev.data).worker;
      return;
    }
    show(ev.data);
  };
  ws.onclose = (ev) => {
    state.textContent = `closed (${ev.code})`;
    state.dataset.closeCode = ev.code;
    // 1001 the server is going away, 1012 messages were missed, 1013 we fell behind:
    // come back and pick up from now. 4001: logged out, stay out.
    if ([1001, 1006, 1012, 1013].includes(ev.code)) setTimeout(connect, 1000);
    else wanted = null;
  };
}

document.getElementById("join").onsubmit = (ev) => {
  ev.preventDefault();
  wanted = {
    user: document.getElementById("user").value,
    room: document.getElementById("room").value,
  };
  if (ws) { ws.onclose = null; ws.close(); }
  connect();
};

document.getElementById("say").onsubmit = (ev) => {
  ev.preventDefault();
  const input = document.getElementById("text");
  if (ws && ws.readyState === WebSocket.OPEN && input.value) {
    ws.send(input.value);
    input.value = "";
  }
};
</script>
</html>
"""
