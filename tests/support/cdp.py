"""A headless Chromium driven over the Chrome DevTools Protocol, with our own WebSocket client.

Just what a browser test needs: open a page, evaluate JavaScript in it, wait until an
expression holds, type into the focused element and press keys. The browser listens on
``--remote-debugging-port=0`` and writes the port it took to ``DevToolsActivePort`` in its
profile directory (first line the port, second the browser target's path), so parallel tests
never race for a port. Protocol reference: https://chromedevtools.github.io/devtools-protocol/
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from runtime import ClientSession, ClientWebSocketResponse, WSMsgType

CHROMIUM = next(
    (path for name in ("chromium", "chromium-browser") if (path := shutil.which(name))), None
)

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)"
)

# Headless and quiet: no GPU, no QUIC, nothing fetched from Google behind the test's back.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


class CDPError(Exception):
    """The browser answered a command with an error, or a script threw."""


class Page:
    """One tab, attached with a flat session: commands carry its ``sessionId``."""

    def __init__(self, browser: Browser, session_id: str) -> None:
        self._browser = browser
        self.session_id = session_id

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        return await self._browser.send(method, session_id=self.session_id, **params)

    async def navigate(self, url: str, timeout: float = 15.0) -> None:
        """Load ``url`` and wait until its document has loaded."""
        answer = await self.send("Page.navigate", url=url)
        if answer.get("errorText"):
            raise CDPError(f"navigating to {url}: {answer['errorText']}")
        await self.wait_for("document.readyState === 'complete'", timeout=timeout)

    async def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (promises awaited), as JSON would carry it."""
        answer = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in answer:
            details = answer["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"{expression!r} threw: {text}")
        return answer["result"].get("value")

    async def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Poll ``expression`` until it is truthy; its value, or TimeoutError with the log."""
        async with asyncio.timeout(timeout):
            while True:
                with contextlib.suppress(CDPError):  # e.g. while a navigation replaces it
                    value = await self.evaluate(expression)
                    if value:
                        return value
                await asyncio.sleep(0.05)

    async def type_text(self, text: str) -> None:
        """Insert ``text`` into the focused element as typed input (``input`` events fire)."""
        await self.send("Input.insertText", text=text)

    async def press_enter(self) -> None:
        """A real Enter key press, which submits the focused input's form."""
        key = {"key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
        await self.send("Input.dispatchKeyEvent", type="keyDown", text="\r", **key)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **key)


class Browser:
    """A Chromium process and its DevTools connection; use :func:`launch`."""

    def __init__(self, proc: subprocess.Popen[bytes], ws: ClientWebSocketResponse) -> None:
        self.proc = proc
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        # The page's console output and uncaught exceptions: shown when a test fails.
        self.console: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def send(
        self, method: str, *, session_id: str | None = None, **params: Any
    ) -> dict[str, Any]:
        """Send one command and wait for its answer."""
        ident = next(self._ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session_id is not None:
            message["sessionId"] = session_id
        future = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        try:
            await self._ws.send_json(message)
            return await asyncio.wait_for(future, 30)
        finally:
            self._waiting.pop(ident, None)

    async def new_page(self) -> Page:
        """A fresh tab with the runtime and page domains on (console messages collected)."""
        target = await self.send("Target.createTarget", url="about:blank")
        attached = await self.send(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        page = Page(self, attached["sessionId"])
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        return page

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != WSMsgType.TEXT:
                continue
            data = msg.json()
            future = self._waiting.get(data.get("id", -1))
            if future is not None and not future.done():
                if "error" in data:
                    future.set_exception(CDPError(str(data["error"])))
                else:
                    future.set_result(data.get("result", {}))
            elif data.get("method") == "Runtime.consoleAPICalled":
                args = data["params"].get("args", [])
                words = [str(a.get("value", a.get("description", ""))) for a in args]
                self.console.append(" ".join(words))
            elif data.get("method") == "Runtime.exceptionThrown":
                self.console.append(str(data["params"]["exceptionDetails"]))
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(CDPError("the DevTools connection closed"))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.send("Browser.close"), 5)
        await self._ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the browser and its helpers: its own session, one process group we started."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(5)
            return
        except subprocess.TimeoutExpired:
            continue


async def _devtools_address(profile: Path, proc: subprocess.Popen[bytes], log: Path) -> str:
    active = profile / "DevToolsActivePort"
    async with asyncio.timeout(30):
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {proc.returncode}:\n{log.read_text()}")
            with contextlib.suppress(FileNotFoundError, ValueError):
                port, path = active.read_text().split("\n")[:2]
                if path:
                    return f"ws://127.0.0.1:{int(port)}{path}"
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def launch(tmp: Path) -> AsyncIterator[Browser]:
    """``async with launch(tmp_path) as browser:`` a headless Chromium with a fresh profile."""
    assert CHROMIUM is not None, "chromium is not installed"
    profile = tmp / "chromium-profile"
    profile.mkdir(parents=True)
    log = tmp / "chromium.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        address = await _devtools_address(profile, proc, log)
        async with ClientSession() as session:
            ws = await session.ws_connect(address, max_msg_size=64 * 2**20)
            browser = Browser(proc, ws)
            try:
                yield browser
            finally:
                await browser.close()
    finally:
        await asyncio.get_running_loop().run_in_executor(None, _stop, proc)
