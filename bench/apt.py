"""A tool the benchmark needs from Debian's packages (wrk, redis-server): found on PATH, or
installed with apt-get when we are root.

Standard library only: this runs under whatever Python starts ``bench/run.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from bench.plan import BenchError
from bench.report import log


def ensure_installed(binary: str, package: str) -> str:
    """``binary``'s path, installing ``package`` first when it is missing; BenchError when
    that cannot be done."""
    found = shutil.which(binary)
    if found:
        return found
    if not shutil.which("apt-get"):
        raise BenchError(f"{binary} is not installed and there is no apt-get to install it with")
    if os.geteuid() != 0:
        raise BenchError(
            f"{binary} is not installed; install it with: sudo apt-get install {package}"
        )
    log(f"{binary} not found: installing it (apt-get install {package}) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", package]):
        done = subprocess.run(
            cmd, check=False, capture_output=True, text=True, env=env, timeout=600
        )
        if done.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed:\n{done.stdout}{done.stderr}")
    found = shutil.which(binary)
    if not found:
        raise BenchError(f"apt-get installed {package} but {binary} is not on PATH")
    return found
