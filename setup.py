"""The build: the hot-path modules that ``runtime/extensions.py`` lists, compiled by mypyc
into extension modules beside their sources (docs/compiled.md). Everything else is in
pyproject.toml.

``BERTH_NO_EXTENSIONS=1`` at build time builds pure Python only (no C compiler needed); at
run time it selects the sources over a build that exists.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def ext_modules() -> list[object]:
    if os.environ.get("BERTH_NO_EXTENSIONS", "") not in ("", "0"):
        return []
    from mypyc.build import mypycify  # noqa: PLC0415  (a build requirement, pyproject.toml)

    listed = runpy.run_path(str(HERE / "runtime" / "extensions.py"))
    sources = [name.replace(".", "/") + ".py" for name in listed["COMPILED"]]
    # One group: the modules call each other as C functions, through one shared library.
    return list(mypycify(sources, opt_level="3", debug_level="0", group_name=listed["GROUP"]))


setup(ext_modules=ext_modules())
