"""What a process manager asks of every request before the application sees it.

A worker under gunicorn counts its requests against ``max_requests``, may serve without
keep-alive, and learns the client's address and scheme from a trusted proxy
(:mod:`runtime.http.forwarded`). :class:`RequestGate` does all of it in front of a server's
request factory and handler, in one compiled call each (docs/compiled.md): under gunicorn,
these run for every request. It knows no application and no web API; what it builds and
raises comes from the callables it is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, final

from ..http.forwarded import Forwarded, ForwardedTrust
from ..http.message import RequestMessage

__all__ = ["RequestGate"]

# Marks a request to be answered with 400 before its handler runs; the value is the body.
REFUSAL: Final = "berth.refusal"


@final
class RequestGate:
    """A request factory and a handler, wrapped with the per-request settings.

    Args:
        make_request: the server's request factory (called as the server calls it).
        handle: the server's request handler.
        trust: what trusted proxies may say, and the header name policy.
        budget: requests this process serves before it stops (gunicorn's ``max_requests``),
            or None for no end; the last one answers with ``Connection: close``.
        on_budget_spent: called once, when the last request of the budget arrives.
        close_always: every response closes its connection (keep-alive off).
        before: called with the request before its handler (gunicorn's ``pre_request``).
        refuse: builds the exception that answers a refused request, from its body text.
        positional: ``make_request`` takes the limits by position (the built-in request
            classes do), which spares a class a dict of keywords per request.
    """

    def __init__(
        self,
        make_request: Callable[..., Any],
        handle: Callable[[Any], Awaitable[Any]],
        trust: ForwardedTrust,
        *,
        budget: int | None,
        on_budget_spent: Callable[[], None],
        close_always: bool,
        before: Callable[[Any], None] | None,
        refuse: Callable[[str], BaseException],
        positional: bool = False,
    ) -> None:
        self._make_request = make_request
        self._handle = handle
        self._trust = trust
        self._budget = 0 if budget is None else budget  # 0: no budget
        self.served = 0
        self._on_budget_spent = on_budget_spent
        self._close_always = close_always
        self._before = before
        self._refuse = refuse
        self._positional = positional

    def __call__(
        self,
        message: RequestMessage,
        payload: Any,
        conn: Any,
        writer: Any,
        task: Any,
        loop: Any,
        *,
        client_max_size: int,
        client_max_fields: int,
    ) -> Any:
        """The request factory, with the server's arguments (``web.Server.handle_request``):
        count, close when told to, apply what the proxy says. Named, not ``*args``: parsing
        a star call costs compiled code more than the rest of the gate."""
        self.served += 1
        if self._close_always:
            writer.force_close()
        if self._budget > 0 and self.served >= self._budget:
            writer.force_close()
            if self.served == self._budget:
                self._on_budget_spent()
        # The proxy's scheme headers are read before any name is dropped, in gunicorn's order.
        found = self._trust.resolve(conn.peername, message.raw_headers)
        if found is None:  # the usual request: nothing to change
            if self._positional:
                return self._make_request(
                    message, payload, conn, writer, task, loop, client_max_size, client_max_fields
                )
            return self._make_request(
                message,
                payload,
                conn,
                writer,
                task,
                loop,
                client_max_size=client_max_size,
                client_max_fields=client_max_fields,
            )
        kwargs = {"client_max_size": client_max_size, "client_max_fields": client_max_fields}
        return self._amended(found, message, payload, conn, writer, (task, loop), kwargs)

    def handle(self, request: Any) -> Awaitable[Any]:
        """The handler: 400 for a refused request, then ``before``, then the server's own.

        A plain function returning the handler's awaitable: no coroutine of its own."""
        cache = request._cache
        if REFUSAL in cache:
            raise self._refuse(cache[REFUSAL])
        if self._before is not None:
            self._before(request)
        return self._handle(request)

    def _amended(
        self,
        found: Forwarded,
        message: RequestMessage,
        payload: Any,
        conn: Any,
        writer: Any,
        args: tuple[Any, Any],
        kwargs: dict[str, Any],
    ) -> Any:
        """The request, with what a trusted proxy said and the header name policy applied."""
        if found.headers is not None:
            message.replace_headers(found.headers)
        if found.scheme is not None:
            kwargs["scheme"] = found.scheme
        if found.remote is not None:
            kwargs["remote"] = found.remote
        request = self._make_request(message, payload, conn, writer, *args, **kwargs)
        if found.refused_name is not None:
            name = found.refused_name.decode("ascii", "backslashreplace")
            request._cache[REFUSAL] = (
                f"Invalid HTTP header name: {name!r} (header names containing '_' are refused)\n"
            )
        elif found.conflict:
            request._cache[REFUSAL] = "Contradictory scheme headers\n"
        return request
