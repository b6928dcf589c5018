"""A cell of the results: one server on one scenario, its measured runs (or why there are
none), their medians, and its entry in the results JSON."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.results import Result
from bench.scenarios import FanoutScenario, LatencyScenario, Scenario, ThroughputScenario

LATENCY_PERCENTILES = ("p50", "p90", "p99", "p999")


@dataclass
class Cell:
    """One server on one scenario; ``runs`` hold the scenario's result type."""

    server: str
    scenario: Scenario
    runs: list[Result] = field(default_factory=list)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.runs)

    @property
    def has_latency(self) -> bool:
        """Whether the runs measure latency percentiles (wrk, rate_load at a fixed rate, and
        fanout_load's fixed-rate phase)."""
        return isinstance(self.scenario, ThroughputScenario | LatencyScenario | FanoutScenario)

    def values(self, metric: str) -> list[float] | None:
        """``metric`` of every run, None when a run does not measure it (or there are none)."""
        values = [run.figure(metric) for run in self.runs]
        if not values or any(value is None for value in values):
            return None
        return [value for value in values if value is not None]

    def median(self, metric: str) -> float | None:
        values = self.values(metric)
        return statistics.median(values) if values else None

    def to_json(self) -> dict[str, Any]:
        scenario = self.scenario
        return {
            "scenario": scenario.name,
            "server": self.server,
            "kind": scenario.kind,
            "unit": scenario.unit,  # of "median"
            "metric": scenario.metric,
            "median": self.median(scenario.metric),
            "median_latency_ms": {key: self.median(key) for key in LATENCY_PERCENTILES}
            if self.runs and self.has_latency
            else None,
            "error": self.error,
            "warnings": self.warnings,
            "runs": [asdict(run) for run in self.runs],
        }
