"""middlewares/_histogram_tally.py against the installed prometheus_client: a tally's flush
leaves a histogram exactly as plain ``observe()`` calls would, in single-process mode and in
multiprocess mode (a subprocess, since the mode is chosen when prometheus_client is first
imported), and the adapter falls back to ``observe()`` when the internals it reads are not
there."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Histogram

from middlewares._histogram_tally import tally_for

ROOT = Path(__file__).resolve().parents[2]
BUCKETS = (0.005, 0.01, 0.1, 1.0, 10.0)
# On the bounds, between them, below the first, past the last, zero, repeated.
VALUES = [0.005, 0.0051, 0.01, 0.2, 0.2, 3.0, 10.0, 11.0, 1e9, 0.0, 0.0001, 1.0, 0.05]


def samples(registry: CollectorRegistry, name: str) -> dict[tuple[str, str], float]:
    found = {}
    for family in registry.collect():
        for sample in family.samples:
            if sample.name.startswith(name) and not sample.name.endswith("_created"):
                suffix = sample.name.removeprefix(name)
                found[(suffix, sample.labels.get("le", ""))] = sample.value
    return found


def test_a_flushed_tally_equals_plain_observes() -> None:
    registry = CollectorRegistry()
    plain = Histogram("plain", "h", ("route",), buckets=BUCKETS, registry=registry)
    tallied = Histogram("tallied", "h", ("route",), buckets=BUCKETS, registry=registry)
    tally = tally_for(tallied.labels("/x"))
    assert type(tally).__name__ == "_BucketTally"  # the bulk path, not the fallback
    for value in VALUES[:5]:
        plain.labels("/x").observe(value)
        tally.add(value)
    tally.flush()
    for value in VALUES[5:]:
        plain.labels("/x").observe(value)
        tally.add(value)
    tally.flush()
    tally.flush()  # nothing pending: writes nothing more
    assert samples(registry, "tallied") == samples(registry, "plain")
    assert samples(registry, "plain")[("_count", "")] == len(VALUES)


def test_a_loop_pass_of_many_values_counts_each_in_its_bucket() -> None:
    """A flush of a busy loop pass: hundreds of values, in no order, on and between the
    bounds, some buckets skipped: every bucket's count is what observe() would give."""
    registry = CollectorRegistry()
    plain = Histogram("plain", "h", buckets=BUCKETS, registry=registry)
    tallied = Histogram("tallied", "h", buckets=BUCKETS, registry=registry)
    tally = tally_for(tallied)
    rng = random.Random(7)
    values = [rng.choice([0.0, 0.005, 0.2, 10.0, 1e6]) * rng.random() for _ in range(300)]
    values += [0.005, 0.01, 10.0, 0.0] * 5  # on the bounds
    rng.shuffle(values)
    for value in values:
        plain.observe(value)
        tally.add(value)
    tally.flush()
    got, want = samples(registry, "tallied"), samples(registry, "plain")
    assert got.pop(("_sum", "")) == pytest.approx(want.pop(("_sum", "")), rel=1e-12)
    assert got == want
    assert tally.values == []


class _Opaque:
    """A histogram child whose internals are hidden: only ``observe`` is public."""

    def __init__(self, child: Any) -> None:
        self.observe = child.observe


def test_without_the_internals_it_observes_each_value() -> None:
    registry = CollectorRegistry()
    plain = Histogram("plain", "h", buckets=BUCKETS, registry=registry)
    tallied = Histogram("tallied", "h", buckets=BUCKETS, registry=registry)
    tally = tally_for(_Opaque(tallied))
    assert type(tally).__name__ == "_ObserveTally"
    for value in VALUES:
        plain.observe(value)
        tally.add(value)
    assert samples(registry, "tallied")[("_count", "")] == 0  # nothing before the flush
    tally.flush()
    assert samples(registry, "tallied") == samples(registry, "plain")


MULTIPROCESS = """
import json, sys
import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.multiprocess import MultiProcessCollector
from middlewares._histogram_tally import tally_for

buckets, values = json.loads(sys.argv[1])
plain = Histogram("plain", "h", ("route",), buckets=buckets)
tallied = Histogram("tallied", "h", ("route",), buckets=buckets)
tally = tally_for(tallied.labels("/x"))
for value in values:
    plain.labels("/x").observe(value)
    tally.add(value)
tally.flush()
registry = CollectorRegistry()
MultiProcessCollector(registry)
out = {}
for family in registry.collect():
    for s in family.samples:
        out.setdefault(family.name, {})[s.name.split("_", 1)[-1] + s.labels.get("le", "")] = s.value
print(json.dumps([type(tally).__name__, out]))
"""


def test_multiprocess_files_are_the_same_as_with_plain_observes(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS, json.dumps([BUCKETS, VALUES])],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    kind, families = json.loads(done.stdout)
    assert kind == "_BucketTally"
    assert families["tallied"] == families["plain"]
    assert families["plain"]["count"] == len(VALUES)
    files = [path.name for path in tmp_path.iterdir()]
    assert len(files) == 1 and files[0].startswith("histogram_"), files
