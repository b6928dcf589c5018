"""The result of routing a request: path parts by name, the route, and the app stack."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from .route import AbstractRoute, ExpectHandler, Handler, InfoDict, SystemRoute

if TYPE_CHECKING:
    from ..app import Application
    from ..exceptions import HTTPException

__all__ = ["MatchInfoError", "UrlMappingMatchInfo"]


class UrlMappingMatchInfo(dict[str, str]):
    """The decoded path parts the route's pattern captured, plus what matched.

    ``apps`` is the stack of applications that own the route, the root first; routing
    fills it from the inside out (``add_app`` inserts at the front) and then freezes it.

    Args:
        match_dict: the captured path parts, percent-decoded.
        route: the matched route.
        root: the root application, for a match the root's router made whole: added to
            the stack, which is then frozen (``_add_root``, in one step).
    """

    __slots__ = ("_apps", "_current_app", "_frozen", "_route")

    def __init__(
        self, match_dict: dict[str, str], route: AbstractRoute, root: Application | None = None
    ) -> None:
        if match_dict:
            self.update(match_dict)
        self._route = route
        self._current_app = root
        if root is None:
            self._apps: list[Application] | tuple[Application, ...] = []
            self._frozen = False
        else:
            self._apps = (root,)
            self._frozen = True

    @property
    def handler(self) -> Handler:
        """The matched route's handler."""
        return self._route.handler

    @property
    def route(self) -> AbstractRoute:
        return self._route

    @property
    def expect_handler(self) -> ExpectHandler | None:
        """The route's custom ``Expect`` handler, or None when it has none."""
        return self._route.expect_handler

    @property
    def http_exception(self) -> HTTPException | None:
        """None for a match; the 404 / 405 for a failed one."""
        return None

    def get_info(self) -> InfoDict:
        return self._route.get_info()

    @property
    def apps(self) -> tuple[Application, ...]:
        """The applications that own the route, the root first."""
        apps = self._apps
        return apps if type(apps) is tuple else tuple(apps)

    def add_app(self, app: Application) -> None:
        """Put ``app`` at the front of the stack (it is the parent of those already there).

        Raises:
            RuntimeError: the match info is frozen.
        """
        if self._frozen:
            raise RuntimeError("Cannot change apps stack after .freeze() call")
        if self._current_app is None:
            self._current_app = app  # the first one added is the innermost
        self._apps = [app, *self._apps]

    @property
    def current_app(self) -> Application:
        """The application whose code is running: the innermost one, except while an
        outer application's middlewares run."""
        app = self._current_app
        if app is None:
            raise RuntimeError("The match info has no application yet")
        return app

    @current_app.setter
    def current_app(self, app: Application) -> None:
        self._current_app = app

    @contextmanager
    def set_current_app(self, app: Application) -> Iterator[None]:
        """Make ``app`` the current application for the duration of the block."""
        previous = self._current_app
        self._current_app = app
        try:
            yield
        finally:
            self._current_app = previous

    def _add_root(self, app: Application) -> None:
        """``add_app(app)`` then ``freeze()``, as the root application ends resolution."""
        if self._frozen:
            raise RuntimeError("Cannot change apps stack after .freeze() call")
        if self._current_app is None:
            self._current_app = app
        self._frozen = True
        self._apps = (app, *self._apps)

    def freeze(self) -> None:
        if not self._frozen:
            self._frozen = True
            self._apps = tuple(self._apps)  # the stack is final: share one tuple from now on

    def __repr__(self) -> str:
        return f"<MatchInfo {super().__repr__()}: {self._route}>"


class MatchInfoError(UrlMappingMatchInfo):
    """A failed match: the handler raises ``http_exception`` (404 or 405).

    Args:
        http_exception: the exception to raise; a new one per request, since it is the
            response that is sent.
    """

    __slots__ = ("_exception",)

    def __init__(self, http_exception: HTTPException) -> None:
        self._exception = http_exception
        super().__init__({}, SystemRoute(http_exception))

    @property
    def http_exception(self) -> HTTPException:
        return self._exception

    def __repr__(self) -> str:
        return f"<MatchInfoError {self._exception.status}: {self._exception.reason}>"
