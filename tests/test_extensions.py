"""The compiled hot path and its pure-Python fallback (runtime/extensions.py,
docs/compiled.md): which one runs, and why."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from runtime import extensions
from runtime.server.streams import StreamReader

MODULES = ("pkg.a", "pkg.sub.b")
SUFFIX = ".cpython-311-x86_64-linux-gnu.so"


def _tree(tmp_path: Path, *, built: tuple[str, ...] = (), checkout: bool = True) -> Path:
    if checkout:
        (tmp_path / "setup.py").write_text("")
    for name in MODULES:
        source = tmp_path.joinpath(*name.split(".")).with_suffix(".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("x = 1\n")
        os.utime(source, (1_000, 1_000))
        if name in built:
            extension = source.with_name(source.stem + SUFFIX)
            extension.write_bytes(b"")
            os.utime(extension, (2_000, 2_000))
    return tmp_path


def _decide(root: Path, **environ: str) -> extensions.Selection:
    return extensions.decide(root, MODULES, environ, (SUFFIX,))


def test_every_module_built_and_fresh_runs_compiled(tmp_path: Path) -> None:
    selection = _decide(_tree(tmp_path, built=MODULES))
    assert selection == extensions.Selection(True, "mypyc, 2 modules")


@pytest.mark.parametrize("value", ["1", "yes", "true"])
def test_the_environment_variable_chooses_pure_python(tmp_path: Path, value: str) -> None:
    selection = _decide(_tree(tmp_path, built=MODULES), BERTH_NO_EXTENSIONS=value)
    assert not selection.compiled
    assert selection.reason == f"BERTH_NO_EXTENSIONS={value}"


@pytest.mark.parametrize("value", ["", "0"])
def test_an_empty_or_zero_variable_does_not(tmp_path: Path, value: str) -> None:
    assert _decide(_tree(tmp_path, built=MODULES), BERTH_NO_EXTENSIONS=value).compiled


def test_nothing_built_is_pure_python(tmp_path: Path) -> None:
    assert _decide(_tree(tmp_path)) == extensions.Selection(False, "not compiled")


def test_a_source_newer_than_its_build_runs_every_source(tmp_path: Path) -> None:
    root = _tree(tmp_path, built=MODULES)
    os.utime(root / "pkg" / "sub" / "b.py", (3_000, 3_000))  # edited after the build
    selection = _decide(root)
    assert not selection.compiled
    assert selection.stale == ("pkg.sub.b",)


def test_a_rebuild_that_left_the_shims_alone_is_fresh(tmp_path: Path) -> None:
    """A rebuild after an edit rewrites the group's library, where the code lives, and not
    the modules' own extensions (shims whose C did not change): it is not stale."""
    root = _tree(tmp_path, built=MODULES)
    os.utime(root / "pkg" / "sub" / "b.py", (3_000, 3_000))  # edited after the first build
    library = root / "pkg" / f"hot__mypyc{SUFFIX}"
    library.write_bytes(b"")
    os.utime(library, (4_000, 4_000))  # then rebuilt
    selection = extensions.decide(root, MODULES, {}, (SUFFIX,), group="pkg.hot")
    assert selection.compiled


def test_an_installed_package_is_not_judged_by_its_file_times(tmp_path: Path) -> None:
    """pip writes a wheel's files in any order: without setup.py beside the package (not a
    checkout), a .py newer than its .so says nothing."""
    root = _tree(tmp_path, built=MODULES, checkout=False)
    os.utime(root / "pkg" / "sub" / "b.py", (3_000, 3_000))
    assert _decide(root).compiled


def test_a_partial_build_is_not_mixed_with_sources(tmp_path: Path) -> None:
    selection = _decide(_tree(tmp_path, built=("pkg.a",)))
    assert not selection.compiled
    assert "missing pkg.sub.b" in selection.reason


def _env(*, pure: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != extensions.ENV}
    if pure:
        env[extensions.ENV] = "1"
    return env


def _run(*args: str, pure: bool) -> str:
    done = subprocess.run(
        [sys.executable, *args], env=_env(pure=pure), capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _python(code: str, *, pure: bool) -> str:
    return _run("-c", code, pure=pure)


_FILES = (
    "import importlib, runtime.extensions as e;"
    "print(*(importlib.import_module(n).__file__ for n in e.COMPILED))"
)


def test_the_install_is_compiled_and_says_so() -> None:
    """CI installs Berth with pip, which compiles the hot path: every listed module is an
    extension module, and ``python -m runtime --version`` says so."""
    files = _python(_FILES, pure=False).split()
    assert len(files) == len(extensions.COMPILED)
    assert all(not f.endswith(".py") for f in files), files
    version = _run("-m", "runtime", "--version", pure=False)
    assert f"hot path compiled (mypyc, {len(extensions.COMPILED)} modules)" in version


def test_the_variable_runs_every_source_and_says_so() -> None:
    files = _python(_FILES, pure=True).split()
    assert all(f.endswith(".py") for f in files), files
    version = _run("-m", "runtime", "--version", pure=True)
    assert "hot path pure Python (BERTH_NO_EXTENSIONS=1)" in version


def test_this_run_is_in_the_mode_its_environment_asks_for() -> None:
    """make pytest runs compiled, make pytest-pure pure Python: each run is what it says."""
    wanted = os.environ.get(extensions.ENV, "") in ("", "0")
    assert extensions.compiled() is wanted
    protocol = importlib.import_module("runtime.server.protocol")
    assert protocol.__file__ is not None
    assert protocol.__file__.endswith(".py") is not wanted


async def test_python_code_may_subclass_the_compiled_body_stream() -> None:
    class Counting(StreamReader):
        fed = 0

        def feed_data(self, data: bytes) -> None:
            Counting.fed += len(data)
            super().feed_data(data)

    stream = Counting()
    stream.feed_data(b"abc")
    stream.feed_eof()
    assert await stream.read() == b"abc"
    assert Counting.fed == 3


def test_the_compiled_modules_are_checked_for_unreachable_code() -> None:
    """mypyc compiles away what mypy deems unreachable: pyproject.toml has mypy warn about
    it in exactly the compiled modules."""
    config = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    overrides = config["tool"]["mypy"]["overrides"]
    checked = [o["module"] for o in overrides if o.get("warn_unreachable")]
    assert checked == [list(extensions.COMPILED)]
