"""``StaticResource``: the files under a directory, served at a URL prefix.

``app.router.add_static(prefix, directory)`` makes one. Requests never reach outside the
directory: a path is normalised lexically and then (unless ``follow_symlinks``) with its
symlinks resolved, and must still lie under the root both times. Whatever is refused -
outside the root, missing, unreadable, not a regular file - answers the same 404, so a
client cannot probe which files exist.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Final
from urllib.parse import quote

from yarl import URL

from ..exceptions import HTTPForbidden, HTTPNotFound
from ..fileresponse import FileResponse
from ..response import Response, StreamResponse
from .match_info import UrlMappingMatchInfo
from .resource import PrefixResource, Resolved, unquote_path_safe
from .route import ExpectHandler, Handler, InfoDict, ResourceRoute

if TYPE_CHECKING:
    from ..request import Request

__all__ = ["StaticResource"]

# RFC 3986 3.3 pchar characters kept as they are in the links we build.
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~"
# How many files' version hashes ``url_for(append_version=True)`` remembers.
_HASH_CACHE_SIZE: Final = 4096


class _StaticFileResponse(FileResponse):
    # A file the server may not read must look like a missing one (no existence oracle).
    _forbidden_status: ClassVar[int] = 404


def _quote(path: str) -> str:
    # surrogateescape: a file name that is not UTF-8 links to its own bytes.
    return quote(path, safe=_PATH_SAFE, errors="surrogateescape")


def _display(name: str) -> str:
    """A file name as HTML text: escaped, and undecodable bytes shown as U+FFFD."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return html.escape(text, quote=True)


def _file_hash(path: Path) -> str:
    with path.open("rb") as file:
        digest = hashlib.file_digest(file, "sha256").digest()
    return base64.urlsafe_b64encode(digest).decode("ascii")


class StaticResource(PrefixResource):
    """Serve the files under ``directory`` at ``prefix``, for GET and HEAD.

    A directory answers 403, or its listing with ``show_index=True``. As in aiohttp, a
    directory is the one thing inside the root that is not answered 404: the root is the
    published tree, so its directory names are no secret; everything outside it, and
    every file that cannot be served, gives the same 404.

    Args:
        prefix: the URL prefix (``/static``), without a trailing slash.
        directory: the root directory; ``~`` is expanded and symlinks resolved once.
        name: the resource's name for ``router[name].url_for(filename=...)``.
        expect_handler: the routes' custom ``Expect`` handler.
        chunk_size: passed to :class:`FileResponse`.
        show_index: answer a directory with an HTML listing instead of 403.
        follow_symlinks: serve symlinks that point outside the directory. The URL path
            itself can still never climb out with ``..``.
        append_version: ``url_for`` adds ``?v=<hash of the file's content>`` by default.

    Raises:
        ValueError: ``directory`` does not exist or is not a directory.
    """

    VERSION_KEY: ClassVar[str] = "v"

    def __init__(
        self,
        prefix: str,
        directory: str | os.PathLike[str],
        *,
        name: str | None = None,
        expect_handler: ExpectHandler | None = None,
        chunk_size: int = 256 * 1024,
        show_index: bool = False,
        follow_symlinks: bool = False,
        append_version: bool = False,
    ) -> None:
        super().__init__(prefix, name=name)
        try:
            root = Path(directory).expanduser().resolve(strict=True)
        except (OSError, RuntimeError) as exc:
            raise ValueError(f"No directory exists at '{directory}'") from exc
        if not root.is_dir():
            raise ValueError(f"No directory exists at '{directory}'")
        self._directory = root
        self._chunk_size = chunk_size
        self._show_index = show_index
        self._follow_symlinks = follow_symlinks
        self._append_version = append_version
        self._expect_handler = expect_handler
        self._frozen = False
        self._hashes: dict[Path, tuple[tuple[int, int], str]] = {}
        self._routes: dict[str, ResourceRoute] = {
            method: ResourceRoute(method, self._handle, self, expect_handler=expect_handler)
            for method in ("GET", "HEAD")
        }

    # -- introspection ------------------------------------------------------------------

    def get_info(self) -> InfoDict:
        return {"directory": self._directory, "prefix": self._prefix, "routes": self._routes}

    def __len__(self) -> int:
        return len(self._routes)

    def __iter__(self) -> Iterator[ResourceRoute]:
        return iter(self._routes.values())

    def __repr__(self) -> str:
        name = f"'{self.name}' " if self.name is not None else ""
        return f"<StaticResource {name}{self._prefix} -> {self._directory!r}>"

    def freeze(self) -> None:
        self._frozen = True

    def set_options_route(self, handler: Handler) -> None:
        """Answer OPTIONS under the prefix with ``handler`` (CORS preflights).

        Raises:
            RuntimeError: an OPTIONS route exists already, or the router is frozen.
        """
        if self._frozen:
            raise RuntimeError("Cannot add an OPTIONS route: the router is frozen")
        if "OPTIONS" in self._routes:
            raise RuntimeError("OPTIONS route was set already")
        self._routes["OPTIONS"] = ResourceRoute(
            "OPTIONS", handler, self, expect_handler=self._expect_handler
        )

    # -- URLs ---------------------------------------------------------------------------

    def url_for(  # type: ignore[override]
        self, *, filename: str | os.PathLike[str], append_version: bool | None = None
    ) -> URL:
        """The URL of a file under the prefix.

        Args:
            filename: the file's path relative to the directory (not URL-encoded).
            append_version: add ``?v=<urlsafe base64 sha256 of the content>`` so that
                caches can keep the URL forever; None uses the resource's default. A file
                that cannot be served gets no version. Hashes are cached per file size
                and mtime.
        """
        if append_version is None:
            append_version = self._append_version
        name = os.fspath(filename).lstrip("/")
        url = URL.build(path=f"{self._prefix}/{_quote(name)}", encoded=True)
        if append_version:
            version = self._version(name)
            if version is not None:
                url = url.with_query({self.VERSION_KEY: version})
        return url

    def _version(self, filename: str) -> str | None:
        located = self._locate(filename)
        if located is None or located[1]:
            return None
        path = located[0]
        try:
            info = os.stat(path)
            key = (info.st_mtime_ns, info.st_size)
            cached = self._hashes.get(path)
            if cached is not None and cached[0] == key:
                return cached[1]
            digest = _file_hash(path)
        except OSError:
            return None
        if len(self._hashes) >= _HASH_CACHE_SIZE:
            self._hashes.clear()
        self._hashes[path] = (key, digest)
        return digest

    # -- serving ------------------------------------------------------------------------

    async def resolve(self, request: Request) -> Resolved:
        path = request.rel_url.path_safe
        if not self._matches_prefix(path):
            return None, set()
        allowed = set(self._routes)
        route = self._routes.get(request.method)
        if route is None:
            return None, allowed
        filename = unquote_path_safe(path[len(self._match_prefix) + 1 :])
        return UrlMappingMatchInfo({"filename": filename}, route), allowed

    def _locate(self, filename: str) -> tuple[Path, bool] | None:
        """The file or directory ``filename`` names under the root, as ``(path, is_dir)``,
        or None when it must not be served or does not exist. Blocking: runs in the
        executor."""
        if "\x00" in filename or "\\" in filename:
            # NUL truncates paths in C; a backslash is a separator on Windows. Neither is
            # in a name we serve, so neither can smuggle a "..".
            return None
        if Path(filename).anchor:
            return None  # absolute: "/etc/passwd", or on Windows "C:\x", "\\host\share"
        root = self._directory
        # Lexical first: ".." segments ("%2e%2e" and "..%2f" decode to these) cannot climb
        # above the root, whatever the symlinks say.
        candidate = Path(os.path.normpath(root.joinpath(filename)))
        if not candidate.is_relative_to(root):
            return None
        if not self._follow_symlinks:
            try:
                candidate = candidate.resolve()
            except (OSError, RuntimeError):  # RuntimeError: a symlink loop (Python < 3.13)
                return None
            if not candidate.is_relative_to(root):
                return None  # a symlink pointing out of the root
        try:
            mode = os.stat(candidate).st_mode
        except (OSError, ValueError):
            return None
        return candidate, stat.S_ISDIR(mode)

    async def _handle(self, request: Request) -> StreamResponse:
        filename = request.match_info["filename"]
        loop = asyncio.get_running_loop()
        located = await loop.run_in_executor(None, self._locate, filename)
        if located is None:
            raise HTTPNotFound()
        path, is_dir = located
        if not is_dir:
            return _StaticFileResponse(path, chunk_size=self._chunk_size)
        if not self._show_index:
            raise HTTPForbidden()
        try:
            listing = await loop.run_in_executor(None, self._directory_as_html, path)
        except PermissionError:
            raise HTTPForbidden() from None
        except OSError:
            raise HTTPNotFound() from None  # removed meanwhile
        return Response(text=listing, content_type="text/html")

    def _directory_as_html(self, directory: Path) -> str:
        """The listing of ``directory``: names HTML-escaped, links percent-encoded."""
        relative = directory.relative_to(self._directory).as_posix()
        # The root's title is "Index of /.", byte for byte aiohttp's (ported tests compare).
        title = "Index of /" + _display(relative)
        items = []
        for entry in sorted(directory.iterdir()):
            href = html.escape(
                f"{self._prefix}/{_quote(entry.relative_to(self._directory).as_posix())}"
            )
            label = _display(entry.name) + ("/" if entry.is_dir() else "")
            items.append(f'<li><a href="{href}">{label}</a></li>')
        return (
            f"<html>\n<head>\n<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
            "<ul>\n" + "\n".join(items) + "\n</ul>\n</body>\n</html>"
        )
