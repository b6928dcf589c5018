"""Benchmark entry point: ``make bench`` or ``python bench/run.py [--help]`` from the repo root.

Measures Berth and its peers on loopback (wrk or our own load clients), servers pinned to one
core and the load to the other, prints a line per run and a table of medians with Berth's
ratios, and writes bench/results/<timestamp>.json. The command line is ``bench/cli.py``; the
harness's layout is in ``bench/__init__.py`` and docs/performance.md.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.cli import main

    sys.exit(main())
