"""The peers' venv (``bench/.venv``): created, the peers of ``bench/requirements.txt`` and
Berth (editable) installed into it, reinstalled when either list changes; and the versions
it holds, for the results file.

Standard library only: this runs under whatever Python starts ``bench/run.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from bench.paths import REQUIREMENTS, ROOT
from bench.plan import BenchError
from bench.report import log

STAMP_NAME = ".bench-installed"  # in the venv: the fingerprint of what was installed
PACKAGES = (  # the versions the results file records
    "aiohttp",
    "uvloop",
    "gunicorn",
    "uvicorn",
    "httptools",
    "starlette",
    "granian",
    "websockets",
    "python-socketio",
    "python-engineio",
    "redis",
    "berth",
)


def _install_fingerprint() -> str:
    digest = hashlib.sha256()
    for path in (REQUIREMENTS, ROOT / "pyproject.toml"):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv(venv: Path, *, install: bool = True) -> Path:
    """Return the venv's python, creating the venv and installing the peers when needed.

    The peers are reinstalled when ``bench/requirements.txt`` or ``pyproject.toml`` changed
    since the last install. With ``install=False`` the venv is used as it is.
    """
    python = venv / "bin" / "python"
    if not install:
        if not python.exists():
            raise BenchError(f"{python} does not exist")
        return python
    stamp = venv / STAMP_NAME
    fingerprint = _install_fingerprint()
    if python.exists() and stamp.exists() and stamp.read_text().strip() == fingerprint:
        return python
    if not python.exists():
        log(f"creating {venv} ...")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    log(f"installing the peers into {venv} (-r {REQUIREMENTS.name}, -e .) ...")
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    cmd += ["-r", str(REQUIREMENTS), "-e", str(ROOT)]
    # Berth's compiled modules sit beside its sources, built by the project's own venv
    # (make extensions; `make bench` builds them first): installing here without compiling
    # keeps this install from rebuilding those shared files under a running test or bench.
    # Each server's mode is checked before it starts (bench/hot_path.py).
    env = {**os.environ, "BERTH_NO_EXTENSIONS": "1"}
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=900, env=env)
    if done.returncode != 0:
        raise BenchError(f"pip install failed:\n{done.stdout}{done.stderr}")
    stamp.write_text(fingerprint + "\n")
    return python


_VERSIONS = """\
import importlib.metadata as m, json, platform, sys
out = {}
for name in sys.argv[1:]:
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        out[name] = None
out["python"] = platform.python_version()
print(json.dumps(out))
"""


def package_versions(python: Path) -> dict[str, str | None]:
    """The versions of the peers, Berth and Python in the venv of ``python`` ({} on failure)."""
    done = subprocess.run(
        [str(python), "-c", _VERSIONS, *PACKAGES],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        return {}
    versions: dict[str, str | None] = json.loads(done.stdout)
    return versions
