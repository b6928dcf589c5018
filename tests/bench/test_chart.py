"""The chart of a run's comparisons (issue 19): valid SVG, a group per scenario, a bar and a
target tick per comparison, met and missed told apart, and ``bench/run.py --chart``."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from bench.chart import MET, MISSED, REASON_CHARS, UNKNOWN, Bar, render
from bench.cli import chart_paths, main
from bench.paths import DOCS_CHART

SVG = "{http://www.w3.org/2000/svg}"


def _comparison(
    subject: str,
    baseline: str,
    scenario: str,
    target: float,
    ratio: float | None,
    *,
    metric: str = "requests_per_sec",
    higher_is_better: bool = True,
    error: str | None = None,
) -> dict[str, Any]:
    met = None if ratio is None else (ratio >= target if higher_is_better else ratio <= target)
    return {
        "subject": subject,
        "baseline": baseline,
        "scenario": scenario,
        "target": target,
        "metric": metric,
        "higher_is_better": higher_is_better,
        "ratio": ratio,
        "met": met,
        "error": error,
    }


RESULTS: dict[str, Any] = {
    "started": "2026-12-07T13:27:03+00:00",
    "git": {"commit": "51569f8000000000000000000000000000000000", "dirty": False},
    "params": {"runs": 3, "duration_s": 10},
    "comparisons": [
        _comparison("berth-gunicorn", "aiohttp-gunicorn", "plaintext", 2.0, 1.3),
        _comparison("berth-gunicorn", "granian-asgi", "plaintext", 1.0, 1.14),
        _comparison("berth-gunicorn", "ceiling", "plaintext", 0.35, 0.41),
        _comparison(
            "berth-gunicorn",
            "aiohttp-gunicorn",
            "memory-keepalive",
            1.0,
            0.49,
            metric="kib_per_conn",
            higher_is_better=False,
        ),
        _comparison(
            "berth",
            "aiohttp-run-app",
            "instructions",
            0.5,
            0.654,
            metric="instructions_per_request",
            higher_is_better=False,
        ),
        _comparison(
            "berth-cluster", "socketio-cluster", "fanout", 1.0, None, error="server died <&>"
        ),
        _comparison("berth-cluster", "socketio-cluster", "fanout", 1.0, 7.58),
    ],
}


@pytest.fixture
def svg() -> ET.Element:
    return ET.fromstring(render(RESULTS, "bench/results/x.json").encode())


def _texts(root: ET.Element) -> list[str]:
    return ["".join(element.itertext()) for element in root.iter(f"{SVG}text")]


def test_the_chart_is_an_svg_document_with_its_title(svg: ET.Element) -> None:
    assert svg.tag == f"{SVG}svg"
    assert float(svg.attrib["width"]) > 600 and float(svg.attrib["height"]) > 200
    texts = _texts(svg)
    assert any(
        "bench/results/x.json" in text and "commit 51569f8" in text and "3 x 10 s per cell" in text
        for text in texts
    )


def test_one_group_per_scenario_in_the_runs_order(svg: ET.Element) -> None:
    texts = _texts(svg)
    headings = [
        t for t in texts if t in {"plaintext", "memory-keepalive", "instructions", "fanout"}
    ]
    assert headings == ["plaintext", "memory-keepalive", "instructions", "fanout"]


def test_one_bar_and_one_target_tick_per_comparison(svg: ET.Element) -> None:
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    ticks = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "target"]
    assert len(bars) == len(ticks) == len(RESULTS["comparisons"])
    # Met green, missed red, no ratio grey, in the comparisons' order.
    assert [bar.get("fill") for bar in bars] == [
        MISSED,
        MET,
        MET,
        MET,
        MISSED,
        UNKNOWN,
        MET,
    ]


def test_bars_grow_from_parity_on_a_log_scale(svg: ET.Element) -> None:
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    ticks = [line for line in svg.iter(f"{SVG}line") if line.get("class") == "target"]
    parity = float(ticks[1].attrib["x1"])  # granian's target is 1.0x
    # 1.3x starts at parity and goes right; 0.49x ends at parity (it goes left).
    assert float(bars[0].attrib["x"]) == pytest.approx(parity, abs=0.1)
    left_end = float(bars[3].attrib["x"]) + float(bars[3].attrib["width"])
    assert left_end == pytest.approx(parity, abs=0.1)
    # Log scale: 2x is as far right of parity as 0.5x is left of it.
    two = float(ticks[0].attrib["x1"]) - parity
    half = parity - float(ticks[4].attrib["x1"])
    assert two == pytest.approx(half, abs=0.2)


def test_each_row_says_its_figures_target_and_verdict(svg: ET.Element) -> None:
    texts = _texts(svg)
    assert "1.30x \u00b7 target \u2265 2.00x \u00b7 NOT met" in texts
    assert "0.65x \u00b7 target \u2264 0.50x \u00b7 NOT met" in texts
    assert "7.58x \u00b7 target \u2265 1.00x \u00b7 met" in texts
    assert "not measured \u00b7 target \u2265 1.00x \u00b7 server died <&>" in texts
    assert "berth / aiohttp-run-app \u00b7 instructions/req (lower is better)" in texts


def test_a_run_without_comparisons_still_draws(tmp_path: Path) -> None:
    root = ET.fromstring(render({"comparisons": []}).encode())
    assert "no comparisons in this run" in _texts(root)


def test_chart_redraws_an_existing_results_file(tmp_path: Path) -> None:
    results = tmp_path / "20261207T000000Z.json"
    results.write_text(json.dumps(RESULTS))
    assert main(["--chart", str(results)]) == 0
    drawn = ET.parse(tmp_path / "20261207T000000Z.svg").getroot()
    assert len([r for r in drawn.iter(f"{SVG}rect") if r.get("class") == "bar"]) == 7
    out = tmp_path / "elsewhere" / "chart.svg"
    assert main(["--chart", str(results), "--chart-out", str(out)]) == 0
    assert out.read_text().startswith("<?xml")
    assert main(["--chart", str(tmp_path / "missing.json")]) == 2


def test_a_long_reason_is_cut_short_on_the_row() -> None:
    long = _comparison("a", "b", "s", 1.0, None, error="x" * 200)
    verdict = Bar.from_json(long).verdict
    assert len(verdict) == REASON_CHARS and verdict.endswith("\u2026")


def test_only_a_full_run_replaces_the_docs_chart() -> None:
    results = Path("bench/results/20261207T000000Z.json")
    mine = results.with_suffix(".svg")
    assert chart_paths(results, only="", interrupted=False) == [mine, DOCS_CHART]
    assert chart_paths(results, only="plaintext", interrupted=False) == [mine]
    assert chart_paths(results, only="", interrupted=True) == [mine]
    assert DOCS_CHART.relative_to(DOCS_CHART.parents[2]) == Path("docs/img/bench-latest.svg")
