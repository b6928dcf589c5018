"""docs/faq.md's answers, each backed by a runnable example: every code block that names an
example file (its first line, ``# examples/...py``) shows that file verbatim, every example
under examples/faq/ is shown and named in a "Backed by" line, and each example runs here
with the requests its answer talks about. (The two several-workers examples run on Redis in
tests/cluster/test_faq.py.)"""

from __future__ import annotations

import ast
import asyncio
import datetime
import gzip
import json
import re
import subprocess
import sys
from collections.abc import Callable
from email.utils import format_datetime
from pathlib import Path

import pytest

from examples.faq import (
    catch_all,
    close_sockets,
    compression,
    database,
    deprecated_endpoint,
    events,
    request_data,
    route_table,
    source_address,
    subapps,
)
from runtime import web
from runtime.testing.pytest_plugin import ClientFactory

ROOT = Path(__file__).resolve().parent.parent
FAQ = (ROOT / "docs" / "faq.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```$", FAQ, re.S | re.M)
NAMED = {
    m[1]: m[2] for block in BLOCKS if (m := re.match(r"# (examples/\S+\.py)\n(.*)\Z", block, re.S))
}
EXAMPLES = sorted(
    str(p.relative_to(ROOT))
    for p in (ROOT / "examples" / "faq").rglob("*.py")
    if p.stem != "__init__"
)


def code_of(relative: str) -> str:
    """The example as the FAQ shows it: without its docstring and future import."""
    source = (ROOT / relative).read_text()
    docstring_end = ast.parse(source).body[0].end_lineno
    code = "\n".join(source.splitlines()[docstring_end:]).strip("\n")
    return code.replace("from __future__ import annotations\n\n", "") + "\n"


# -- the FAQ shows the examples ----------------------------------------------------------


@pytest.mark.parametrize("relative", sorted(NAMED))
def test_a_block_that_names_an_example_shows_it_verbatim(relative: str) -> None:
    assert NAMED[relative] == code_of(relative)


@pytest.mark.parametrize("relative", EXAMPLES)
def test_every_example_is_shown_and_named_in_a_backed_by_line(relative: str) -> None:
    assert relative in NAMED or code_of(relative) in BLOCKS
    backed_by = re.findall(r"^Backed by:.*?(?=\n\n|\n*\Z)", FAQ, re.S | re.M)
    assert any(f"`{relative}`" in line or f"({relative[len('examples/') :]})" in line
               or f"(../{relative})" in line for line in backed_by)  # fmt: skip


def test_every_python_block_is_an_example() -> None:
    examples = {code_of(relative) for relative in EXAMPLES}
    assert [b for b in BLOCKS if not b.startswith("# examples/") and b not in examples] == []
    assert len(NAMED) >= 12


# -- each example, run --------------------------------------------------------------------


async def test_route_table(make_client: ClientFactory) -> None:
    client = await make_client(route_table.create_app)
    async with client.get("/") as resp:
        assert await resp.text() == "index"
    async with client.put("/items/pen") as resp:
        assert (resp.status, await resp.json()) == (201, {"stored": "pen"})
    assert client.app is not None
    routes = [(r.method, r.resource.canonical) for r in client.app.router.routes()]
    assert [r for r in routes if r[0] != "HEAD"] == [("GET", "/"), ("PUT", "/items/{name}")]


async def test_subapps(make_client: ClientFactory) -> None:
    client = await make_client(subapps.create_app)
    async with client.get("/") as resp:  # the admin's middleware does not guard the parent
        assert await resp.text() == "welcome to example.org"
    async with client.get("/admin/users") as resp:
        assert resp.status == 403
    async with client.get("/admin/users", headers={"X-Role": "admin"}) as resp:
        assert await resp.text() == "users of example.org"


async def test_catch_all(make_client: ClientFactory) -> None:
    client = await make_client(catch_all.create_app)
    for method in ("GET", "POST", "DELETE", "OPTIONS"):
        async with client.request(method, "/path/to/a/b/c") as resp:
            assert await resp.text() == f"{method} a/b/c"
    async with client.get("/path/to/") as resp:
        assert resp.status == 404
    async with client.get("/path/to/x%2Fy") as resp:
        assert await resp.text() == "GET x/y"


async def test_database(make_client: ClientFactory) -> None:
    client = await make_client(database.create_app)
    assert client.app is not None and isinstance(client.app[database.DB], database.Database)
    async with client.get("/answer") as resp:
        assert await resp.json() == {"answer": 42}


async def test_request_data(make_client: ClientFactory) -> None:
    client = await make_client(request_data.create_app)
    async with client.get("/whoami", headers={"X-User": "ada"}) as resp:
        assert await resp.text() == "ada"
    async with client.get("/whoami") as resp:
        assert await resp.text() == "guest"


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for a handler to get past ``prepare()``: the client's handshake ends first."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the handlers never got there")


async def test_events(make_client: ClientFactory) -> None:
    client = await make_client(events.create_app)
    assert client.app is not None
    hub = client.app[events.HUB]
    first = await client.ws_connect("/chat")
    second = await client.ws_connect("/chat")
    await _until(lambda: len(hub.queues) == 2)
    await first.send_str("from a user")  # read by its handler, sent to every socket
    assert await first.receive_str(timeout=5) == "from a user"
    assert await second.receive_str(timeout=5) == "from a user"
    hub.publish("from elsewhere")  # the other source
    assert await first.receive_str(timeout=5) == "from elsewhere"
    assert await second.receive_str(timeout=5) == "from elsewhere"
    await first.close()
    await _until(lambda: len(hub.queues) == 1)  # its forwarder stopped, its queue left


async def test_close_sockets(make_client: ClientFactory) -> None:
    client = await make_client(close_sockets.create_app)
    assert client.app is not None
    registry = web.websockets(client.app)
    alice = [await client.ws_connect("/echo", headers={"X-User": "alice"}) for _ in range(3)]
    bob = await client.ws_connect("/echo", headers={"X-User": "bob"})
    await _until(lambda: len(registry) == 4)
    assert sorted(registry.keys()) == ["alice", "bob"]
    async with client.post("/logout", headers={"X-User": "alice"}) as resp:
        assert await resp.text() == "closed 3 sockets"
    for ws in alice:
        msg = await ws.receive(timeout=5)
        assert msg.type is web.WSMsgType.CLOSE
        assert (msg.data, msg.extra) == (web.WSCloseCode.POLICY_VIOLATION, "logged out")
    await bob.send_str("still here")
    assert await bob.receive_str(timeout=5) == "still here"
    assert registry.get("alice") == [] and len(registry.get("bob")) == 1
    async with client.post("/logout", headers={"X-User": "nobody"}) as resp:
        assert await resp.text() == "closed 0 sockets"


async def test_source_address(
    make_client: ClientFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    async def peer(request: web.Request) -> web.Response:
        return web.Response(text=str(request.remote))

    app = web.Application()
    app.router.add_get("/", peer)
    client = await make_client(app)
    await source_address.main(str(client.make_url("/")))
    assert capsys.readouterr().out == "200 127.0.0.2\n"


def test_implicit_loop() -> None:
    test = ROOT / "examples" / "faq" / "implicit_loop" / "test_main.py"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", str(test)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout


async def test_deprecated_endpoint(make_client: ClientFactory) -> None:
    client = await make_client(deprecated_endpoint.create_app)
    with pytest.warns(DeprecationWarning):
        async with client.get("/v1/items") as resp:
            assert (resp.status, await resp.json()) == (200, [])
    since = datetime.datetime.combine(deprecated_endpoint.SINCE, datetime.time(), datetime.UTC)
    assert resp.headers["Deprecation"] == f"@{int(since.timestamp())}"
    assert resp.headers["Sunset"] == format_datetime(
        since + datetime.timedelta(days=548), usegmt=True
    )
    assert '</v2/items>; rel="successor-version"' in resp.headers["Link"]


async def test_compression(make_client: ClientFactory) -> None:
    client = await make_client(compression.create_app)
    async with client.get("/report", headers={"Accept-Encoding": "gzip"}) as resp:
        assert resp.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in resp.headers["Vary"]
        rows = json.loads(gzip.decompress(await resp.read()))  # our client leaves codings be
    assert len(rows) == 1000 and rows[999] == {"id": 999, "name": "row 999"}
    async with client.get("/report", headers={"Accept-Encoding": "identity"}) as resp:
        assert "Content-Encoding" not in resp.headers
        assert await resp.json() == rows
