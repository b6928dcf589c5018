"""The extensions whose own suites run, pinned to exact sdists, and the suites' venv.

Each sdist is named by its file and SHA-256, so a changed upload fails the download
instead of changing the tests. Upgrading one is editing its line here: the venv and the
unpacked sources are keyed by these values and rebuilt on the next run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

# Environment-bound parts of a suite, left out of both runs.
_NO_BROWSER: Final = (
    "drives a real Chrome or Firefox through selenium's webdriver; CI has no browser"
)
_NO_DOCKER: Final = (
    "its fixtures start Redis and Memcached in Docker containers (conftest.py); CI has no "
    "Docker daemon"
)


@dataclass(frozen=True)
class Suite:
    """One extension's sdist and how its tests are run.

    Attributes:
        name: the distribution's name on PyPI.
        version: the exact release.
        sdist: the file pip saves.
        sha256: its digest, checked by pip (``--require-hashes``).
        config: the suite's own pytest configuration file inside the sdist, or None when
            the sdist has none (an empty one is used, so pytest never climbs to ours).
        ignore: paths left out of both runs, with the reason.
        exclude: test ids Berth is allowed to fail though aiohttp passes them (or to pass
            with a handler failing on Berth only), with the reason. Strict: an excluded
            test that passes cleanly on Berth fails the comparison, so the list only
            ever shrinks.
    """

    name: str
    version: str
    sdist: str
    sha256: str
    config: str | None = None
    ignore: Mapping[str, str] = field(default_factory=dict)
    exclude: Mapping[str, str] = field(default_factory=dict)

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


SUITES: Final = (
    Suite(
        "aiohttp-cors",
        "0.8.1",
        "aiohttp_cors-0.8.1.tar.gz",
        "ccacf9cb84b64939ea15f859a146af1f662a6b1d68175754a07315e305fb1403",
        config="setup.cfg",
        ignore={"tests/integration/test_real_browser.py": _NO_BROWSER},
    ),
    Suite(
        "aiohttp-jinja2",
        "1.6",
        "aiohttp-jinja2-1.6.tar.gz",
        "a3a7ff5264e5bca52e8ae547bbfd0761b72495230d438d05b6c0915be619b0e2",
        config="pytest.ini",
    ),
    Suite(
        "aiohttp-session",
        "2.12.1",
        "aiohttp_session-2.12.1.tar.gz",
        "15e6e0288e9bcccd4b1d0c28aae9c20e19a252b12d0cb682223ca9c83180e899",
        ignore={
            "tests/test_redis_storage.py": _NO_DOCKER,
            "tests/test_memcached_storage.py": _NO_DOCKER,
        },
    ),
    Suite(
        "aiohttp-sse",
        "3.0",
        "aiohttp_sse-3.0.tar.gz",
        "4c2158dc7221fbcad225699c2b7c368c15ae45ef195447ddd0ba3dea5af24c70",
    ),
    Suite(
        "aiohttp-security",
        "0.5.0",
        "aiohttp-security-0.5.0.tar.gz",
        "50cb724d310e1d0289798bb98ae852c3b75b77e8f51ce5159c57b7261d0638bd",
        config="setup.cfg",
    ),
)

# Extensions the issue names whose sdists cannot run their own tests (checked against
# every release on PyPI; their repositories' tests are not on PyPI, and nothing of theirs
# is committed here).
NOT_RUN: Final = {
    "aiohttp-middlewares": "no release's sdist (1.2.1 to 3.0.0) carries its tests",
    "aiohttp-basicauth": (
        "the sdists (1.0.0 to 1.2.0) carry tests/test_auth.py but not the tests/conftest.py "
        "it imports (USERNAME, PASSWORD, the app_factory fixture)"
    ),
    "aiohttp-swagger3": (
        "the sdists (0.8.0 to 0.10.0) carry tests/ but not the conftest.py that defines "
        "their fixtures (swagger_docs, swagger_file, ...)"
    ),
}

# The suites' venv: what their tests import, exactly pinned. aiohttp is the baseline's
# server and the client of both runs (the compatibility mode keeps aiohttp's client), in
# the series the project tests against (pyproject's test extra). PyJWT stays before 2.10,
# whose InsecureKeyLengthWarning fails aiohttp-security's JWT tests under their
# filterwarnings = error on aiohttp too. docker, aiomcache and redis are imported by
# aiohttp-session's conftest.py even though the tests that use them are left out.
REQUIREMENTS: Final = (
    "aiohttp==3.14.5",
    "pytest==9.2.0",
    "pytest-aiohttp==1.1.1",
    "pytest-asyncio==1.5.0",
    "pytest-mock==3.17.0",
    "Jinja2==3.1.6",
    "cryptography==51.0.1",
    "PyNaCl==1.6.2",
    "PyJWT==2.9.0",
    "aiohttp-session==2.12.1",
    "docker==7.2.0",
    "aiomcache==0.8.2",
    "redis==8.2.0",
)

# Options both runs of every suite get. addopts is emptied because the suites' own ask
# for pytest-cov reports; the junit report carries each test's captured log (run.py reads
# the handlers' errors from it). The suites are written for pytest-asyncio's auto mode (plain
# ``async def`` tests): aiohttp-jinja2 and aiohttp-security say so in their configuration,
# the other sdists omit it. Without a default fixture loop scope, pytest-asyncio's
# deprecation warning fails the suites that turn warnings into errors.
COMMON_OPTIONS: Final = (
    "-p",
    "no:cacheprovider",
    "-o",
    "addopts=",
    "-o",
    "junit_logging=log",
    "-o",
    "asyncio_mode=auto",
    "-o",
    "asyncio_default_fixture_loop_scope=function",
)
