"""``app.router.add_static``: serving a directory, and never anything outside it.

Requests go through the test client, except those whose target the client would
normalise before sending (``..``, ``%2e%2e``, backslashes): those are written raw, so
the server sees exactly the attack.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime import web
from runtime.testing.kit import TestClient
from runtime.web.exceptions import HTTPNotFound
from runtime.web.routing.static import StaticResource
from tests.support import Reply, fetch
from tests.support.unprivileged import unprivileged
from tests.web.routing_support import make_request
from tests.web.support import ClientFactory

SECRET = b"TOP-SECRET-CONTENT"


async def get(client: TestClient, target: str, headers: dict[str, str] | None = None) -> Reply:
    """One request through the test client; ``"POST /path"`` names another method."""
    method, _, path = target.rpartition(" ") if " " in target else ("GET", "", target)
    response = await client.request(method, path, headers=headers)
    return Reply(response.status, response.headers, await response.read())


async def raw(client: TestClient, target: str) -> Reply:
    """One request with the target sent exactly as given (a raw socket)."""
    assert client.port is not None
    return await fetch(client.port, "GET", target)


StaticClient = Callable[..., Awaitable[TestClient]]


@pytest.fixture
def static_client(make_client: ClientFactory) -> StaticClient:
    """``client = await static_client(root, prefix="/static", **add_static_kwargs)``."""

    async def factory(root: Path, prefix: str = "/static", **kwargs: Any) -> TestClient:
        app = web.Application()
        app.router.add_static(prefix, root, name="files", **kwargs)
        return await make_client(app)

    return factory


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


# -- serving --------------------------------------------------------------------------


async def test_serves_files_and_nested_files(static_client: StaticClient, tree: Path) -> None:
    client = await static_client(tree)
    top = await get(client, "/static/index.txt")
    nested = await get(client, "/static/sub/page.html")
    deeper = await get(client, "/static/sub/deeper/x.bin")
    spaced = await get(client, "/static/a%20b.txt")
    assert (top.status, top.body) == (200, b"root file")
    assert top.headers["content-type"] == "text/plain"
    assert top.headers["accept-ranges"] == "bytes"
    assert (nested.status, nested.body) == (200, b"<p>page</p>")
    assert nested.headers["content-type"] == "text/html"
    assert (deeper.status, deeper.body) == (200, b"\x00\x01\x02")
    assert (spaced.status, spaced.body) == (200, b"spaced")


async def test_head_and_405_for_other_methods(static_client: StaticClient, tree: Path) -> None:
    client = await static_client(tree)
    head = await get(client, "HEAD /static/index.txt")
    post = await get(client, "POST /static/index.txt")
    assert head.status == 200
    assert head.headers["content-length"] == "9"
    assert head.body == b""
    assert post.status == 405
    assert {m.strip() for m in post.headers["allow"].split(",")} == {"GET", "HEAD"}


async def test_conditional_and_range_requests_work_through_static(
    static_client: StaticClient, tree: Path
) -> None:
    client = await static_client(tree)
    first = await get(client, "/static/index.txt")
    cached = await get(client, "/static/index.txt", {"If-None-Match": first.headers["etag"]})
    part = await get(client, "/static/index.txt", {"Range": "bytes=5-"})
    assert cached.status == 304
    assert part.status == 206
    assert part.body == b"file"


async def test_precompressed_sibling_through_static(
    static_client: StaticClient, tree: Path
) -> None:
    (tree / "app.css").write_bytes(b"body{}")
    (tree / "app.css.gz").write_bytes(b"gz-bytes")
    client = await static_client(tree)
    reply = await get(client, "/static/app.css", {"Accept-Encoding": "gzip"})
    assert reply.body == b"gz-bytes"
    assert reply.headers["content-encoding"] == "gzip"
    assert reply.headers["content-type"] == "text/css"
    assert reply.headers["vary"] == "Accept-Encoding"


async def test_prefix_root_and_trailing_slash(static_client: StaticClient, tree: Path) -> None:
    client = await static_client(tree, prefix="/")
    reply = await get(client, "/sub/page.html")
    escape = await raw(client, "/../secret.txt")
    assert reply.body == b"<p>page</p>"
    assert escape.status == 404


async def test_a_longer_name_sharing_the_prefix_does_not_match(
    static_client: StaticClient, tree: Path
) -> None:
    client = await static_client(tree)
    reply = await get(client, "/staticindex.txt")
    assert reply.status == 404


async def test_static_inside_a_sub_application(make_client: ClientFactory, tree: Path) -> None:
    sub = web.Application()
    sub.router.add_static("/files", tree)
    app = web.Application()
    app.add_subapp("/sub", sub)
    client = await make_client(app)
    reply = await get(client, "/sub/files/index.txt")
    escape = await raw(client, "/sub/files/../../secret.txt")
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
async def test_traversal_is_404_like_a_missing_file(
    static_client: StaticClient, tree: Path, target: str
) -> None:
    target = target.replace("{secret}", str(tree.parent / "secret.txt").lstrip("/"))
    client = await static_client(tree)
    reply = await raw(client, target)
    missing = await raw(client, "/static/does-not-exist.txt")
    assert SECRET not in reply.body
    assert b"root:" not in reply.body
    assert reply.outcome() == missing.outcome()
    assert reply.outcome() == (404, HTTPNotFound().body, "text/plain; charset=utf-8")


async def test_raw_backslash_in_the_target_does_not_escape(
    static_client: StaticClient, tree: Path
) -> None:
    client = await static_client(tree)
    reply = await raw(client, "/static/..\\..\\secret.txt")
    assert reply.status in (400, 404)  # the parser may refuse it before routing does
    assert SECRET not in reply.body


async def test_symlinks_out_of_the_root_are_404(static_client: StaticClient, tree: Path) -> None:
    (tree / "leak.txt").symlink_to(tree.parent / "secret.txt")
    (tree / "leakdir").symlink_to(tree.parent / "outside", target_is_directory=True)
    (tree / "loop").symlink_to(tree / "loop")
    client = await static_client(tree, show_index=True)
    file_link = await get(client, "/static/leak.txt")
    dir_link = await get(client, "/static/leakdir/data.txt")
    dir_index = await get(client, "/static/leakdir/")
    loop_link = await get(client, "/static/loop")
    missing = await get(client, "/static/does-not-exist.txt")
    for reply in (file_link, dir_link, dir_index, loop_link):
        assert reply.outcome() == missing.outcome()
        assert SECRET not in reply.body


async def test_symlinks_inside_the_root_are_served(static_client: StaticClient, tree: Path) -> None:
    (tree / "alias.txt").symlink_to(tree / "index.txt")
    (tree / "relative.html").symlink_to(Path("sub") / "page.html")
    (tree / "subalias").symlink_to(tree / "sub", target_is_directory=True)
    client = await static_client(tree)
    alias = await get(client, "/static/alias.txt")
    relative = await get(client, "/static/relative.html")
    through_dir = await get(client, "/static/subalias/page.html")
    assert alias.body == b"root file"
    assert relative.body == b"<p>page</p>"
    assert relative.headers["content-type"] == "text/html"
    assert through_dir.body == b"<p>page</p>"


async def test_follow_symlinks_serves_links_out_but_not_dot_dot(
    static_client: StaticClient, tree: Path
) -> None:
    (tree / "shared.txt").symlink_to(tree.parent / "secret.txt")
    client = await static_client(tree, follow_symlinks=True)
    linked = await get(client, "/static/shared.txt")
    climbed = await raw(client, "/static/../secret.txt")
    encoded = await raw(client, "/static/%2e%2e/secret.txt")
    assert linked.body == SECRET
    assert climbed.status == encoded.status == 404


async def test_forbidden_file_looks_missing(static_client: StaticClient, tree: Path) -> None:
    os.mkfifo(tree / "pipe")
    client = await static_client(tree)
    fifo = await asyncio.wait_for(get(client, "/static/pipe"), 5)
    missing = await get(client, "/static/does-not-exist.txt")
    missing_dir = await get(client, "/static/nope/x.txt")
    file_as_dir = await get(client, "/static/index.txt/x")
    assert fifo.outcome() == missing.outcome() == missing_dir.outcome() == file_as_dir.outcome()
    assert missing.status == 404


async def test_unreadable_file_looks_missing(static_client: StaticClient, tree: Path) -> None:
    (tree / "private.txt").write_bytes(SECRET)
    (tree / "private.txt").chmod(0)
    client = await static_client(tree)
    with unprivileged(tree):  # root reads any file: ask as an ordinary user
        private = await get(client, "/static/private.txt")
        missing = await get(client, "/static/does-not-exist.txt")
    assert private.outcome() == missing.outcome()


# -- directories ----------------------------------------------------------------------------


async def test_directory_without_index_is_403(static_client: StaticClient, tree: Path) -> None:
    client = await static_client(tree)
    root = await get(client, "/static/")
    bare = await get(client, "/static")
    sub = await get(client, "/static/sub")
    assert root.status == bare.status == sub.status == 403


async def test_directory_listing(static_client: StaticClient, tree: Path) -> None:
    client = await static_client(tree, show_index=True)
    root = await get(client, "/static/")
    sub = await get(client, "/static/sub/")
    assert root.status == 200
    assert root.headers["content-type"] == "text/html; charset=utf-8"
    text = root.body.decode()
    assert "<title>Index of /.</title>" in text
    assert '<a href="/static/index.txt">index.txt</a>' in text
    assert '<a href="/static/sub">sub/</a>' in text
    assert '<a href="/static/a%20b.txt">a b.txt</a>' in text
    sub_text = sub.body.decode()
    assert "<h1>Index of /sub</h1>" in sub_text
    assert '<a href="/static/sub/deeper">deeper/</a>' in sub_text
    assert '<a href="/static/sub/page.html">page.html</a>' in sub_text


@pytest.mark.parametrize(
    ("prefix", "target"), [("/", "/"), ("/static", "/static"), ("/static", "/static/")]
)
async def test_the_root_listing_is_aiohttps_byte_for_byte(
    static_client: StaticClient, tmp_path: Path, prefix: str, target: str
) -> None:
    # aiohttp 3.14's test_access_root_of_static_handler: the root is titled "/.".
    (tmp_path / "my_dir").mkdir()
    (tmp_path / "my_dir" / "my_file_in_dir").write_text("world")
    (tmp_path / "my_file").write_text("hello")
    client = await static_client(tmp_path, prefix=prefix, show_index=True)
    reply = await get(client, target)
    base = prefix.rstrip("/")
    assert reply.status == 200
    assert reply.headers["Content-Type"] == "text/html; charset=utf-8"
    assert reply.body == (
        b"<html>\n<head>\n<title>Index of /.</title>\n</head>\n<body>\n<h1>Index of /.</h1>\n"
        b'<ul>\n<li><a href="' + base.encode() + b'/my_dir">my_dir/</a></li>\n'
        b'<li><a href="' + base.encode() + b'/my_file">my_file</a></li>\n</ul>\n</body>\n</html>'
    )


@pytest.mark.parametrize(
    ("prefix", "target", "status"),
    [("/a,b", "/a%2Cb/f.txt", 200), ("/a%2Cb", "/a%2Cb/f.txt", 404), ("/a%2Cb", "/a,b/f.txt", 404)],
)
async def test_escapes_in_a_static_prefix_match_as_in_aiohttp(
    static_client: StaticClient, tmp_path: Path, prefix: str, target: str, status: int
) -> None:
    (tmp_path / "f.txt").write_text("F")
    client = await static_client(tmp_path, prefix=prefix)
    assert (await raw(client, target)).status == status


async def test_directory_listing_escapes_names(static_client: StaticClient, tree: Path) -> None:
    # "/" cannot be in a file name, so the script tag is one without a closing tag.
    evil = "<img src=x onerror=alert(1)>.txt"
    (tree / evil).write_bytes(b"evil")
    (tree / 'q"uote&amp.txt').write_bytes(b"q")
    (tree / "<b>dir").mkdir()
    (tree / "<b>dir" / "<i>.txt").write_bytes(b"i")
    client = await static_client(tree, show_index=True)
    listing = await get(client, "/static/")
    inner = await get(client, "/static/%3Cb%3Edir/")
    followed = await get(client, "/static/%3Cimg%20src=x%20onerror=alert(1)%3E.txt")
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


async def test_directory_listing_with_undecodable_name(
    static_client: StaticClient, tree: Path
) -> None:
    os.close(os.open(os.fsencode(tree) + b"/caf\xe9.txt", os.O_CREAT | os.O_WRONLY))
    client = await static_client(tree, show_index=True)
    listing = await get(client, "/static/")
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


async def test_set_options_route(make_client: ClientFactory, tree: Path) -> None:
    async def options(request: web.Request) -> web.StreamResponse:
        return web.Response(text="preflight", headers={"Allow": "GET, HEAD, OPTIONS"})

    app = web.Application()
    resource = app.router.add_static("/static", tree)
    assert isinstance(resource, StaticResource)
    resource.set_options_route(options)
    with pytest.raises(RuntimeError, match="already"):
        resource.set_options_route(options)
    client = await make_client(app)
    reply = await get(client, "OPTIONS /static/index.txt")
    assert reply.body == b"preflight"
    with pytest.raises(RuntimeError, match="frozen"):
        resource.set_options_route(options)


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


async def test_permission_denied_looks_missing(
    static_client: StaticClient, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same case as above for runs as root, who may read anything: open() refuses.
    (tree / "private.txt").write_bytes(SECRET)
    real_open = os.open

    def refusing_open(path: Any, flags: int, *args: Any) -> int:
        if os.fspath(path).endswith("private.txt"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", refusing_open)
    client = await static_client(tree)
    private = await get(client, "/static/private.txt")
    missing = await get(client, "/static/does-not-exist.txt")
    assert private.outcome() == missing.outcome()
    assert SECRET not in private.body
