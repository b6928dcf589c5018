"""``python -m runtime app:create_app --reload``: an edit is served after a reload, with no
request refused meanwhile; a broken edit leaves the last good version serving and shows
the error; the next good edit takes over; signals stop every process."""

from __future__ import annotations

import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.devserver.devserver import WAIT, DevServer, alive, app_source, children_of

pytestmark = pytest.mark.slow


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(app_source("one"))
    return tmp_path


@pytest.fixture
def reloading(app_dir: Path) -> Iterator[DevServer]:
    server = DevServer(app_dir, "--reload")
    try:
        server.wait_for_body("one")
        yield server
    finally:
        server.close()


def test_an_edit_is_served_after_a_reload_and_no_request_is_refused(
    app_dir: Path, reloading: DevServer
) -> None:
    answers: list[str] = []
    errors: list[BaseException] = []
    done = threading.Event()

    def keep_asking() -> None:  # one connection per request, all through the swap
        url = f"http://127.0.0.1:{reloading.port}/"
        while not done.is_set():
            try:
                with urllib.request.urlopen(url, timeout=WAIT) as resp:
                    answers.append(resp.read().decode())
            except OSError as exc:
                errors.append(exc)

    slow: list[tuple[int, str]] = []
    in_flight = threading.Thread(target=lambda: slow.append(reloading.get("/slow")))
    in_flight.start()
    time.sleep(0.3)  # the old version has the slow request in hand
    asker = threading.Thread(target=keep_asking)
    asker.start()
    try:
        (app_dir / "app.py").write_text(app_source("two"))
        deadline = time.monotonic() + WAIT
        while "two" not in answers[-1:] and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # and the old server is stopping meanwhile
    finally:
        done.set()
        asker.join()
        in_flight.join()
    assert slow == [(200, "slow one")]  # finished by the old version as it stopped
    assert errors == []
    # Both versions accept on the shared socket for the moment between the new one being
    # ready and the old one closing its listener; after that, only the new one answers.
    assert answers[0] == "one" and answers[-1] == "two"
    last_old = max(i for i, answer in enumerate(answers) if answer == "one")
    assert set(answers[last_old + 1 :]) == {"two"}
    assert "Reloaded after changes to app.py" in reloading.output()


def test_a_broken_edit_keeps_the_last_good_version_serving_until_the_fix(
    app_dir: Path, reloading: DevServer
) -> None:
    (app_dir / "app.py").write_text(app_source("two").replace("VERSION =", "VERSION = ("))
    out = reloading.wait_for_output("Still serving the last good version")
    assert "==== Reload failed after changes to app.py ====" in out
    assert f'File "{app_dir / "app.py"}", line 5' in out
    assert "SyntaxError" in out
    assert "runtime/devserver" not in out  # the traceback starts in the user's code
    assert reloading.get() == (200, "one")

    broken_factory = app_source("three").replace(
        "    app = web.Application()", '    raise ValueError("the database is down")'
    )
    (app_dir / "app.py").write_text(broken_factory)
    out = reloading.wait_for_output("Still serving the last good version", count=2)
    assert "in create_app" in out and "ValueError: the database is down" in out
    assert reloading.get() == (200, "one")

    (app_dir / "app.py").write_text(app_source("four"))
    reloading.wait_for_body("four")


def test_a_failed_start_serves_nothing_until_an_edit_loads(app_dir: Path) -> None:
    (app_dir / "app.py").write_text(app_source("one").replace("from runtime", "from nowhere"))
    server = DevServer(app_dir, "--reload")
    try:
        out = server.wait_for_output("Nothing is serving yet; fix the error and save")
        assert "==== Load failed ====" in out
        assert "ModuleNotFoundError: No module named 'nowhere'" in out
        (app_dir / "app.py").write_text(app_source("two"))
        server.wait_for_body("two")
    finally:
        server.close()


def test_only_code_in_the_watched_directories_counts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / ".venv").mkdir(parents=True)
    (src / "app.py").write_text(app_source("one"))
    server = DevServer(tmp_path, "--reload", "--reload-dir", "src", entry="src.app:create_app")
    try:
        server.wait_for_body("one")
        (tmp_path / "outside.py").write_text("x = 1\n")  # not under --reload-dir
        (src / "notes.txt").write_text("not code\n")
        (src / ".venv" / "site.py").write_text("x = 1\n")
        (src / "app.py").write_text(app_source("two"))
        server.wait_for_body("two")
        out = server.output()
        assert "Reloaded after changes to src/app.py: pid" in out, out
        for ignored in ("outside.py", "notes.txt", "site.py"):
            assert ignored not in out, out
    finally:
        server.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_the_supervisor_and_every_child(
    app_dir: Path, reloading: DevServer, sig: signal.Signals
) -> None:
    (app_dir / "app.py").write_text(app_source("two"))
    reloading.wait_for_body("two")
    reloading.wait_for_output("Reloaded after changes")
    deadline = time.monotonic() + WAIT
    while len(children := children_of(reloading.proc.pid)) != 1:  # the old one has gone
        assert time.monotonic() < deadline, children
        time.sleep(0.05)
    assert reloading.stop(sig) == 0
    assert not alive(children[0])
    assert reloading.output().rstrip().endswith("Stopped")


def test_no_child_outlives_a_killed_supervisor(reloading: DevServer) -> None:
    [child] = children_of(reloading.proc.pid)
    reloading.stop(signal.SIGKILL)
    deadline = time.monotonic() + WAIT
    while alive(child):  # its lifeline pipe reached end of file
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize("reload", [[], ["--reload"]], ids=["once", "reloading"])
def test_debug_shows_tracebacks_in_500_pages_and_runs_asyncio_in_debug_mode(
    app_dir: Path, reload: list[str]
) -> None:
    server = DevServer(app_dir, "--debug", *reload)
    try:
        status, page = server.get("/boom")
        assert status == 500
        assert "Traceback" in page and "RuntimeError: kaboom" in page
        assert server.get("/loop-debug") == (200, "True")
    finally:
        server.close()


@pytest.mark.parametrize("reload", [[], ["--reload"]], ids=["once", "reloading"])
def test_without_debug_500_pages_show_no_traceback(app_dir: Path, reload: list[str]) -> None:
    server = DevServer(app_dir, *reload)
    try:
        status, page = server.get("/boom")
        assert status == 500
        assert "Traceback" not in page and "kaboom" not in page
        assert server.get("/loop-debug") == (200, "False")
    finally:
        server.close()
