"""The extensions' sdists and the venv their suites run in, made once per machine.

Everything lives under ``.cache/compat-sdists/`` (gitignored; ``BERTH_COMPAT_CACHE``
moves it, e.g. to a CI cache):

- ``sdists/``: the pinned sdists, fetched by pip with their hashes checked;
- ``src/<name>-<version>/``: each one unpacked, its tests run from there;
- ``venv-<key>/``: the suites' venv, keyed by the requirements, Berth's own dependencies
  and the interpreter, so changing any of them builds a new one.

A dedicated venv rather than the project's: pytest-aiohttp and pytest-asyncio would
otherwise sit next to Berth's own pytest plugin in every run of our suite and take over the
project's ``async def`` tests (asyncio_mode), and the suites pin versions (PyJWT) the
project has no reason to hold back. Berth itself is not installed there: the Berth runs put
a directory holding only ``runtime`` on ``PYTHONPATH`` (``run.py``), so its ``pytest11``
entry point does not load into the baseline runs.

Each step finishes into a temporary name renamed into place, under a file lock, so an
interrupted or concurrent run never leaves a half-made cache behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .pins import REQUIREMENTS, SUITES, Suite

ROOT = Path(__file__).resolve().parents[3]
CACHE = Path(os.environ.get("BERTH_COMPAT_CACHE", ROOT / ".cache" / "compat-sdists"))

# pip gets this long for all the downloads or the venv's installs together.
_PIP_TIMEOUT = 600


@dataclass(frozen=True)
class Prepared:
    """What the runs need: the venv's interpreter and each suite's unpacked source."""

    python: Path
    sources: dict[str, Path]
    empty_config: Path


def berth_requirements() -> list[str]:
    """Berth's own runtime dependencies (not its extras), from pyproject.toml: the Berth
    runs import ``runtime`` from the checkout inside the suites' venv."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return sorted(project["dependencies"])


def _venv_key(requirements: list[str]) -> str:
    digest = hashlib.sha256()
    digest.update(sys.version.encode())
    for line in requirements:
        digest.update(b"\n" + line.encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pip(python: str | Path, *args: str) -> None:
    """Run pip; its output is shown only when it fails, with the command."""
    command = [str(python), "-m", "pip", "--disable-pip-version-check", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=_PIP_TIMEOUT)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )


def _download(cache: Path, wanted: list[Suite]) -> None:
    """Fetch the missing sdists with pip, each checked against its pinned SHA-256."""
    sdists = cache / "sdists"
    sdists.mkdir(exist_ok=True)
    requirements = cache / "sdists.txt"
    requirements.write_text(
        "".join(f"{suite.pin} --hash=sha256:{suite.sha256}\n" for suite in wanted)
    )
    _pip(
        sys.executable,
        "download",
        "--quiet",
        "--no-deps",
        "--require-hashes",
        "--no-binary",
        ",".join(suite.name for suite in wanted),
        "--dest",
        str(sdists),
        "-r",
        str(requirements),
    )


def _verified(path: Path, suite: Suite) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == suite.sha256


def _unpack(archive: Path, destination: Path) -> None:
    """Unpack an sdist's single top-level directory to ``destination``."""
    staging = destination.with_name(destination.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):  # Python 3.11.4+: no links or paths outside
            tar.extractall(staging, filter="data")
        else:  # the archive's hash is pinned, so its contents are known
            tar.extractall(staging)
    (top,) = staging.iterdir()
    top.rename(destination)
    staging.rmdir()


def _build_venv(destination: Path, requirements: list[str]) -> None:
    staging = destination.with_name(destination.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(staging)], check=True, timeout=300)
    listing = staging / "requirements.txt"
    listing.write_text("".join(line + "\n" for line in requirements))
    _pip(staging / "bin" / "python", "install", "--quiet", "-r", str(listing))
    # A venv moves cleanly when used as ``bin/python -m ...``: its prefix is found from
    # pyvenv.cfg next to the interpreter, and nothing here runs the console scripts.
    staging.rename(destination)


def prepare(cache: Path = CACHE) -> Prepared:
    """Make sure every pinned sdist is downloaded and unpacked and the venv built."""
    with _locked(cache):
        missing = [s for s in SUITES if not _verified(cache / "sdists" / s.sdist, s)]
        if missing:
            _download(cache, missing)
        sources = {}
        for suite in SUITES:
            source = cache / "src" / f"{suite.name}-{suite.version}"
            if not source.is_dir():
                _unpack(cache / "sdists" / suite.sdist, source)
            sources[suite.name] = source
        requirements = [*REQUIREMENTS, *berth_requirements()]
        venv = cache / f"venv-{_venv_key(requirements)}"
        if not venv.is_dir():
            _build_venv(venv, requirements)
        empty_config = cache / "empty-pytest.ini"
        empty_config.write_text("[pytest]\n")
    return Prepared(venv / "bin" / "python", sources, empty_config)
