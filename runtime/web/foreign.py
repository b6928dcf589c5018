"""aiohttp's own HTTP exceptions, raised through Berth, answer as Berth's would.

An extension that imported aiohttp before the compatibility mode was installed (or without
it) raises aiohttp's classes (``aiohttp.web_exceptions.HTTPMethodNotAllowed``): they are
recognised by aiohttp's ``__http_exception__`` mark, without importing aiohttp, and turned
into Berth's exception of the same status (docs/compat.md). aiohttp's typed keys are
recognised in ``keys.py``.
"""

from __future__ import annotations

from typing import Any, Final

from . import exceptions
from .exceptions import HTTPException, HTTPUnavailableForLegalReasons

__all__ = ["as_http_exception"]

# The attributes aiohttp's exception classes add beside a response's.
_EXTRA_ATTRIBUTES: Final = ("location", "method", "allowed_methods")

_BY_STATUS: Final[dict[int, type[HTTPException]]] = {
    cls.status_code: cls
    for cls in vars(exceptions).values()
    if isinstance(cls, type) and issubclass(cls, HTTPException) and cls.status_code != -1
}


def as_http_exception(exc: BaseException) -> HTTPException | None:
    """Berth's HTTP exception answering as aiohttp's ``exc`` would (status, reason,
    headers, body), or None when ``exc`` is not one of aiohttp's."""
    if isinstance(exc, HTTPException) or not getattr(type(exc), "__http_exception__", False):
        return None
    foreign: Any = exc
    cls = _BY_STATUS.get(foreign.status, HTTPException)
    # The subclasses' constructors take their own arguments (location, method...); the
    # base's builds the response, and the extras are copied after.
    ours = cls.__new__(cls)
    HTTPException.__init__(ours, reason=foreign.reason)
    ours.set_status(foreign.status, foreign.reason)
    ours.headers.clear()
    ours.headers.extend(
        (name, value) for name, value in foreign.headers.items() if name.lower() != "content-length"
    )
    body = foreign.body
    if body is None or isinstance(body, bytes | bytearray):
        ours.body = body  # else a streamed payload of aiohttp's: the default text stays
    for name in _EXTRA_ATTRIBUTES:
        if hasattr(foreign, name):
            setattr(ours, name, getattr(foreign, name))
    if isinstance(ours, HTTPUnavailableForLegalReasons):
        ours._link = foreign.link
    ours.__cause__ = exc
    return ours
