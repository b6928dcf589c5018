"""Signing in and out: the user's name lives in the session."""

from __future__ import annotations

from typing import Any

import aiohttp_jinja2
from aiohttp import web
from aiohttp_session import get_session, new_session

MAX_NAME = 32


async def current_user(request: web.Request) -> str | None:
    """The signed-in user's name, or None."""
    session = await get_session(request)
    name = session.get("name")
    return name if isinstance(name, str) else None


async def index(request: web.Request) -> web.Response:
    target = "/chat" if await current_user(request) else "/login"
    raise web.HTTPFound(target)


@aiohttp_jinja2.template("login.html")
async def login_form(request: web.Request) -> dict[str, Any]:
    return {"error": None}


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    if not name or len(name) > MAX_NAME:
        context = {"error": f"A name of 1 to {MAX_NAME} characters, please."}
        return aiohttp_jinja2.render_template("login.html", request, context, status=400)
    # A new session on sign-in, so a session id fixed before it is not carried over.
    session = await new_session(request)
    session["name"] = name
    raise web.HTTPSeeOther("/chat")


async def logout(request: web.Request) -> web.Response:
    session = await get_session(request)
    session.invalidate()
    raise web.HTTPSeeOther("/login")
