"""The targets table (bench/targets.py): issue 19's figures, the pure-Python fallback's, the
informational ones that ``--check`` does not fail on, and how they read in the report and
the chart."""

from __future__ import annotations

import pytest

from bench.cells import Cell
from bench.chart import INFO, MISSED, Bar
from bench.report import print_summary
from bench.results import CpuUsage, ThroughputResult
from bench.scenarios import SCENARIOS
from bench.servers import SERVERS
from bench.targets import COMPARISONS, Comparison, any_missed, evaluate, ratio_words

# (subject, baseline, scenario, metric) -> (target, higher is better, informational)
EXPECTED = {
    ("berth-gunicorn", "aiohttp-gunicorn", "plaintext", "requests_per_sec"): (2.0, True, False),
    ("berth-gunicorn", "granian-asgi", "plaintext", "requests_per_sec"): (1.3, True, False),
    ("berth-gunicorn", "ceiling", "plaintext", "requests_per_sec"): (0.55, True, False),
    ("berth-gunicorn", "aiohttp-gunicorn", "json", "requests_per_sec"): (1.8, True, False),
    ("berth-gunicorn", "aiohttp-gunicorn", "routes-200", "requests_per_sec"): (1.8, True, False),
    ("berth-gunicorn", "aiohttp-gunicorn", "post-echo-16k", "requests_per_sec"): (1.8, True, False),
    ("berth-gunicorn", "aiohttp-gunicorn", "compress-100k", "requests_per_sec"): (1.0, True, False),
    ("berth-gunicorn", "uvicorn-starlette", "json", "requests_per_sec"): (1.0, True, False),
    ("berth-gunicorn", "uvicorn-starlette", "routes-200", "requests_per_sec"): (1.0, True, False),
    ("berth-gunicorn", "uvicorn-starlette", "post-echo-16k", "requests_per_sec"): (
        1.0,
        True,
        False,
    ),
    ("berth-gunicorn", "aiohttp-gunicorn", "ws-echo", "messages_per_sec"): (1.5, True, False),
    ("berth-gunicorn", "websockets-server", "ws-echo", "messages_per_sec"): (1.0, True, False),
    ("berth", "aiohttp-run-app", "instructions", "instructions_per_request"): (0.5, False, False),
    # The pure-Python fallback: today's figures less 5% (instructions), today's lower bound.
    ("berth-pure", "aiohttp-run-app", "instructions", "instructions_per_request"): (
        0.69,
        False,
        False,
    ),
    ("berth-gunicorn-pure", "aiohttp-gunicorn", "plaintext", "requests_per_sec"): (
        1.3,
        True,
        False,
    ),
    # What compiling is worth.
    ("berth-gunicorn", "berth-gunicorn-pure", "plaintext", "requests_per_sec"): (1.0, True, True),
    ("berth", "berth-pure", "instructions", "instructions_per_request"): (1.0, False, True),
    # Issue 18: metrics may cost 15%; tracing's cost is stated, not a target.
    ("berth-gunicorn-metrics", "berth-gunicorn", "plaintext", "requests_per_sec"): (
        0.85,
        True,
        False,
    ),
    ("berth-gunicorn-tracing", "berth-gunicorn", "plaintext", "requests_per_sec"): (
        0.5,
        True,
        True,
    ),
}


def _key(comp: Comparison) -> tuple[str, str, str, str]:
    return (comp.subject, comp.baseline, comp.scenario, comp.metric)


def test_issue_19s_targets() -> None:
    table = {_key(c): (c.target, c.higher_is_better, c.informational) for c in COMPARISONS}
    for key, expected in EXPECTED.items():
        assert table.get(key) == expected, key
    # Only the compiled-over-pure comparisons and tracing's cost are informational.
    assert {_key(c) for c in COMPARISONS if c.informational} == {
        key for key, (_, _, info) in EXPECTED.items() if info
    }


def test_every_comparison_names_servers_and_scenarios_that_exist() -> None:
    servers = {s.name for s in SERVERS}
    scenarios = {s.name for s in SCENARIOS}
    for comp in COMPARISONS:
        assert {comp.subject, comp.baseline} <= servers, comp
        assert comp.scenario in scenarios, comp
    assert len({_key(c) for c in COMPARISONS}) == len(COMPARISONS)  # no duplicates


PLAINTEXT = next(s for s in SCENARIOS if s.name == "plaintext")


def _cell(server: str, rps: float) -> Cell:
    run = ThroughputResult(
        requests_per_sec=rps,
        latency_ms={"p50": 1.0, "p90": 1.0, "p99": 2.0, "p999": 3.0},
        requests=int(rps),
        duration_s=1.0,
        bytes_per_response=120.0,
        errors={},
        cpu=CpuUsage(server=1.0, client=0.4, server_cpus_busy=1.0),
    )
    return Cell(server=server, scenario=PLAINTEXT, runs=[run])


@pytest.fixture
def outcomes() -> list[Cell]:
    # The compiled hot path slower than the pure one: an informational miss.
    return [_cell("berth-gunicorn", 40_000), _cell("berth-gunicorn-pure", 50_000)]


def test_an_informational_miss_is_reported_as_such(
    outcomes: list[Cell], capsys: pytest.CaptureFixture[str]
) -> None:
    (outcome,) = evaluate(outcomes)
    assert outcome.comparison.informational and outcome.met is False
    assert outcome.to_json()["informational"] is True
    print_summary(outcomes, "aiohttp-gunicorn", [outcome], {"berth-gunicorn": "berth 0.1.0, x"})
    out = capsys.readouterr().out
    assert "berth-gunicorn / berth-gunicorn-pure on plaintext: 0.80x" in out
    assert "NOT met, informational" in out
    assert "berth-gunicorn            berth 0.1.0, x" in out
    bar = Bar.from_json(outcome.to_json())
    assert bar.colour == INFO and bar.verdict == "informational: not met"
    plain = Bar.from_json({**outcome.to_json(), "informational": False})
    assert plain.colour == MISSED


def test_check_fails_on_a_missed_target_not_on_an_informational_one(
    outcomes: list[Cell],
) -> None:
    assert not any_missed(evaluate(outcomes))
    outcomes.append(_cell("aiohttp-gunicorn", 40_000))
    # berth-gunicorn-pure at 1.25x aiohttp misses its 1.3x, a real target.
    assert any_missed(evaluate(outcomes))


def test_a_ratio_next_to_its_target_shows_which_side_it_is_on() -> None:
    assert ratio_words(0.502, 0.5) == "0.502x"  # "0.50x" would read as met
    assert ratio_words(0.5, 0.5) == "0.50x"
    assert ratio_words(1.563, 2.0) == "1.56x"
