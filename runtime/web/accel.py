"""nginx's ``X-Accel-*`` response headers: file offloading and unbuffered streaming.

- :func:`accel_redirect`: the handler decides *whether* a file may be sent (authentication,
  quotas, logging) and nginx sends it from an ``internal`` location: sendfile, ``Range``,
  ``If-Modified-Since``, and no worker busy while a large file trickles to a slow client.
- :func:`no_proxy_buffering`: nginx buffers proxied responses by default; a streaming response
  (server-sent events, progress output) sets ``X-Accel-Buffering: no`` to reach the client
  chunk by chunk.

The nginx side is rendered by ``python -m runtime.deploy nginx`` (``docs/deploy.md``). Without
nginx in front, an ``X-Accel-Redirect`` response reaches the client as an empty 200.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import TypeVar

from multidict import istr

from ..http.grammar import TOKEN_RE
from .response import Response, StreamResponse

__all__ = [
    "X_ACCEL_BUFFERING",
    "X_ACCEL_REDIRECT",
    "accel_redirect",
    "content_disposition",
    "no_proxy_buffering",
]

X_ACCEL_REDIRECT = istr("X-Accel-Redirect")
X_ACCEL_BUFFERING = istr("X-Accel-Buffering")
X_ACCEL_LIMIT_RATE = istr("X-Accel-Limit-Rate")

_StreamT = TypeVar("_StreamT", bound=StreamResponse)


def content_disposition(filename: str, *, inline: bool = False) -> str:
    """A ``Content-Disposition`` value naming ``filename``, for any characters in it.

    ASCII names go in ``filename=`` (quoted when needed); others also get the RFC 6266 /
    RFC 8187 ``filename*=UTF-8''...`` form, with an ASCII fallback for old clients.

    Raises:
        ValueError: if ``filename`` is empty or contains a control character.
    """
    if not filename or any(ord(c) < 0x20 or ord(c) == 0x7F for c in filename):
        raise ValueError(f"invalid file name {filename!r}")
    kind = "inline" if inline else "attachment"
    if TOKEN_RE.fullmatch(filename):
        # RFC 6266 4.1: a token is safe as an unquoted filename value.
        return f"{kind}; filename={filename}"
    ascii_name = filename.encode("ascii", "replace").decode("ascii")
    fallback = ascii_name.replace("\\", "\\\\").replace('"', '\\"')
    if ascii_name == filename:
        return f'{kind}; filename="{fallback}"'
    encoded = urllib.parse.quote(filename, safe="", encoding="utf-8")
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def accel_redirect(
    internal_path: str,
    *,
    content_type: str | None = None,
    filename: str | None = None,
    inline: bool = False,
    limit_rate: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response that makes nginx serve ``internal_path`` itself (``X-Accel-Redirect``).

    nginx redirects the request internally to ``internal_path`` (a URI in an ``internal``
    location, such as ``/_protected/reports/2024.pdf``) and serves that file; this response's
    body is never sent. Headers set here (``Content-Type``, ``Content-Disposition``,
    ``Cache-Control``, ``Set-Cookie``) reach the client; nginx adds ``Content-Length``,
    ``Last-Modified``, ``ETag`` and answers ``Range`` requests.

    Args:
        internal_path: the URI to serve, starting with ``/``. Non-ASCII characters and
            spaces are percent-encoded here; ``?`` and ``#`` are refused (nginx would take a
            query string as arguments).
        content_type: the file's type; by default nginx picks it from the extension.
        filename: offer the file for download under this name (``Content-Disposition``).
        inline: with ``filename``, ask the browser to display the file instead.
        limit_rate: nginx sends the file at most this many bytes per second.
        headers: more headers for the client.

    Returns:
        A ``200`` :class:`Response` with no body.

    Raises:
        ValueError: for a path that is not absolute, has a query or fragment, a control
            character, or ``..`` segments; or for a bad file name.
    """
    if not internal_path.startswith("/") or any(c in internal_path for c in "?#"):
        raise ValueError(f"internal_path must be an absolute path: {internal_path!r}")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in internal_path):
        raise ValueError(f"control character in internal_path {internal_path!r}")
    if ".." in internal_path.split("/"):
        raise ValueError(f"'..' in internal_path {internal_path!r}")
    response = Response(headers=headers, content_type=content_type)
    # nginx percent-decodes X-Accel-Redirect before looking the file up.
    response.headers[X_ACCEL_REDIRECT] = urllib.parse.quote(internal_path, safe="/%:@!$&'()*+,;=~")
    if filename is not None:
        response.headers["Content-Disposition"] = content_disposition(filename, inline=inline)
    if limit_rate is not None:
        if limit_rate < 0:
            raise ValueError("limit_rate must not be negative")
        response.headers[X_ACCEL_LIMIT_RATE] = str(limit_rate)
    return response


def no_proxy_buffering(response: _StreamT) -> _StreamT:
    """Ask nginx to pass ``response`` on as it is written (``X-Accel-Buffering: no``).

    Call it before ``prepare()``. nginx removes the header; other proxies ignore it.

    Returns:
        ``response``, for chaining.

    Raises:
        RuntimeError: if the headers were already sent.
    """
    if response.prepared:
        raise RuntimeError("no_proxy_buffering() must be called before prepare()")
    response.headers[X_ACCEL_BUFFERING] = "no"
    return response
