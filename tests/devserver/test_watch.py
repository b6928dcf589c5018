"""Which changed files count as code for ``--reload``."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.devserver.watch import SourceFilter


@pytest.mark.parametrize(
    ("relative", "counts"),
    [
        ("app.py", True),
        ("pkg/sub/mod.py", True),
        ("notes.txt", False),
        ("app.pyc", False),
        (".venv/lib/site.py", False),
        ("venv/lib/site.py", False),
        ("pkg/__pycache__/mod.py", False),
        (".git/hooks/pre-commit.py", False),
        ("node_modules/x/build.py", False),
    ],
)
def test_python_files_count_outside_environments_and_caches(
    tmp_path: Path, relative: str, counts: bool
) -> None:
    keep = SourceFilter([str(tmp_path)])
    assert keep(None, str(tmp_path / relative)) is counts


def test_patterns_choose_the_files(tmp_path: Path) -> None:
    keep = SourceFilter([str(tmp_path)], include=["*.py", "*.html"], exclude=["test_*.py"])
    assert keep(None, str(tmp_path / "templates" / "index.html"))
    assert keep(None, str(tmp_path / "app.py"))
    assert not keep(None, str(tmp_path / "test_app.py"))


def test_only_paths_under_a_root_count_and_the_roots_may_be_anywhere(tmp_path: Path) -> None:
    project = tmp_path / "venv" / "project"  # a project kept under a directory named venv
    keep = SourceFilter([str(project), str(tmp_path / "lib")])
    assert keep(None, str(project / "app.py"))
    assert keep(None, str(tmp_path / "lib" / "shared.py"))
    assert not keep(None, str(tmp_path / "elsewhere.py"))
    assert not keep(None, str(tmp_path / "venv" / "other.py"))
