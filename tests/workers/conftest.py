from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.workers.harness import Launcher, launcher


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Launcher]:
    """Start gunicorn instances with ``gunicorn(*cli_args, target=..., worker=...)``; every
    one is killed (with its whole session) when the test ends."""
    with launcher(tmp_path) as launch:
        yield launch
