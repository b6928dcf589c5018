"""Middlewares: the ``@middleware`` marker, old-style factories, ``normalize_path_middleware``.

A middleware is ``@middleware async def mw(request, handler) -> StreamResponse``; the
application chains them directly, once, when it freezes (see ``Application._build_chain``).
Without the marker it is an old-style factory, as in aiohttp: ``async def factory(app,
handler)`` returning the handler to call, deprecated since aiohttp 2.3
(https://docs.aiohttp.org/en/stable/web_advanced.html#middlewares).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Awaitable, Callable
from functools import update_wrapper
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast
from urllib.parse import quote

from yarl import URL

from .exceptions import HTTPMove, HTTPPermanentRedirect

if TYPE_CHECKING:
    from .app import Application
    from .request import Request
    from .response import StreamResponse

__all__ = ["is_new_style", "middleware", "normalize_path_middleware", "old_style", "warn_old_style"]

_F = TypeVar("_F")
Handler = Callable[["Request"], Awaitable["StreamResponse"]]
Middleware = Callable[["Request", Handler], Awaitable["StreamResponse"]]

_SLASHES: Final = re.compile(r"//+")
# A Location starting with two slashes -- or a slash and a backslash, which browsers read
# as one -- is scheme-relative: it names another host (RFC 3986 4.2, WHATWG URL).
_LEADING_SLASHES: Final = re.compile(r"^[/\\]+")
# What may stay as is in the redirect's path: pchar (RFC 3986 3.3) and existing escapes.
_LOCATION_SAFE: Final = "/:@!$&'()*+,;=-._~%"


def middleware(f: _F) -> _F:
    """Mark ``f`` as a new-style middleware ``async def mw(request, handler)``.

    Without the marker, the application takes ``f`` for an old-style factory (below).

    Returns:
        ``f`` itself.
    """
    f.__middleware_version__ = 1  # type: ignore[attr-defined]
    return f


def is_new_style(mw: object) -> bool:
    """Whether ``mw`` was marked with :func:`middleware`."""
    return getattr(mw, "__middleware_version__", None) == 1


def warn_old_style(mw: object) -> None:
    """The DeprecationWarning for a middleware without the marker (when its app freezes)."""
    warnings.warn(
        f"old-style middleware {mw!r} is deprecated: write it as @web.middleware "
        "async def mw(request, handler) returning the response (see #2252)",
        DeprecationWarning,
        stacklevel=3,
    )


def new_style(mw: Callable[..., Awaitable[StreamResponse]], handler: Handler) -> Handler:
    """``mw`` bound to the next ``handler``, as aiohttp's ``partial(mw, handler=handler)``:
    called with the request, it calls ``mw(request, handler=handler)`` and returns what that
    returns (the coroutine the chain awaits).

    A function rather than that partial: on Python 3.11 a partial holding a keyword copies
    it into a new dict on every call, some 2,000 instructions per middleware per request.
    """

    def call_middleware(request: Request) -> Awaitable[StreamResponse]:
        return mw(request, handler=handler)

    return cast(Handler, update_wrapper(call_middleware, cast(Any, handler)))


def old_style(
    factory: Callable[[Application, Handler], Awaitable[Handler]],
    app: Application,
    handler: Handler,
) -> Handler:
    """Run an old-style factory as aiohttp does: asked for its handler on every request,
    ``await factory(app, handler)``, which is then called with the request."""

    async def run_old_style(request: Request) -> StreamResponse:
        inner = await factory(app, handler)
        return await inner(request)

    return cast(Handler, update_wrapper(run_old_style, cast(Any, handler)))


def _candidate_paths(
    path: str, *, append_slash: bool, remove_slash: bool, merge_slashes: bool
) -> list[str]:
    """The paths to try, in aiohttp's order: merged, slash added/removed, both."""
    candidates: list[str] = []
    if merge_slashes:
        candidates.append(_SLASHES.sub("/", path))
    if append_slash and not path.endswith("/"):
        candidates.append(path + "/")
    if remove_slash and path.endswith("/"):
        candidates.append(path[:-1])
    if merge_slashes and append_slash:
        candidates.append(_SLASHES.sub("/", path + "/"))
    if merge_slashes and remove_slash:
        candidates.append(_SLASHES.sub("/", path)[:-1])
    return candidates


def _same_host_path(path: str) -> str:
    """``path`` made safe to send as a Location: one leading slash, so it can never be read
    as ``//other-host``, and backslashes and anything else unsafe percent-encoded."""
    return quote(_LEADING_SLASHES.sub("/", path), safe=_LOCATION_SAFE)


def normalize_path_middleware(
    *,
    append_slash: bool = True,
    remove_slash: bool = False,
    merge_slashes: bool = True,
    redirect_class: type[HTTPMove] = HTTPPermanentRedirect,
) -> Middleware:
    """A middleware that redirects requests for a path with no route to a normalised path
    that has one: ``//a//b`` to ``/a/b``, ``/a`` to ``/a/`` (or the reverse).

    Only requests that did not match a route are considered; a candidate is redirected to
    only if it resolves through the router. Candidates, in order: slashes merged, slash
    appended (or removed), both. The query string is kept. The redirect always stays on
    this host: its Location is a path with a single leading slash.

    Args:
        append_slash: try the path with a trailing slash added.
        remove_slash: try the path with the trailing slash removed.
        merge_slashes: try the path with runs of slashes made one.
        redirect_class: the redirect to raise (308 by default, which keeps the method).

    Returns:
        The middleware.

    Raises:
        ValueError: both ``append_slash`` and ``remove_slash`` are set.
    """
    if append_slash and remove_slash:
        raise ValueError("Cannot both remove and append slash")

    @middleware
    async def normalize_path(request: Request, handler: Handler) -> StreamResponse:
        if request.match_info.http_exception is None:
            return await handler(request)
        url = request.rel_url
        query = url.raw_query_string
        tried = {url.raw_path, ""}  # the path itself already failed to resolve
        for candidate in _candidate_paths(
            url.raw_path,
            append_slash=append_slash,
            remove_slash=remove_slash,
            merge_slashes=merge_slashes,
        ):
            path = _same_host_path(candidate)
            if path in tried:
                continue
            tried.add(path)
            alt = request.clone(rel_url=URL.build(path=path, query_string=query, encoded=True))
            match_info = await request.app.router.resolve(cast("Request", alt))
            if match_info.http_exception is None:
                raise redirect_class(path + ("?" + query if query else ""))
        return await handler(request)

    return normalize_path
