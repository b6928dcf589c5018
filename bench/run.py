"""Benchmark entry point: ``make bench`` or ``python bench/run.py [--help]`` from the repo root.

Runs wrk on loopback against a Berth hello-world and aiohttp's, server pinned to one core and
wrk to the other, prints req/s and Berth's ratio to aiohttp, and writes
bench/results/<timestamp>.json. See docs/performance.md.
"""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.cli import main

    sys.exit(main())
