"""The chat page of ``examples/cluster_chat.py`` in a real browser (issue 17, item 8).

A headless Chromium, driven over the DevTools protocol (``tests/support/cdp.py``), opens
``GET /`` through nginx in front of gunicorn with two workers and joins a room by typing into
the page. The test publishes to the room and reads the text in the page's DOM; a message
typed in the page reaches a second, non-browser client in the room; a gunicorn reload closes
the page's socket with 1001 and the page comes back; a logout closes it and the page says so
(and, logged out, does not come back).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime import ClientSession, ClientWebSocketResponse, WSMsgType
from tests.cluster.chat_stack import Stack, chat_stack
from tests.deploy.tools import needs_nginx
from tests.support.cdp import Page, launch, needs_chromium
from tests.support.redis import REDIS_SERVER, RedisServer

pytest.importorskip("runtime.cluster")

pytestmark = [
    pytest.mark.slow,
    needs_nginx,
    needs_chromium,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
    pytest.mark.timeout(120),
]

USER, ROOM = "ada", "browser-room"
LOG_TEXTS = "[...document.querySelectorAll('#log p')].map(p => p.textContent)"
STATE = "document.getElementById('state')"


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    redis_server = RedisServer(tmp_path / "redis").start()
    try:
        with chat_stack(tmp_path, redis_server.url, ["127.0.0.2"], workers=2) as s:
            yield s
    finally:
        redis_server.kill()


@contextlib.asynccontextmanager
async def browser_page(tmp_path: Path) -> AsyncIterator[Page]:
    async with launch(tmp_path) as browser:
        page = await browser.new_page()
        try:
            yield page
        except BaseException:
            print("browser console:", *browser.console, sep="\n  ")
            raise


async def replace_text(page: Page, element_id: str, text: str) -> None:
    """Focus an input, select what it holds and type over it, as a person would."""
    await page.evaluate(f"document.getElementById({json.dumps(element_id)}).select()")
    await page.type_text(text)


async def page_has(page: Page, text: str, timeout: float = 10.0) -> None:
    await page.wait_for(f"{LOG_TEXTS}.includes({json.dumps(text)})", timeout=timeout)


async def publish_until_seen(session: ClientSession, stack: Stack, seen: object) -> None:
    """Publish markers until ``seen(marker)`` says it arrived: the room is subscribed on the
    worker. Publishing is at-most-once, so earlier messages may rightly be lost."""
    async with asyncio.timeout(15):
        for n in range(1000):
            marker = f"marker-{n}"
            async with session.post(f"{stack.url}/rooms/{ROOM}", data=marker) as resp:
                assert resp.status == 200
            assert callable(seen)
            if await seen(marker):
                return


async def test_the_chat_page_in_a_browser(tmp_path: Path, stack: Stack) -> None:
    async with ClientSession() as session, browser_page(tmp_path) as page:
        await page.navigate(f"{stack.url}/")
        assert await page.evaluate("document.title") == "Berth cluster chat"
        await replace_text(page, "user", USER)
        await replace_text(page, "room", ROOM)
        await page.press_enter()  # submits the join form
        worker = await page.wait_for(f"{STATE}.dataset.worker")
        assert int(worker) in stack.hosts[0].worker_pids()
        assert await page.evaluate(f"{STATE}.textContent") == f"joined {ROOM} as {USER}"

        async def page_saw(marker: str) -> bool:
            with contextlib.suppress(TimeoutError):
                await page_has(page, marker, timeout=0.3)
                return True
            return False

        # The test publishes; the text shows in the page.
        await publish_until_seen(session, stack, page_saw)
        async with session.post(f"{stack.url}/rooms/{ROOM}", data="hello, browser") as resp:
            assert await resp.json() == {"published": True}
        await page_has(page, "hello, browser")

        # A reload of gunicorn (SIGHUP: new workers, the old ones stop gracefully) closes the
        # page's socket with 1001 Going Away; the page comes back by itself, to a new worker.
        stack.hosts[0].proc.send_signal(signal.SIGHUP)
        await page.wait_for(f"{STATE}.dataset.closeCode === '1001'", timeout=20)
        rejoined = f"{STATE}.textContent === {json.dumps(f'joined {ROOM} as {USER}')}"
        await page.wait_for(f"{rejoined} && {STATE}.dataset.worker !== '{worker}'", timeout=20)
        worker = await page.evaluate(f"{STATE}.dataset.worker")
        assert int(worker) in stack.hosts[0].worker_pids()
        await publish_until_seen(session, stack, page_saw)

        # A second client in the room, not a browser, hears what is typed in the page.
        other: ClientWebSocketResponse = await session.ws_connect(
            f"{stack.url}/ws", params={"user": "bob", "room": ROOM}
        )
        assert "worker" in await other.receive_json(timeout=10)

        async def other_saw(marker: str) -> bool:
            with contextlib.suppress(TimeoutError):
                while True:
                    msg = await other.receive(timeout=0.3)
                    if msg.type == WSMsgType.TEXT and msg.data == marker:
                        return True
            return False

        await publish_until_seen(session, stack, other_saw)
        await page.evaluate("document.getElementById('text').focus()")
        await page.type_text("typed in the browser")
        await page.press_enter()  # submits the message form
        async with asyncio.timeout(10):
            while True:
                msg = await other.receive()
                assert msg.type == WSMsgType.TEXT, msg
                if msg.data == "typed in the browser":
                    break
        await page_has(page, "typed in the browser")  # the room echoes it to the page too
        assert await page.evaluate("document.getElementById('text').value") == ""

        # The logout closes the page's socket; the page shows it and stays logged out.
        async with session.post(f"{stack.url}/logout", params={"user": USER}) as resp:
            assert (await resp.json())["closed"] == 1
        await page.wait_for(f"{STATE}.textContent === 'closed (4001)'")
        assert await page.evaluate(f"{STATE}.dataset.closeCode") == "4001"
        await asyncio.sleep(1.5)  # the page reconnects after 1 s on 1001/1012/1013, not here
        assert await page.evaluate(f"{STATE}.textContent") == "closed (4001)"
        assert not other.closed
        await other.close()
