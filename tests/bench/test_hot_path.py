"""The pure-Python fallback in the bench (issue 19): the ``*-pure`` servers' environment and
selection, and the check that a Berth server runs the hot path its name promises, with a fake
``python -m runtime --version`` that says the other one."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

from bench.cells import Cell
from bench.cli import select
from bench.hot_path import HotPathError, mismatch, mode_line, running, verify
from bench.measure import run_scenario
from bench.plan import Plan
from bench.processes import server_env, start_all
from bench.scenarios import SCENARIOS
from bench.servers import (
    INSTRUCTION_SERVERS,
    NO_EXTENSIONS,
    PURE_SCENARIOS,
    SERVERS,
    WEBSOCKET_SERVERS,
)
from tests.bench.settings import tiny_load

BY_NAME = {server.name: server for server in SERVERS}
COMPILED_LINE = "berth 0.1.0, hot path compiled (mypyc, 13 modules)"
STALE_LINE = "berth 0.1.0, hot path pure Python (compiled modules older than their source)"
PURE_LINE = "berth 0.1.0, hot path pure Python (BERTH_NO_EXTENSIONS=1)"


def fake_python(tmp_path: Path, line: str) -> Path:
    """An interpreter that answers ``-m runtime --version`` with ``line`` and fails on
    anything else."""
    path = tmp_path / "python"
    path.write_text(
        '#!/bin/sh\n[ "$*" = "-m runtime --version" ] || exit 9\n'
        f"echo '{line}'\necho 'a warning on stderr' >&2\n"
    )
    path.chmod(0o755)
    return path


# -- the servers -------------------------------------------------------------------------------


def test_every_berth_server_promises_a_hot_path_and_no_other_server_does() -> None:
    for server in SERVERS:
        expected = None
        if server.name.startswith("berth"):
            expected = "pure" if server.name.endswith("-pure") else "compiled"
        assert server.hot_path == expected, server.name


def test_the_pure_servers_run_the_same_command_with_no_extensions_set() -> None:
    for pure, compiled in (("berth-pure", "berth"), ("berth-gunicorn-pure", "berth-gunicorn")):
        assert BY_NAME[pure].argv == BY_NAME[compiled].argv
        assert dict(BY_NAME[pure].env) == {NO_EXTENSIONS: "1"}
        assert NO_EXTENSIONS not in BY_NAME[compiled].env
    assert "berth-pure" in INSTRUCTION_SERVERS and "berth-gunicorn-pure" in WEBSOCKET_SERVERS
    assert BY_NAME["berth-pure"].scenarios == frozenset({"instructions"})


def test_the_shells_no_extensions_reaches_no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    # A run started with BERTH_NO_EXTENSIONS=1 still runs berth-gunicorn compiled: the
    # server's name decides, and the check would refuse it otherwise.
    monkeypatch.setenv(NO_EXTENSIONS, "1")
    assert NO_EXTENSIONS not in server_env()


def test_by_default_the_pure_gunicorn_server_runs_plaintext_only() -> None:
    servers, _ = select("", include_all=False)
    (pure,) = [s for s in servers if s.name == "berth-gunicorn-pure"]
    assert pure.scenarios == frozenset({"plaintext"})
    assert "berth-pure" in {s.name for s in servers}
    # --only json keeps the default servers: no pure one (it runs plaintext only by default).
    servers, _ = select("json", include_all=False)
    assert "berth-gunicorn-pure" not in {s.name for s in servers}


@pytest.mark.parametrize("only", ["json,berth-gunicorn-pure,aiohttp-gunicorn", "berth-gunicorn*"])
def test_named_or_with_all_it_runs_every_throughput_scenario_and_ws_echo(only: str) -> None:
    for servers, _ in (select(only, include_all=False), select("", include_all=True)):
        (pure,) = [s for s in servers if s.name == "berth-gunicorn-pure"]
        assert pure.scenarios == PURE_SCENARIOS
    assert {s.name for s in SCENARIOS} >= PURE_SCENARIOS


# -- the check ---------------------------------------------------------------------------------


def test_the_words_of_each_mode() -> None:
    assert running(COMPILED_LINE) == "compiled"
    assert running(STALE_LINE) == running(PURE_LINE) == "pure"
    assert running("berth 0.1.0") is None
    assert mismatch(BY_NAME["berth-gunicorn"], COMPILED_LINE) is None
    assert mismatch(BY_NAME["berth-gunicorn-pure"], PURE_LINE) is None
    assert mismatch(BY_NAME["aiohttp-gunicorn"], STALE_LINE) is None  # not Berth


def test_a_stale_build_fails_a_compiled_server_with_a_readable_message(tmp_path: Path) -> None:
    python = fake_python(tmp_path, STALE_LINE)
    with pytest.raises(HotPathError) as caught:
        verify(BY_NAME["berth-gunicorn"], python, {})
    message = str(caught.value)
    assert message.startswith("berth-gunicorn must run Berth's compiled hot path (mypyc)")
    assert repr(STALE_LINE) in message and "make extensions" in message


def test_a_compiled_answer_fails_a_pure_server(tmp_path: Path) -> None:
    with pytest.raises(HotPathError, match="berth-pure must run Berth's pure-Python hot path"):
        verify(BY_NAME["berth-pure"], fake_python(tmp_path, COMPILED_LINE), {})


def test_the_right_answer_is_the_line_recorded_and_others_are_not_asked(tmp_path: Path) -> None:
    python = fake_python(tmp_path, PURE_LINE)
    assert verify(BY_NAME["berth-gunicorn-pure"], python, {}) == PURE_LINE
    assert verify(BY_NAME["aiohttp-gunicorn"], tmp_path / "absent", {}) is None


def test_a_berth_that_does_not_answer_fails_too(tmp_path: Path) -> None:
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: no runtime' >&2\nexit 1\n")
    broken.chmod(0o755)
    with pytest.raises(HotPathError, match="exit code 1.*ModuleNotFoundError"):
        mode_line(broken, {})


def test_the_real_runtime_says_pure_when_asked_to() -> None:
    # The words parsed above are the ones `python -m runtime --version` prints.
    env = {**server_env(), NO_EXTENSIONS: "1"}
    assert running(mode_line(Path(sys.executable), env)) == "pure"


def _plan(tmp_path: Path, python: Path) -> Plan:
    load = tiny_load()
    return Plan(
        load=load,
        wrk="wrk",
        python=python,
        server_cpus=None,
        client_cpus=None,
        log_dir=tmp_path / "logs",
        script_dir=tmp_path,
    )


def test_a_server_in_the_wrong_mode_is_never_started_and_its_cells_fail(tmp_path: Path) -> None:
    python = fake_python(tmp_path, STALE_LINE)
    servers = [BY_NAME["berth-gunicorn"]]
    with contextlib.ExitStack() as stack:
        processes = start_all(
            servers,
            python=python,
            cpus=None,
            log_dir=tmp_path / "logs",
            ready_timeout=1.0,
            stack=stack,
        )
    process = processes["berth-gunicorn"]
    assert process.proc is None and process.hot_path is None
    assert process.error is not None and "compiled hot path" in process.error
    plaintext = next(s for s in SCENARIOS if s.name == "plaintext")
    cells: list[Cell] = []
    run_scenario(plaintext, ["berth-gunicorn"], processes, _plan(tmp_path, python), cells)
    (cell,) = cells
    assert not cell.ok and cell.error == process.error and not cell.runs
