"""aiohttp's extensions' own test suites pass on Berth wherever they pass on aiohttp.

Issue 16's proof. The pinned sdists (``suites/pins.py``) are downloaded once per machine
into ``.cache/compat-sdists/`` with a venv for their tests (``suites/cache.py``); each
suite then runs twice, on aiohttp and on Berth in compatibility mode (``suites/run.py``),
all runs in parallel subprocesses. One test per extension holds its two runs against each
other; the figures land in ``.cache/compat-sdists/reports/`` and docs/compat.md ("The
extensions' own tests").
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .suites import cache
from .suites.pins import SUITES, Suite
from .suites.run import Comparison, Mode, SuiteRun, berth_path, describe, run_suite

# The first test waits for the downloads and the venv on a fresh machine (a minute or
# two), then for every run; the later ones find their results ready.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Most of a run is waiting on loopback and on the suites' sleeps, so a few more runs than
# cores keep both busy.
_PARALLEL_RUNS = 4


@pytest.fixture(scope="module")
def comparisons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Comparison]:
    """Every suite run on aiohttp and on Berth, four runs at a time, compared."""
    prepared = cache.prepare()
    workdir = tmp_path_factory.mktemp("extension-suites")
    berth_path(workdir / "berth-path")
    jobs: list[tuple[Suite, Mode]] = [(s, m) for s in SUITES for m in ("aiohttp", "berth")]
    with ThreadPoolExecutor(_PARALLEL_RUNS) as pool:
        runs = list(pool.map(lambda job: run_suite(prepared, job[0], job[1], workdir), jobs))
    by_job: dict[tuple[str, Mode], SuiteRun] = {
        (suite.name, mode): run for (suite, mode), run in zip(jobs, runs, strict=True)
    }
    found = {
        s.name: Comparison.of(s, by_job[s.name, "aiohttp"], by_job[s.name, "berth"]) for s in SUITES
    }
    reports = cache.CACHE / "reports"
    reports.mkdir(exist_ok=True)
    for name, comparison in found.items():
        text = json.dumps(comparison.summary(), indent=2, sort_keys=True)
        (reports / f"{name}.json").write_text(text + "\n")
    return found


@pytest.mark.parametrize("name", [suite.name for suite in SUITES])
def test_passes_on_berth_where_it_passes_on_aiohttp(
    name: str, comparisons: dict[str, Comparison]
) -> None:
    comparison = comparisons[name]
    problems = comparison.problems()
    assert not problems, describe(comparison.summary()) + "\n" + "\n".join(problems)


def test_reports_are_where_the_docs_say(comparisons: dict[str, Comparison]) -> None:
    """docs/compat.md points readers at the per-extension reports."""
    reports = Path(cache.CACHE) / "reports"
    assert sorted(p.stem for p in reports.glob("*.json")) == sorted(s.name for s in SUITES)
