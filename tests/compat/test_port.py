"""The end-to-end port (issue 16): examples/aiohttp_port, a chat written only against aiohttp,
aiohttp-jinja2, aiohttp-session and aiohttp-cors, served in real processes and driven with
aiohttp's own client through real HTTP and WebSockets.

On Berth it runs under ``gunicorn -k runtime.workers.GunicornAiohttpCompatWorker``: with two
workers for the pages, the cookie session and CORS (the session lives in the cookie, so any
worker reads it), with one for the chat (each worker holds its own sockets; fan-out across
workers is the cluster's job). The same scenarios then run against aiohttp's own
``web.run_app``, which proves the example is a genuine aiohttp application.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from tests.workers.harness import Launcher, free_port, get, launcher

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
TARGET = "examples.aiohttp_port.app:create_app"
COMPAT_WORKER = "runtime.workers.GunicornAiohttpCompatWorker"
ORIGIN = "https://chat.example"  # the app's default CORS origin
BERTH = "Berth"
AIOHTTP = "aiohttp/3.14"  # aiohttp's Server header: "Python/3.x aiohttp/3.14.5"

# aiohttp's web.run_app serving the example in a fresh interpreter, where the
# compatibility mode was never installed; the first line out names the Application's module.
RUN_APP = """
import sys
from aiohttp import web
from examples.aiohttp_port.app import create_app

async def app():
    application = await create_app()
    print(type(application).__module__, flush=True)
    return application

web.run_app(app(), host="127.0.0.1", port=int(sys.argv[1]), print=None)
"""


def session() -> aiohttp.ClientSession:
    # unsafe: the servers are on 127.0.0.1, whose cookies aiohttp's jar refuses otherwise.
    # force_close: a connection per request, so under two workers both of them answer.
    return aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(force_close=True),
    )


async def sign_in(client: aiohttp.ClientSession, base: URL, name: str) -> None:
    async with client.post(base / "login", data={"name": name}, allow_redirects=False) as resp:
        assert resp.status == 303
        assert resp.headers["Location"] == "/chat"
        assert "CHAT_SESSION" in resp.cookies


async def pages(base: URL, server: str) -> None:
    """Sign in through the form, see the page rendered for the session's user, sign out."""
    async with session() as client:
        async with client.get(base / "chat", allow_redirects=False) as resp:
            assert resp.status == 302
            assert resp.headers["Location"] == "/login"
            assert server in resp.headers["Server"]
        async with client.get(base / "login") as resp:
            assert resp.status == 200
            assert resp.content_type == "text/html"
            assert '<form method="post" action="/login">' in await resp.text()
        async with client.post(base / "login", data={"name": "  "}) as resp:
            assert resp.status == 400
            assert "A name of 1 to 32 characters" in await resp.text()
        await sign_in(client, base, "alice")
        for _ in range(4):  # under two workers, several connections: either one knows alice
            async with client.get(base / "chat") as resp:
                assert resp.status == 200
                assert '<strong id="me">alice</strong>' in await resp.text()
        async with client.post(base / "logout", allow_redirects=False) as resp:
            assert resp.status == 303
        async with client.get(base / "chat", allow_redirects=False) as resp:
            assert resp.status == 302


async def cors(base: URL) -> None:
    """A preflight and actual requests from the allowed origin; another origin refused."""
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    async with session() as client:
        async with client.options(base / "api/messages", headers=preflight) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"
            assert resp.headers["Access-Control-Allow-Methods"] == "POST"
            assert resp.headers["Access-Control-Allow-Headers"].lower() == "content-type"
            assert resp.headers["Access-Control-Max-Age"] == "600"
        other = {**preflight, "Origin": "https://elsewhere.example"}
        async with client.options(base / "api/messages", headers=other) as resp:
            assert resp.status == 403
            assert "Access-Control-Allow-Origin" not in resp.headers
        async with client.post(base / "api/messages", json={"text": "hi"}) as resp:
            assert resp.status == 401  # no session yet
        await sign_in(client, base, "carol")
        headers = {"Origin": ORIGIN}
        body = {"text": "from another origin"}
        async with client.post(base / "api/messages", json=body, headers=headers) as resp:
            assert resp.status == 201
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert await resp.json() == {"name": "carol", "text": "from another origin"}
        async with client.get(base / "api/messages", headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Access-Control-Allow-Origin"] == ORIGIN
            assert resp.headers["Access-Control-Allow-Credentials"] == "true"
            assert resp.headers["Access-Control-Expose-Headers"] == "X-Chat-Online"
            assert resp.headers["X-Chat-Online"].isdigit()
            assert isinstance(await resp.json(), list)
        async with client.get(base / "api/messages") as resp:
            assert "Access-Control-Allow-Origin" not in resp.headers  # not a CORS request


async def receive(ws: aiohttp.ClientWebSocketResponse) -> object:
    async with asyncio.timeout(5):
        return await ws.receive_json()


async def chat(base: URL) -> None:
    """Two signed-in sockets: a message crosses to the other one, not back to its sender."""
    async with session() as alice, session() as bob, session() as nobody:
        await sign_in(alice, base, "alice")
        await sign_in(bob, base, "bob")
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await nobody.ws_connect(base / "ws")
        assert refused.value.status == 403
        async with alice.ws_connect(base / "ws") as ws_a, bob.ws_connect(base / "ws") as ws_b:
            await ws_a.send_str("hello <b>bob</b>")
            assert await receive(ws_b) == {"name": "alice", "text": "hello <b>bob</b>"}
            await ws_b.send_str("hi alice")
            # alice's next message is bob's: her own was not sent back to her.
            assert await receive(ws_a) == {"name": "bob", "text": "hi alice"}
            async with bob.post(base / "api/messages", json={"text": "via the API"}) as resp:
                assert resp.status == 201
            for ws in (ws_a, ws_b):  # the API's messages have no sending socket
                assert await receive(ws) == {"name": "bob", "text": "via the API"}
            async with bob.get(base / "api/messages") as resp:
                assert resp.headers["X-Chat-Online"] == "2"
        async with bob.get(base / "chat") as resp:
            page = await resp.text()
        # The history, rendered by the template with HTML escaped.
        assert "<strong>alice</strong>: hello &lt;b&gt;bob&lt;/b&gt;</li>" in page
        assert "<strong>bob</strong>: via the API</li>" in page


@pytest.fixture
def on_berth(tmp_path: Path) -> Iterator[Callable[[int], URL]]:
    """Starts gunicorn with Berth's compatibility worker and ``n`` workers."""
    with launcher(tmp_path) as launch:
        yield lambda workers: start_gunicorn(launch, workers)


def start_gunicorn(launch: Launcher, workers: int) -> URL:
    instance = launch("-w", str(workers), target=TARGET, worker=COMPAT_WORKER)
    instance.start().wait_ready()
    return URL.build(scheme="http", host="127.0.0.1", port=instance.port)


@contextlib.contextmanager
def on_aiohttp() -> Iterator[URL]:
    """aiohttp's web.run_app serving the example, in a process of its own."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(RUN_APP), str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "aiohttp.web_app"  # aiohttp's Application
        deadline = time.monotonic() + 20
        while True:
            try:
                get(("127.0.0.1", port), "/login", timeout=2)
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "aiohttp's server did not start"
                time.sleep(0.05)
        yield URL.build(scheme="http", host="127.0.0.1", port=port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=10)


async def test_berth_two_workers_serve_pages_sessions_and_cors(
    on_berth: Callable[[int], URL],
) -> None:
    base = on_berth(2)
    await pages(base, BERTH)
    await cors(base)


async def test_berth_carries_the_chat_between_websockets(on_berth: Callable[[int], URL]) -> None:
    await chat(on_berth(1))


async def test_the_same_app_runs_on_aiohttp_itself() -> None:
    with on_aiohttp() as base:
        await pages(base, AIOHTTP)
        await cors(base)
        await chat(base)
