"""deploy/grafana/berth-http.json, the dashboard for middlewares.metrics: importable as it is
(Grafana's dashboard JSON, a Prometheus data source variable), and every query names only
series and labels the middleware and track_cluster export, so a renamed metric cannot leave
a blank panel."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from middlewares.metrics import ClusterMetrics, HttpMetrics

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "berth-http.json"
SERIES = re.compile(r"\b((?:http_server|berth_cluster)_[a-z_]+)\b")
BY = re.compile(r"\bby \(([^)]*)\)")
SELECTOR = re.compile(r"((?:http_server|berth_cluster)_[a-z_]+)\{([^}]*)\}")


def exported() -> dict[str, set[str]]:
    """Every series name the middleware and track_cluster export, with the labels it
    carries (read from the samples of one observation of each metric)."""
    registry = CollectorRegistry()
    metrics = HttpMetrics(registry=registry)
    labels = ("GET", "/x", "200")
    metrics.duration.labels(*labels).observe(0.1)
    metrics.request_size.labels(*labels).observe(1)
    metrics.response_size.labels(*labels).observe(1)
    metrics.active.labels("GET").inc()
    metrics.websockets.labels("/ws").inc()
    metrics.websocket_messages.labels("/ws", "sent").inc()
    cluster = ClusterMetrics(registry=registry)
    for counter in cluster.counters.values():
        counter.inc()
    cluster.connected.set(1)
    series: dict[str, set[str]] = {}
    for family in registry.collect():
        for sample in family.samples:
            # Prometheus adds job and instance when it scrapes.
            series.setdefault(sample.name, {"job", "instance"}).update(sample.labels)
    return series


def targets(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def test_every_query_names_exported_series_and_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    series = exported()
    queries = targets(dashboard) + [
        var["query"]["query"]
        for var in dashboard["templating"]["list"]
        if isinstance(var.get("query"), dict)
    ]
    assert queries
    for expr in queries:
        names = SERIES.findall(expr)
        assert names, expr
        for name in names:
            assert name in series, f"{name} is not exported: {expr}"
        for name, matchers in SELECTOR.findall(expr):
            for matcher in filter(None, matchers.split(",")):
                label = re.split(r"=~|!=|!~|=", matcher)[0].strip()
                assert label in series[name], f"{name} has no label {label!r}: {expr}"
        for group in BY.findall(expr):
            for label in filter(None, (part.strip() for part in group.split(","))):
                assert any(label in series[name] for name in names), (label, expr)
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")


def test_it_imports_as_it_is() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24  # Grafana's grid is 24 columns wide
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"panel {panel['title']!r} overlaps another"
                cells.add((x, y))
        assert [t["refId"] for t in panel["targets"]] == [
            chr(65 + i) for i in range(len(panel["targets"]))
        ]


def test_the_views_the_issue_asks_for_are_there() -> None:
    titles = " | ".join(panel["title"] for panel in json.loads(DASHBOARD.read_text())["panels"])
    views = ("Requests per second", "Error rate", "Latency", "Active requests", "WebSockets")
    cluster = ("WebSocket messages", "gaps", "reconnects", "drops", "1013", "connected")
    for view in (*views, *cluster):
        assert view.lower() in titles.lower(), view
