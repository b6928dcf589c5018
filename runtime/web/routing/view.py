"""Class-based views: one class per resource, one coroutine method per HTTP method."""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Final, NoReturn

from ..exceptions import HTTPMethodNotAllowed

if TYPE_CHECKING:
    from ..request import Request
    from ..response import StreamResponse

__all__ = ["METH_ALL", "METH_ANY", "AbstractView", "View"]

METH_ANY: Final = "*"
# The methods a View dispatches on (RFC 9110 9.3); any other method is answered with 405.
METH_ALL: Final = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)


class AbstractView(abc.ABC):
    """The base of class-based handlers: constructed with the request, then awaited.

    The router accepts a subclass wherever it accepts a handler coroutine: calling the
    class with the request and awaiting the instance produces the response.

    Args:
        request: the request being handled.
    """

    def __init__(self, request: Request) -> None:
        self._request = request

    @property
    def request(self) -> Request:
        """The request being handled."""
        return self._request

    @abc.abstractmethod
    def __await__(self) -> Generator[Any, None, StreamResponse]:
        """Produce the response."""


class View(AbstractView):
    """Dispatch to the coroutine method named after the request's method (``get``,
    ``post``, ...).

    Raises:
        HTTPMethodNotAllowed: the view has no method for the request's method; the
            ``Allow`` header lists the ones it has.
    """

    async def _iter(self) -> StreamResponse:
        method = self.request.method
        if method not in METH_ALL:
            self._raise_allowed_methods()
        func: Callable[[], Awaitable[StreamResponse]] | None = getattr(self, method.lower(), None)
        if func is None:
            self._raise_allowed_methods()
        return await func()

    def __await__(self) -> Generator[Any, None, StreamResponse]:
        return self._iter().__await__()

    def _raise_allowed_methods(self) -> NoReturn:
        allowed = {m for m in METH_ALL if hasattr(self, m.lower())}
        raise HTTPMethodNotAllowed(self.request.method, allowed)
