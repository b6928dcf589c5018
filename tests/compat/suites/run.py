"""Run one extension's suite on aiohttp or on Berth, and compare the two runs.

Each run is ``python -m pytest`` in the suites' venv, in the unpacked sdist, with the
suite's own configuration file named (``-c``, so pytest never climbs to Berth's
pyproject.toml) and a junit report with each test's captured log, read back per test. The
comparison's rule: every test that passes on aiohttp passes on Berth, with no handler
failing on Berth where none failed on aiohttp, except the suite's explicit exclusions; a
test that does not pass on aiohttp itself is left out, with what failed recorded.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .cache import ROOT, Prepared
from .pins import COMMON_OPTIONS, Suite

Mode = Literal["aiohttp", "berth"]

# One run of one suite takes seconds; this only stops a hung one.
RUN_TIMEOUT = 300

# Only Berth's package and the plugin: the checkout's own ``tests`` package would clash
# with the suites' ``tests`` packages.
_BERTH_ONLY_PATHS = {
    "runtime": ROOT / "runtime",
    "berth_compat.py": Path(__file__).with_name("berth_compat.py"),
}
_BERTH_OPTIONS = ("-p", "berth_compat", "-p", "no:aiohttp", "-p", "no:asyncio")
# Settings of the calling process that must not leak into the suites' runs.
_CLEARED_ENVIRONMENT = ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS", "VIRTUAL_ENV")


@dataclass(frozen=True)
class Outcome:
    """One test's result in one run: passed, failed, error or skipped, and why.

    ``handler_errors`` holds the exception line of each "Error handling request" the
    server logged during the test: a handler that raises inside a test often
    leaves the client side passing, so a pass on Berth is only as good as aiohttp's when
    its handlers failed no more there.
    """

    status: str
    message: str = ""
    handler_errors: tuple[str, ...] = ()


@dataclass
class SuiteRun:
    """One run of a suite: each test's outcome by id (junit's ``classname::name``)."""

    mode: Mode
    outcomes: dict[str, Outcome]
    returncode: int | None
    output: str
    seconds: float

    def passed(self) -> set[str]:
        return {name for name, outcome in self.outcomes.items() if outcome.status == "passed"}


def berth_path(directory: Path) -> Path:
    """A directory for ``PYTHONPATH`` holding only Berth's package and the plugin."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, target in _BERTH_ONLY_PATHS.items():
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(target)
    return directory


def command(
    prepared: Prepared, suite: Suite, mode: Mode, report: Path, basetemp: Path
) -> list[str]:
    """The pytest command line of one run."""
    source = prepared.sources[suite.name]
    config = source / suite.config if suite.config else prepared.empty_config
    argv = [str(prepared.python), "-m", "pytest"]
    if mode == "berth":
        argv += _BERTH_OPTIONS
    argv += [*COMMON_OPTIONS, "-q", "--rootdir", str(source), "-c", str(config)]
    argv += ["--junit-xml", str(report), "--basetemp", str(basetemp)]
    for path in suite.ignore:
        argv += ["--ignore", path]
    return argv


def run_suite(prepared: Prepared, suite: Suite, mode: Mode, workdir: Path) -> SuiteRun:
    """Run ``suite``'s own tests on aiohttp or on Berth (compatibility mode); the Berth
    runs find Berth in ``workdir / "berth-path"`` (:func:`berth_path`, made beforehand)."""
    tag = f"{suite.name}-{mode}"
    report = workdir / f"{tag}.xml"
    env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENVIRONMENT}
    if mode == "berth":
        env["PYTHONPATH"] = str(workdir / "berth-path")
    started = time.monotonic()
    try:
        done = subprocess.run(
            command(prepared, suite, mode, report, workdir / f"{tag}-tmp"),
            cwd=prepared.sources[suite.name],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
        )
        returncode: int | None = done.returncode
        output = done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        returncode = None
        output = f"timed out after {RUN_TIMEOUT} s\n{_text(exc.stdout)}{_text(exc.stderr)}"
    seconds = time.monotonic() - started
    outcomes = read_junit(report) if report.exists() else {}
    return SuiteRun(mode, outcomes, returncode, output[-4000:], seconds)


def _text(captured: str | bytes | None) -> str:
    if isinstance(captured, bytes):
        return captured.decode(errors="replace")
    return captured or ""


_RANK = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
# A record of pytest's captured log (junit_logging=log) starts with its level and logger.
_LOG_RECORD = re.compile(r"^(?:CRITICAL|ERROR|WARNING|INFO|DEBUG) +\S+:", re.MULTILINE)
# What aiohttp (aiohttp.server) and Berth (runtime.server) both log for a handler's
# exception, followed by its traceback.
_HANDLER_ERROR = "Error handling request"
_TRACEBACK_HEADERS = ("Traceback (most recent call last)", "During handling", "The above")


def handler_errors(captured_log: str) -> tuple[str, ...]:
    """The exception line of each handler error in a test's captured log."""
    starts = [match.start() for match in _LOG_RECORD.finditer(captured_log)]
    ends = [*starts[1:], len(captured_log)]
    found = []
    for start, end in zip(starts, ends[: len(starts)], strict=True):
        record = captured_log[start:end].strip().splitlines()
        if _HANDLER_ERROR in record[0]:
            found.append(_exception_line(record[1:]) or record[0])
    return tuple(found)


def _exception_line(traceback: list[str]) -> str:
    """The raised exception's own line: the last unindented line that is not a traceback
    header (an assertion's explanation follows it, indented)."""
    lines = [
        line
        for line in traceback
        if line and not line[0].isspace() and not line.startswith(_TRACEBACK_HEADERS)
    ]
    return lines[-1][:300] if lines else ""


def _exception_types(errors: tuple[str, ...]) -> Counter[str]:
    return Counter(line.partition(":")[0] for line in errors)


def read_junit(report: Path) -> dict[str, Outcome]:
    """Each test's outcome; a test reported twice (a failed call, then an error in its
    teardown) keeps the worse."""
    outcomes: dict[str, Outcome] = {}
    for case in ET.parse(report).iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}"
        status, message, log = "passed", "", ""
        for child in case:
            if child.tag == "system-out":
                log += child.text or ""
            elif child.tag in ("failure", "error", "skipped") and status == "passed":
                status = "failed" if child.tag == "failure" else child.tag
                text = child.get("message") or (child.text or "").strip()
                message = text.splitlines()[0][:300] if text else ""
        outcome = Outcome(status, message, handler_errors(log))
        previous = outcomes.get(name)
        if previous is None or _RANK[outcome.status] > _RANK[previous.status]:
            outcomes[name] = outcome
    return outcomes


@dataclass
class Comparison:
    """A suite's two runs held against each other."""

    suite: Suite
    aiohttp: SuiteRun
    berth: SuiteRun
    # Not passing on aiohttp itself: left out, with what failed there.
    left_out: dict[str, str] = field(default_factory=dict)
    # Passing on aiohttp, not on Berth (failing, or passing while a handler failed on
    # Berth only), with what went wrong there.
    differences: dict[str, str] = field(default_factory=dict)
    # Explicit exclusions that no longer apply (passing on Berth, or not passing on aiohttp).
    stale: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, suite: Suite, aiohttp: SuiteRun, berth: SuiteRun) -> Comparison:
        found = cls(suite, aiohttp, berth)
        baseline = aiohttp.passed()
        for name, outcome in sorted(aiohttp.outcomes.items()):
            if outcome.status != "passed":
                found.left_out[name] = f"{outcome.status} on aiohttp: {outcome.message}"
        for name in sorted(baseline):
            on_berth = berth.outcomes.get(name, Outcome("missing", "not run on Berth"))
            if on_berth.status != "passed":
                found.differences[name] = f"{on_berth.status}: {on_berth.message}"
                continue
            extra = _exception_types(on_berth.handler_errors) - _exception_types(
                aiohttp.outcomes[name].handler_errors
            )
            if extra:
                lines = [e for e in on_berth.handler_errors if e.partition(":")[0] in extra]
                found.differences[name] = "passed, but a handler failed on Berth only: " + (
                    "; ".join(lines)
                )
        for name, reason in suite.exclude.items():
            if name not in baseline:
                found.stale[name] = f"excluded, but does not pass on aiohttp ({reason})"
            elif name not in found.differences:
                found.stale[name] = f"excluded, but passes on Berth now ({reason})"
        return found

    @property
    def regressions(self) -> dict[str, str]:
        """The differences no exclusion covers."""
        return {k: v for k, v in self.differences.items() if k not in self.suite.exclude}

    def problems(self) -> list[str]:
        """What fails the comparison, one line each (empty when Berth holds up)."""
        lines = []
        if not self.aiohttp.passed():
            lines.append(f"the baseline run passed nothing:\n{self.aiohttp.output}")
        if not self.berth.outcomes:
            return [*lines, f"the Berth run reported no tests:\n{self.berth.output}"]
        lines += [f"regression {name}: {why}" for name, why in self.regressions.items()]
        lines += [f"stale exclusion {name}: {why}" for name, why in self.stale.items()]
        return lines

    def summary(self) -> dict[str, Any]:
        """The figures docs/compat.md reports, JSON-ready."""
        return {
            "extension": self.suite.pin,
            "tests": len(self.aiohttp.outcomes),
            "passed_on_aiohttp": len(self.aiohttp.passed()),
            "passed_on_berth": len(self.berth.passed()),
            "passed_on_both_with_handler_errors_on_berth_only": sorted(
                name for name, why in self.differences.items() if why.startswith("passed")
            ),
            "seconds": {"aiohttp": self.aiohttp.seconds, "berth": self.berth.seconds},
            "ignored_paths": dict(self.suite.ignore),
            "left_out_failing_on_aiohttp": self.left_out,
            "excluded": {
                name: {"reason": self.suite.exclude[name], "on_berth": why}
                for name, why in self.differences.items()
                if name in self.suite.exclude
            },
            "regressions": self.regressions,
            "stale_exclusions": self.stale,
        }


def describe(counts: Mapping[str, Any]) -> str:
    """One line for a suite's figures."""
    return (
        f"{counts['extension']}: {counts['passed_on_berth']} of {counts['tests']} pass on "
        f"Berth, {counts['passed_on_aiohttp']} on aiohttp"
    )
