"""Where the benchmark's files are: the repository root, ``bench/``, its results and its venv."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"  # <stamp>.json and <stamp>-logs/ of every run
DEFAULT_VENV = BENCH_DIR / ".venv"  # the peers' venv (git-ignored)
REQUIREMENTS = BENCH_DIR / "requirements.txt"  # the peers, pinned
DOCS_CHART = ROOT / "docs" / "img" / "bench-latest.svg"  # a full run's chart, for the docs


def shown(path: Path) -> Path:
    """``path`` relative to the repository root when it is inside it, for messages."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
