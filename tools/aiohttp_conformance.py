"""Run aiohttp's own black-box server tests against Berth (docs/web-api.md, "Measured
against aiohttp's own tests").

Downloads aiohttp's sdist (the version installed in this venv) into ``.cache/`` at run time,
copies its server test modules beside a conftest of ours, and runs them with
``runtime.compat.aiohttp.install()`` in force: ``aiohttp.web`` is Berth's, the client stays
aiohttp's (``aiohttp_client`` is aiohttp's own ``TestClient`` on Berth's test server).
Nothing of aiohttp's is committed. A test is *black-box* when it asks for a server or client
fixture; the others (unit tests of aiohttp's classes) and black-box tests that patch or read
aiohttp's internals are counted apart, as out of scope.

    .venv/bin/python tools/aiohttp_conformance.py [--failures] [-k EXPR] [--module NAME ...]

prints ``{"passed": ..., "failed": ..., "skipped": ..., "out of scope": ...}``;
``--failures`` lists the failed black-box tests first, ``--no-run`` counts the last run again.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "aiohttp-conformance"

MODULES = (
    "test_web_functional.py",
    "test_web_server.py",
    "test_web_websocket_functional.py",
    "test_web_sendfile_functional.py",
    "test_web_urldispatcher.py",
    "test_web_middleware.py",
    "test_web_app.py",
    "test_web_exceptions.py",
    "test_web_log.py",
    "test_web_request.py",
    "test_web_response.py",
)
# Fixtures that start a server: a test asking for one (directly or not) is black-box.
SERVER_FIXTURES = frozenset({"aiohttp_client", "aiohttp_server", "aiohttp_raw_server"})
# Test sources that reach into aiohttp's insides: out of scope even when black-box.
INTERNAL_MARKS = (
    "mocker",
    "mock.patch",
    "monkeypatch.setattr(web_",
    "aiohttp.web_protocol",
    "RequestHandler",
    "._protocol",
    "_request_handler",
    "loop_with_mocked_native_sendfile",
    "web_urldispatcher.",
    "web_fileresponse.",
    "import _",
    "multipart.MultipartReader",
    "multipart.BodyPartReader",
    "protocol._",
    "._force_close",
    "._reader",
    "._parser",
    "writing_paused",
    "monkeypatch.setattr(StreamReader",
    "monkeypatch.setattr(server_impl",
    "write_eof = mock.",
)
# The same, by pattern: a private name of one of aiohttp's server modules.
INTERNAL_PATTERN = re.compile(r"\bweb_\w+\._")
# Black-box tests whose server-side code asserts the identity of aiohttp's own objects
# (``msg.type is aiohttp.WSMsgType.TEXT`` in a handler): Berth's equal enum is not aiohttp's.
AIOHTTP_IDENTITY = frozenset(
    {
        "test_receive_text_as_bytes_server_side",
        "test_receive_text_as_bytes_server_iteration",
        "test_server_decode_text_default_true",
        "test_heartbeat_no_pong_receive_many_messages",
        "test_websocket_prepare_timeout_from_issue_reproducer",
    }
)

PLUGIN = '''\
"""Loaded first (-p): the compatibility mode, then the fixture names aiohttp's tests use."""
import json
import os
import sys

# aiohttp's own test client, imported before the mode so it keeps aiohttp's client.
import aiohttp.test_utils as real_test_utils

from runtime.compat.aiohttp import install

install()

# Names aiohttp's test modules import that Berth does not have (its insides): a stand-in
# class each, so the module imports; a test that uses one is out of scope.
PLACEHOLDERS = {}


def _fill(module):
    lookup = module.__getattr__

    def __getattr__(attr):
        try:
            return lookup(attr)
        except AttributeError:
            if attr.startswith(("__", "pytest")):
                raise
            constant = attr.lstrip("_").isupper()  # a size or a flag: 1 MiB
            value = PLACEHOLDERS.setdefault(attr, 1 << 20 if constant else type(attr, (), {}))
            setattr(module, attr, value)
            return value

    module.__getattr__ = __getattr__


for _name, _module in list(sys.modules.items()):
    if getattr(_module, "__berth_compat__", False):
        _fill(_module)


def pytest_addhooks(pluginmanager):
    pluginmanager.register(sys.modules["aiohttp.pytest_plugin"], "aiohttp.pytest_plugin")


def pytest_collection_finish(session):
    fixtures = {item.nodeid: sorted(getattr(item, "fixturenames", ())) for item in session.items}
    with open(os.environ["BERTH_CONFORMANCE_FIXTURES"], "w") as out:
        json.dump({"fixtures": fixtures, "placeholders": sorted(PLACEHOLDERS)}, out)
'''

CONFTEST = '''\
"""Ours, in place of aiohttp's conftest: the fixtures its server tests ask for."""
import asyncio
import socket

import aiohttp
import pytest
from berth_conformance_plugin import real_test_utils

from runtime import web
from runtime.testing import BaseTestServer, TestServer, unused_port


class AiohttpTestClient(real_test_utils.TestClient):
    """aiohttp's TestClient (its ClientSession) on a Berth test server."""

    def __init__(self, server, *, cookie_jar=None, loop=None, **kwargs):
        self._server = server
        self._loop = loop
        self._session = aiohttp.ClientSession(
            cookie_jar=cookie_jar or aiohttp.CookieJar(unsafe=True), **kwargs
        )
        self._session._retry_connection = False
        self._closed = False
        self._responses = []
        self._websockets = []

    async def start_server(self):
        await self._server.start_server()


@pytest.fixture
async def aiohttp_client():
    clients = []

    async def go(target, *args, server_kwargs=None, **kwargs):
        if callable(target) and not isinstance(target, (web.Application, BaseTestServer)):
            target = target(asyncio.get_running_loop(), *args, **kwargs)
            kwargs = {}
        if isinstance(target, web.Application):
            target = TestServer(target, **(server_kwargs or {}))
        if not isinstance(target, BaseTestServer):
            raise ValueError(f"Unknown argument type: {type(target)!r}")
        client = AiohttpTestClient(target, **kwargs)
        await client.start_server()
        clients.append(client)
        return client

    yield go
    for client in reversed(clients):
        await client.close()


@pytest.fixture
def loop(berth_loop):
    return berth_loop


@pytest.fixture
def aiohttp_unused_port():
    return unused_port


@pytest.fixture
async def loop_debug_mode():
    loop = asyncio.get_running_loop()
    before = loop.get_debug()
    loop.set_debug(True)
    yield
    loop.set_debug(before)


@pytest.fixture
def parametrize_zlib_backend():
    """aiohttp runs these with each zlib backend it supports; Berth has zlib's."""


@pytest.fixture
def unix_sockname(tmp_path):
    return str(tmp_path / "socket.sock")


@pytest.fixture
def ssl_ctx():
    pytest.skip("aiohttp's TLS fixtures need trustme, which this run does not install")


@pytest.fixture
def unused_port_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        yield sock
'''

PYTEST_INI = """\
[pytest]
filterwarnings =
    error
    ignore:Unclosed client session:ResourceWarning
markers =
    dev_mode: aiohttp's
    internal: aiohttp's
    autobahn: aiohttp's
    skip_blockbuster: aiohttp's
timeout = 60
"""


def prepare() -> Path:
    """The unpacked tests of the installed aiohttp version, with our conftest."""
    release = version("aiohttp")
    source = CACHE / f"aiohttp-{release}"
    if not source.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(CACHE),
                f"aiohttp=={release}",
            ],
            check=True,
        )
        with tarfile.open(CACHE / f"aiohttp-{release}.tar.gz") as archive:
            archive.extractall(CACHE, filter="data")
    run = CACHE / f"run-{release}"
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(source / "tests", run / "tests", ignore=shutil.ignore_patterns("*.py"))
    for name in MODULES:
        shutil.copy(source / "tests" / name, run / "tests" / name)
    (run / "tests" / "conftest.py").write_text(CONFTEST)
    shutil.copy(source / "README.rst", run / "README.rst")  # a traversal test's target
    (run / "berth_conformance_plugin.py").write_text(PLUGIN)
    (run / "pytest.ini").write_text(PYTEST_INI)
    return run


def in_scope(
    nodeid: str, fixtures: list[str], run: Path, sources: dict[str, str], internal: list[str]
) -> bool:
    if not SERVER_FIXTURES.intersection(fixtures):
        return False
    path, _, rest = nodeid.partition("::")
    name = rest.split("[")[0].split("::")[-1]
    if name in AIOHTTP_IDENTITY:
        return False
    text = sources.setdefault(path, (run / path).read_text())
    start = text.find(f"def {name}(")
    end = text.find("\ndef ", start + 1)
    end2 = text.find("\nasync def ", start + 1)
    body = text[start : min(e for e in (end, end2, len(text)) if e != -1)]
    if INTERNAL_PATTERN.search(body):
        return False
    return not any(mark in body for mark in (*INTERNAL_MARKS, *internal))


def junit_key(nodeid: str) -> tuple[str, str]:
    """junit's (classname, name) for a pytest node id."""
    head, bracket, params = nodeid.partition("[")  # parameters may hold "::"
    path, *parts = head.split("::")
    classname = ".".join([path.removesuffix(".py").replace("/", "."), *parts[:-1]])
    return classname, parts[-1] + bracket + params


def outcomes(report: Path, fixtures: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
    """Each test's worst outcome (a failed call and a failed teardown are reported apart)."""
    by_key = {junit_key(nodeid): nodeid for nodeid in fixtures}
    rank = {"passed": 0, "skipped": 1, "failed": 2}
    found: dict[str, tuple[str, str]] = {}
    for case in ET.parse(report).iter("testcase"):
        nodeid = by_key.get((case.get("classname", ""), case.get("name", "")))
        if nodeid is None:
            continue
        status, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                status, message = "failed", (child.get("message") or "")[:200]
            elif child.tag == "skipped" and status == "passed":
                status = "skipped"
        if nodeid not in found or rank[status] > rank[found[nodeid][0]]:
            found[nodeid] = (status, message)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", default=None)
    parser.add_argument("--module", action="append", default=None)
    parser.add_argument("--failures", action="store_true", help="list in-scope failures")
    parser.add_argument("--no-run", action="store_true", help="count the last run again")
    args = parser.parse_args()
    run = CACHE / f"run-{version('aiohttp')}" if args.no_run else prepare()
    report, fixtures_file = run / "report.xml", run / "fixtures.json"
    modules = [f"tests/{m}" for m in (args.module or MODULES)]
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "berth_conformance_plugin",
        "-q",
        "-p",
        "no:cacheprovider",
        "--tb=native",
        "--junit-xml",
        str(report),
        *modules,
    ]
    if args.k:
        argv += ["-k", args.k]
    env = dict(
        os.environ,
        PYTHONPATH=f"{run}{os.pathsep}{ROOT}",
        BERTH_CONFORMANCE_FIXTURES=str(fixtures_file),
    )
    if not args.no_run:
        subprocess.run(argv, cwd=run, env=env, stdout=subprocess.DEVNULL, check=False)
    collected = json.loads(fixtures_file.read_text())
    fixtures, internal = collected["fixtures"], collected["placeholders"]
    counts = {"passed": 0, "failed": 0, "skipped": 0, "out of scope": 0}
    failures: list[str] = []
    sources: dict[str, str] = {}
    for nodeid, (status, message) in sorted(outcomes(report, fixtures).items()):
        if not in_scope(nodeid, fixtures.get(nodeid, []), run, sources, internal):
            counts["out of scope"] += 1
            continue
        counts[status] += 1
        if status == "failed":
            failures.append(f"{nodeid}: {message}")
    if args.failures:
        print("\n".join(sorted(failures)))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
