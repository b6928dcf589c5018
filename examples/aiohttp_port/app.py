"""The application factory: sessions, templates, CORS and the routes.

``CHAT_SECRET_KEY`` (a Fernet key: 32 bytes, URL-safe base64) turns on encrypted session
cookies, which need the ``cryptography`` package; without it the session cookie is plain
JSON (aiohttp-session's ``SimpleCookieStorage``), fine for a demo and for tests only.
``CHAT_CORS_ORIGINS`` (comma-separated) lists the origins whose pages may call the JSON API
(``https://chat.example`` by default).
"""

from __future__ import annotations

import base64
import os
from collections import deque
from pathlib import Path

import aiohttp_cors
import aiohttp_jinja2
import aiohttp_session
import jinja2
from aiohttp import web

from . import auth, chat

TEMPLATES = Path(__file__).with_name("templates")
HISTORY_LENGTH = 50
DEFAULT_ORIGINS = "https://chat.example"


def session_storage() -> aiohttp_session.AbstractStorage:
    """Encrypted cookies when a key is configured, plain ones otherwise."""
    options = {"cookie_name": "CHAT_SESSION", "httponly": True, "samesite": "Lax"}
    key = os.environ.get("CHAT_SECRET_KEY")
    if key:
        # Deferred: EncryptedCookieStorage imports cryptography, needed only with a key.
        from aiohttp_session.cookie_storage import EncryptedCookieStorage  # noqa: PLC0415

        return EncryptedCookieStorage(base64.urlsafe_b64decode(key), **options)
    return aiohttp_session.SimpleCookieStorage(**options)


def setup_cors(app: web.Application) -> None:
    """Let the configured origins read the history and post to it, with their cookies."""
    origins = os.environ.get("CHAT_CORS_ORIGINS", DEFAULT_ORIGINS)
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=True,
        allow_headers=("Content-Type",),
        expose_headers=("X-Chat-Online",),
        max_age=600,
    )
    cors = aiohttp_cors.setup(app, defaults={o.strip(): options for o in origins.split(",")})
    resource = cors.add(app.router.add_resource("/api/messages"))
    cors.add(resource.add_route("GET", chat.list_messages))
    cors.add(resource.add_route("POST", chat.post_message))


async def create_app() -> web.Application:
    """The chat application (an async factory, as aiohttp's gunicorn worker accepts)."""
    app = web.Application()
    app[chat.SOCKETS] = {}
    app[chat.HISTORY] = deque(maxlen=HISTORY_LENGTH)
    aiohttp_session.setup(app, session_storage())
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.router.add_get("/", auth.index)
    app.router.add_get("/login", auth.login_form)
    app.router.add_post("/login", auth.login)
    app.router.add_post("/logout", auth.logout)
    app.router.add_get("/chat", chat.page)
    app.router.add_get("/ws", chat.websocket)
    setup_cors(app)
    app.on_shutdown.append(chat.close_sockets)
    return app
