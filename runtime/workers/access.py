"""What gunicorn's logger needs to log a request: a WSGI-like environ and response.

``gunicorn.glogging.Logger.atoms()`` (and the StatsD logger on top of it) reads
``resp.status``, ``resp.sent``, ``resp.headers``, ``req.headers`` and the environ keys below.
Handing it these lets every ``access_log_format`` atom and the StatsD request metrics work
exactly as with gunicorn's own workers.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ..http.writer import reason_phrase

if TYPE_CHECKING:
    from ..web import BaseRequest, StreamResponse

__all__ = ["AccessResponse", "build_environ", "sockname_of", "wsgi_text"]


def wsgi_text(value: str) -> str:
    """A field value as a WSGI environ holds it (PEP 3333's "native strings") and gunicorn's
    own workers log it: each octet received one character, as ISO-8859-1.

    Berth decodes field values as UTF-8 and keeps an octet that is not UTF-8 (obs-text, RFC
    9110 5.5) as a lone surrogate, which no log file can encode: the line would be lost, and
    a traceback written in its place. ASCII, nearly every value, comes back as it is.
    """
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("latin-1")


class AccessResponse:
    """The response as gunicorn's loggers and ``post_request`` hooks see it.

    Attributes:
        status: ``"200 OK"``, as a WSGI status line (gunicorn's ``Response.status``).
        status_code: the status as an int.
        sent: body bytes written.
        headers: the response headers as ``(name, value)`` pairs.
        response: the framework's response object itself.
    """

    __slots__ = ("headers", "response", "sent", "status", "status_code")

    def __init__(self, response: StreamResponse) -> None:
        self.response = response
        self.status_code = response.status
        self.status = f"{response.status} {response.reason or reason_phrase(response.status)}"
        self.sent = response.body_length
        headers = [(name, wsgi_text(value)) for name, value in response.headers.items()]
        framed = "Content-Length" in response.headers or "Transfer-Encoding" in response.headers
        if not framed and response.status >= 200 and response.status not in (204, 304):
            # A whole-body response goes out on a fast path that leaves the framing header
            # out of the mapping; the log should still see it.
            headers.append(("Content-Length", str(self.sent)))
        self.headers = headers


def sockname_of(request: BaseRequest) -> Any:
    """The local address the request came in on (``SERVER_NAME``, ``SERVER_PORT``)."""
    transport = request.transport
    return transport.get_extra_info("sockname") if transport else None


def build_environ(request: BaseRequest, sockname: Any) -> dict[str, Any]:
    """A CGI/WSGI-style environ for one request: the variables the access log atoms read,
    and ``HTTP_*`` for every request header whose name has no ``_`` (``%({name}e)s`` can
    name any of them).

    ``HTTP_`` + the name upper-cased with ``-`` as ``_`` would give ``X_Forwarded_For`` the
    key of ``X-Forwarded-For``, so a name with ``_`` gets no key: every ``HTTP_*`` value is
    exactly what the application reads under the dashed name. Such headers are only there
    when ``header_map`` keeps them (``header_map.py``); ``%({name}i)s`` logs them by name.
    """
    target = wsgi_text(request.raw_path)  # the request target as received
    path, _, query = target.partition("?")
    version = request.version
    remote = request.remote
    environ: dict[str, Any] = {
        "REQUEST_METHOD": request.method,
        "RAW_URI": target,
        "PATH_INFO": unquote(path.partition("#")[0], encoding="latin-1"),
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": f"HTTP/{version[0]}.{version[1]}",
        "REMOTE_ADDR": remote if remote else "-",
        "SCRIPT_NAME": os.environ.get("SCRIPT_NAME", ""),
        "wsgi.url_scheme": request.scheme,
    }
    peer = request.protocol.peername
    if isinstance(peer, tuple):
        environ["REMOTE_PORT"] = str(peer[1])
    if isinstance(sockname, tuple):
        environ["SERVER_NAME"] = str(sockname[0])
        environ["SERVER_PORT"] = str(sockname[1])
    for name, received in request.headers.items():
        if "_" in name:
            continue
        key = "HTTP_" + name.upper().replace("-", "_")
        value = wsgi_text(received)
        if key in environ:
            environ[key] += "," + value  # repeated fields join, as in a WSGI environ
        else:
            environ[key] = value
    environ.pop("HTTP_CONTENT_TYPE", None)
    environ.pop("HTTP_CONTENT_LENGTH", None)
    if "Content-Type" in request.headers:
        environ["CONTENT_TYPE"] = wsgi_text(request.headers["Content-Type"])
    if "Content-Length" in request.headers:
        environ["CONTENT_LENGTH"] = request.headers["Content-Length"]  # digits: the parser
    return environ
