"""The extension suites' harness itself (tests/compat/suites/run.py): what it reads from a
junit report and how it holds a Berth run against an aiohttp run, on made-up runs."""

from __future__ import annotations

from pathlib import Path

from .suites.pins import Suite
from .suites.run import Comparison, Mode, Outcome, SuiteRun, handler_errors, read_junit

_LOG = """\
--------------------------------- Captured Log ---------------------------------
WARNING  aiohttp_session:cookie_storage.py:62 Cannot decrypt cookie value
ERROR    runtime.server:server.py:300 Error handling request GET /
Traceback (most recent call last):
  File "app.py", line 3, in handler
    assert value is not None
AssertionError: assert None is not None
 +  where None = <Response>.value
ERROR    aiohttp.server:web_protocol.py:548 Error handling request from 127.0.0.1
Traceback (most recent call last):
  File "app.py", line 9, in handler
    request.protocol.force_close()
AttributeError: 'HttpProtocol' object has no attribute 'force_close'
"""

_SUITE = Suite("ext", "1.0", "ext-1.0.tar.gz", "0" * 64)


def _run(mode: Mode, **outcomes: Outcome) -> SuiteRun:
    return SuiteRun(mode, dict(outcomes), 0, "", 0.0)


def test_handler_errors_are_the_exception_lines_of_both_servers_records() -> None:
    assert handler_errors(_LOG) == (
        "AssertionError: assert None is not None",
        "AttributeError: 'HttpProtocol' object has no attribute 'force_close'",
    )
    assert handler_errors("") == ()


def test_junit_outcomes_keep_the_worse_report_and_the_log(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest">'
        '<testcase classname="tests.test_a" name="test_ok"><system-out><![CDATA['
        + _LOG
        + "]]></system-out></testcase>"
        '<testcase classname="tests.test_a" name="test_bad">'
        '<failure message="assert 1 == 2">details</failure></testcase>'
        '<testcase classname="tests.test_a" name="test_bad"><error message="teardown"/>'
        "</testcase>"
        '<testcase classname="tests.test_a.TestX" name="test_skip">'
        '<skipped message="no browser"/></testcase>'
        "</testsuite></testsuites>"
    )
    outcomes = read_junit(report)
    assert outcomes["tests.test_a::test_ok"].status == "passed"
    assert len(outcomes["tests.test_a::test_ok"].handler_errors) == 2
    assert outcomes["tests.test_a::test_bad"] == Outcome("error", "teardown")
    assert outcomes["tests.test_a.TestX::test_skip"] == Outcome("skipped", "no browser")


def test_a_pass_on_aiohttp_must_be_a_clean_pass_on_berth() -> None:
    aiohttp = _run(
        "aiohttp",
        same=Outcome("passed"),
        fails=Outcome("passed"),
        hollow=Outcome("passed"),
        both_log=Outcome("passed", handler_errors=("AssertionError: x",)),
        broken=Outcome("failed", "assert 200 == 500"),
        missing=Outcome("passed"),
    )
    berth = _run(
        "berth",
        same=Outcome("passed"),
        fails=Outcome("failed", "boom"),
        hollow=Outcome("passed", handler_errors=("AttributeError: no force_close",)),
        both_log=Outcome("passed", handler_errors=("AssertionError: y",)),
        broken=Outcome("failed", "assert 200 == 500"),
    )
    found = Comparison.of(_SUITE, aiohttp, berth)
    assert found.left_out == {"broken": "failed on aiohttp: assert 200 == 500"}
    assert found.regressions == {
        "fails": "failed: boom",
        "hollow": "passed, but a handler failed on Berth only: AttributeError: no force_close",
        "missing": "missing: not run on Berth",
    }
    assert found.stale == {}


def test_exclusions_cover_differences_and_go_stale_when_they_no_longer_apply() -> None:
    suite = Suite(
        "ext",
        "1.0",
        "ext-1.0.tar.gz",
        "0" * 64,
        exclude={"fails": "known", "fixed": "was known", "broken": "also fails on aiohttp"},
    )
    aiohttp = _run(
        "aiohttp", fails=Outcome("passed"), fixed=Outcome("passed"), broken=Outcome("failed")
    )
    berth = _run(
        "berth", fails=Outcome("failed"), fixed=Outcome("passed"), broken=Outcome("failed")
    )
    found = Comparison.of(suite, aiohttp, berth)
    assert found.regressions == {}
    assert set(found.stale) == {"fixed", "broken"}
    assert [line.split(":")[0] for line in found.problems()] == [
        "stale exclusion fixed",
        "stale exclusion broken",
    ]
