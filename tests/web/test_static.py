"""``app.router.add_static``: serving a directory, and never anything outside it."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from runtime import web
from runtime.exceptions import HTTPNotFound
from runtime.static import StaticResource

from .routing_support import make_request, run, serve

SECRET = b"TOP-SECRET-CONTENT"


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def outcome(self) -> tuple[int, bytes, str | None]:
        """What a client can learn: status, body and type."""
        return self.status, self.body, self.headers.get("content-type")

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.headers} {self.body[:60]!r}>"


async def fetch(port: int, target: str, headers: dict[str, str] | None = None) -> Reply:
    """One request with a raw target (sent exactly as given) on a new connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    fields = {"Host": "localhost", "Connection": "close", **(headers or {})}
    method, _, target = target.rpartition(" ") if " " in target else ("GET", "", target)
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    writer.write(head.encode("utf-8") + b"\r\n")
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    head_bytes, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    parsed = {}
    for line in lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), parsed, body)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``tmp_path/root`` is served; ``tmp_path/secret.txt`` and ``outside/`` are not."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "data.txt").write_bytes(SECRET)
    root = tmp_path / "root"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "index.txt").write_bytes(b"root file")
    (root / "sub" / "page.html").write_bytes(b"<p>page</p>")
    (root / "sub" / "deeper" / "x.bin").write_bytes(b"\x00\x01\x02")
    (root / "a b.txt").write_bytes(b"spaced")
    return root


@asynccontextmanager
async def static_app(root: Path, prefix: str = "/static", **kwargs: Any) -> AsyncIterator[int]:
    app = web.Application()
    app.router.add_static(prefix, root, name="files", **kwargs)
    async with serve(app) as port:
        yield port


# -- serving --------------------------------------------------------------------------


@run
async def test_serves_files_and_nested_files(tree: Path) -> None:
    async with static_app(tree) as port:
        top = await fetch(port, "/static/index.txt")
        nested = await fetch(port, "/static/sub/page.html")
        deeper = await fetch(port, "/static/sub/deeper/x.bin")
        spaced = await fetch(port, "/static/a%20b.txt")
    assert (top.status, top.body) == (200, b"root file")
    assert top.headers["content-type"] == "text/plain"
    assert top.headers["accept-ranges"] == "bytes"
    assert (nested.status, nested.body) == (200, b"<p>page</p>")
    assert nested.headers["content-type"] == "text/html"
    assert (deeper.status, deeper.body) == (200, b"\x00\x01\x02")
    assert (spaced.status, spaced.body) == (200, b"spaced")


@run
async def test_head_and_405_for_other_methods(tree: Path) -> None:
    async with static_app(tree) as port:
        head = await fetch(port, "HEAD /static/index.txt")
        post = await fetch(port, "POST /static/index.txt")
    assert head.status == 200
    assert head.headers["content-length"] == "9"
    assert head.body == b""
    assert post.status == 405
    assert {m.strip() for m in post.headers["allow"].split(",")} == {"GET", "HEAD"}


@run
async def test_conditional_and_range_requests_work_through_static(tree: Path) -> None:
    async with static_app(tree) as port:
        first = await fetch(port, "/static/index.txt")
        cached = await fetch(port, "/static/index.txt", {"If-None-Match": first.headers["etag"]})
        part = await fetch(port, "/static/index.txt", {"Range": "bytes=5-"})
    assert cached.status == 304
    assert part.status == 206
    assert part.body == b"file"


@run
async def test_precompressed_sibling_through_static(tree: Path) -> None:
    (tree / "app.css").write_bytes(b"body{}")
    (tree / "app.css.gz").write_bytes(b"gz-bytes")
    async with static_app(tree) as port:
        reply = await fetch(port, "/static/app.css", {"Accept-Encoding": "gzip"})
    assert reply.body == b"gz-bytes"
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["content-type"] == "text/css"
    assert reply.headers["vary"] == "Accept-Encoding"


@run
async def test_prefix_root_and_trailing_slash(tree: Path) -> None:
    async with static_app(tree, prefix="/") as port:
        reply = await fetch(port, "/sub/page.html")
        escape = await fetch(port, "/../secret.txt")
    assert reply.body == b"<p>page</p>"
    assert escape.status == 404


@run
async def test_a_longer_name_sharing_the_prefix_does_not_match(tree: Path) -> None:
    async with static_app(tree) as port:
        reply = await fetch(port, "/staticindex.txt")
    assert reply.status == 404


@run
async def test_static_inside_a_sub_application(tree: Path) -> None:
    sub = web.Application()
    sub.router.add_static("/files", tree)
    app = web.Application()
    app.add_subapp("/sub", sub)
    async with serve(app) as port:
        reply = await fetch(port, "/sub/files/index.txt")
        escape = await fetch(port, "/sub/files/../../secret.txt")
    assert reply.body == b"root file"
    assert escape.status == 404


# -- security: never outside the root, and no existence oracle ------------------------------


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/../../secret.txt",
    "/static/sub/../../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub%2f..%2f..%2fsecret.txt",
    "/static/..%2foutside%2fdata.txt",
    "/static/%2e%2e/outside/data.txt",
    "/static/..%5csecret.txt",
    "/static/..%5C..%5Csecret.txt",
    "/static/..%5c..%5c..%5cetc%5cpasswd",
    "/static/sub%5c..%5c..%5csecret.txt",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2F{secret}",
    "/static/index.txt%00.png",
    "/static/%00",
    "/static/..%00/secret.txt",
    "/static/C:%5cWindows%5cwin.ini",
    "/static/%5c%5cserver%5cshare%5cx",
]


@pytest.mark.parametrize("target", TRAVERSALS)
@run
async def test_traversal_is_404_like_a_missing_file(tree: Path, target: str) -> None:
    target = target.replace("{secret}", str(tree.parent / "secret.txt").lstrip("/"))
    async with static_app(tree) as port:
        reply = await fetch(port, target)
        missing = await fetch(port, "/static/does-not-exist.txt")
    assert SECRET not in reply.body
    assert b"root:" not in reply.body
    assert reply.outcome() == missing.outcome()
    assert reply.outcome() == (404, HTTPNotFound().body, "text/plain; charset=utf-8")


@run
async def test_raw_backslash_in_the_target_does_not_escape(tree: Path) -> None:
    async with static_app(tree) as port:
        reply = await fetch(port, "/static/..\\..\\secret.txt")
    assert reply.status in (400, 404)  # the parser may refuse it before routing does
    assert SECRET not in reply.body


@run
async def test_symlinks_out_of_the_root_are_404(tree: Path) -> None:
    (tree / "leak.txt").symlink_to(tree.parent / "secret.txt")
    (tree / "leakdir").symlink_to(tree.parent / "outside", target_is_directory=True)
    (tree / "loop").symlink_to(tree / "loop")
    async with static_app(tree, show_index=True) as port:
        file_link = await fetch(port, "/static/leak.txt")
        dir_link = await fetch(port, "/static/leakdir/data.txt")
        dir_index = await fetch(port, "/static/leakdir/")
        loop_link = await fetch(port, "/static/loop")
        missing = await fetch(port, "/static/does-not-exist.txt")
    for reply in (file_link, dir_link, dir_index, loop_link):
        assert reply.outcome() == missing.outcome()
        assert SECRET not in reply.body


@run
async def test_symlinks_inside_the_root_are_served(tree: Path) -> None:
    (tree / "alias.txt").symlink_to(tree / "index.txt")
    (tree / "relative.html").symlink_to(Path("sub") / "page.html")
    (tree / "subalias").symlink_to(tree / "sub", target_is_directory=True)
    async with static_app(tree) as port:
        alias = await fetch(port, "/static/alias.txt")
        relative = await fetch(port, "/static/relative.html")
        through_dir = await fetch(port, "/static/subalias/page.html")
    assert alias.body == b"root file"
    assert relative.body == b"<p>page</p>"
    assert relative.headers["content-type"] == "text/html"
    assert through_dir.body == b"<p>page</p>"


@run
async def test_follow_symlinks_serves_links_out_but_not_dot_dot(tree: Path) -> None:
    (tree / "shared.txt").symlink_to(tree.parent / "secret.txt")
    async with static_app(tree, follow_symlinks=True) as port:
        linked = await fetch(port, "/static/shared.txt")
        climbed = await fetch(port, "/static/../secret.txt")
        encoded = await fetch(port, "/static/%2e%2e/secret.txt")
    assert linked.body == SECRET
    assert climbed.status == encoded.status == 404


@run
async def test_forbidden_file_looks_missing(tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    async with static_app(tree) as port:
        fifo = await asyncio.wait_for(fetch(port, "/static/pipe"), 5)
        missing = await fetch(port, "/static/does-not-exist.txt")
        missing_dir = await fetch(port, "/static/nope/x.txt")
        file_as_dir = await fetch(port, "/static/index.txt/x")
    assert fifo.outcome() == missing.outcome() == missing_dir.outcome() == file_as_dir.outcome()
    assert missing.status == 404


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
@run
async def test_unreadable_file_looks_missing(tree: Path) -> None:
    (tree / "private.txt").write_bytes(SECRET)
    (tree / "private.txt").chmod(0)
    async with static_app(tree) as port:
        private = await fetch(port, "/static/private.txt")
        missing = await fetch(port, "/static/does-not-exist.txt")
    assert private.outcome() == missing.outcome()


# -- directories ----------------------------------------------------------------------------


@run
async def test_directory_without_index_is_403(tree: Path) -> None:
    async with static_app(tree) as port:
        root = await fetch(port, "/static/")
        bare = await fetch(port, "/static")
        sub = await fetch(port, "/static/sub")
    assert root.status == bare.status == sub.status == 403


@run
async def test_directory_listing(tree: Path) -> None:
    async with static_app(tree, show_index=True) as port:
        root = await fetch(port, "/static/")
        sub = await fetch(port, "/static/sub/")
    assert root.status == 200
    assert root.headers["content-type"] == "text/html; charset=utf-8"
    text = root.body.decode()
    assert "<title>Index of /</title>" in text
    assert '<a href="/static/index.txt">index.txt</a>' in text
    assert '<a href="/static/sub">sub/</a>' in text
    assert '<a href="/static/a%20b.txt">a b.txt</a>' in text
    sub_text = sub.body.decode()
    assert "<h1>Index of /sub</h1>" in sub_text
    assert '<a href="/static/sub/deeper">deeper/</a>' in sub_text
    assert '<a href="/static/sub/page.html">page.html</a>' in sub_text


@run
async def test_directory_listing_escapes_names(tree: Path) -> None:
    # "/" cannot be in a file name, so the script tag is one without a closing tag.
    evil = "<img src=x onerror=alert(1)>.txt"
    (tree / evil).write_bytes(b"evil")
    (tree / 'q"uote&amp.txt').write_bytes(b"q")
    (tree / "<b>dir").mkdir()
    (tree / "<b>dir" / "<i>.txt").write_bytes(b"i")
    async with static_app(tree, show_index=True) as port:
        listing = await fetch(port, "/static/")
        inner = await fetch(port, "/static/%3Cb%3Edir/")
        followed = await fetch(port, "/static/%3Cimg%20src=x%20onerror=alert(1)%3E.txt")
    text = listing.body.decode()
    assert "<img" not in text
    assert "&lt;img src=x onerror=alert(1)&gt;.txt" in text
    assert 'href="/static/%3Cimg%20src=x%20onerror=alert(1)%3E.txt"' in text
    assert "q&quot;uote&amp;amp.txt" in text
    assert 'href="/static/q%22uote&amp;amp.txt"' in text
    assert "&lt;b&gt;dir/" in text
    inner_text = inner.body.decode()
    assert "<b>" not in inner_text and "<i>" not in inner_text
    assert "Index of /&lt;b&gt;dir" in inner_text
    assert followed.body == b"evil"  # the link works


@run
async def test_directory_listing_with_undecodable_name(tree: Path) -> None:
    os.close(os.open(os.fsencode(tree) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    async with static_app(tree, show_index=True) as port:
        listing = await fetch(port, "/static/")
    assert listing.status == 200
    assert 'href="/static/caf%E9.txt"' in listing.body.decode()


# -- url_for and introspection -----------------------------------------------------------


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


def test_url_for(tree: Path) -> None:
    app = web.Application()
    resource = app.router.add_static("/static", tree, name="files")
    assert isinstance(resource, StaticResource)
    assert str(resource.url_for(filename="index.txt")) == "/static/index.txt"
    assert str(app.router["files"].url_for(filename="/sub/page.html")) == "/static/sub/page.html"
    assert str(resource.url_for(filename=Path("a b.txt"))) == "/static/a%20b.txt"
    assert str(resource.url_for(filename="100%.txt")) == "/static/100%25.txt"
    assert str(resource.url_for(filename="q?x#y")) == "/static/q%3Fx%23y"


def test_url_for_append_version(tree: Path) -> None:
    resource = StaticResource("/static", tree, append_version=True)
    url = resource.url_for(filename="index.txt")
    assert url.path == "/static/index.txt"
    assert url.query["v"] == _digest(b"root file")
    assert "v" not in resource.url_for(filename="index.txt", append_version=False).query
    # Cached, and refreshed when the file changes.
    (tree / "index.txt").write_bytes(b"new content, new size")
    assert resource.url_for(filename="index.txt").query["v"] == _digest(b"new content, new size")
    # Nothing to hash: no version, and nothing read outside the root.
    assert resource.url_for(filename="missing.txt").query_string == ""
    assert resource.url_for(filename="sub").query_string == ""
    assert resource.url_for(filename="../secret.txt").query_string == ""
    plain = StaticResource("/static", tree)
    assert plain.url_for(filename="index.txt").query_string == ""
    assert plain.url_for(filename="index.txt", append_version=True).query_string.startswith("v=")


def test_url_for_version_refuses_symlinks_out_of_the_root(tree: Path) -> None:
    (tree / "leak.txt").symlink_to(tree.parent / "secret.txt")
    assert StaticResource("/s", tree).url_for(filename="leak.txt", append_version=True).query == {}
    followed = StaticResource("/s", tree, follow_symlinks=True)
    assert followed.url_for(filename="leak.txt", append_version=True).query["v"] == _digest(SECRET)


def test_introspection(tree: Path) -> None:
    async def expect(request: web.Request) -> web.StreamResponse | None:
        return None

    app = web.Application()
    resource = app.router.add_static("/static/", tree, name="files", expect_handler=expect)
    assert isinstance(resource, StaticResource)
    assert resource.canonical == "/static"
    assert resource.name == "files"
    info = resource.get_info()
    assert info["directory"] == tree.resolve()
    assert info["prefix"] == "/static"
    assert set(info["routes"]) == {"GET", "HEAD"}
    assert len(resource) == 2
    assert sorted(route.method for route in resource) == ["GET", "HEAD"]
    assert all(route.expect_handler is expect for route in resource)
    assert all(route.resource is resource for route in resource)
    assert "files" in repr(resource) and "/static" in repr(resource)
    assert len(list(app.router.routes())) == 2


def test_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="No directory exists"):
        StaticResource("/s", tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="No directory exists"):
        StaticResource("/s", tmp_path / "file")


def test_home_directory_is_expanded(monkeypatch: pytest.MonkeyPatch, tree: Path) -> None:
    monkeypatch.setenv("HOME", str(tree.parent))
    assert StaticResource("/s", "~/root").get_info()["directory"] == tree.resolve()


@run
async def test_set_options_route(tree: Path) -> None:
    async def options(request: web.Request) -> web.StreamResponse:
        return web.Response(text="preflight", headers={"Allow": "GET, HEAD, OPTIONS"})

    app = web.Application()
    resource = app.router.add_static("/static", tree)
    assert isinstance(resource, StaticResource)
    resource.set_options_route(options)
    with pytest.raises(RuntimeError, match="already"):
        resource.set_options_route(options)
    async with serve(app) as port:
        reply = await fetch(port, "OPTIONS /static/index.txt")
    assert reply.body == b"preflight"
    with pytest.raises(RuntimeError, match="frozen"):
        resource.set_options_route(options)


@run
async def test_resolve_gives_the_decoded_filename(tree: Path) -> None:
    resource = StaticResource("/static", tree)
    match_info, allowed = await resource.resolve(make_request("GET", "/static/sub/a%20b%2Fc"))
    assert match_info is not None
    assert match_info["filename"] == "sub/a b/c"
    assert allowed == {"GET", "HEAD"}
    none, allowed = await resource.resolve(make_request("POST", "/static/x"))
    assert none is None and allowed == {"GET", "HEAD"}
    none, allowed = await resource.resolve(make_request("GET", "/other/x"))
    assert none is None and allowed == set()


@run
async def test_permission_denied_looks_missing(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The same case as above for runs as root, who may read anything: open() refuses.
    (tree / "private.txt").write_bytes(SECRET)
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any) -> int:
        if os.fspath(path).endswith("private.txt"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    async with static_app(tree) as port:
        private = await fetch(port, "/static/private.txt")
        missing = await fetch(port, "/static/does-not-exist.txt")
    assert private.outcome() == missing.outcome()
    assert SECRET not in private.body
