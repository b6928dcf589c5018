"""The mode in fresh interpreters: a server in it loads neither the test kit nor pytest,
a missing aiohttp is one clear error, and a project's own pytest run gets aiohttp's fixture
names on Berth's test kit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

# Makes "import aiohttp" fail as it does where aiohttp is not installed.
BLOCK_AIOHTTP = "import sys; sys.modules['aiohttp'] = None\n"


def run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_server_in_the_mode_loads_no_test_machinery() -> None:
    result = run_python(
        """
        from runtime.compat.aiohttp import install
        install()
        from aiohttp import web
        import aiohttp.test_utils, aiohttp.pytest_plugin, runtime.workers
        import sys
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("pytest", "_pytest"))
              + sorted(m for m in sys.modules if m.startswith(("runtime.testing", "unittest"))))
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_without_aiohttp_install_says_pip_install_aiohttp() -> None:
    result = run_python(
        BLOCK_AIOHTTP
        + """
from runtime.compat.aiohttp import AiohttpMissingError, install
try:
    install()
except AiohttpMissingError as exc:
    assert isinstance(exc, ImportError)
    print(exc)
"""
    )
    assert result.returncode == 0, result.stderr
    assert "pip install aiohttp" in result.stdout
    assert "compatibility mode" in result.stdout


def test_without_aiohttp_the_cli_exits_with_one_line() -> None:
    result = run_python(
        BLOCK_AIOHTTP
        + """
from runtime.__main__ import main
raise SystemExit(main(sys.argv[1:]))
""",
        "--aiohttp-compat",
        "tests.compat.apps.ported:create_app",
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")
    assert "pip install aiohttp" in result.stderr


def test_without_aiohttp_berth_itself_still_works() -> None:
    result = run_python(
        BLOCK_AIOHTTP
        + """
import runtime.compat.aiohttp, runtime.workers
from runtime import web
print(web.Application.__module__)
"""
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "runtime.web.app"


@pytest.mark.slow
def test_a_projects_pytest_run_gets_aiohttps_fixture_names(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(
        "from runtime.compat.aiohttp import install\n"
        "install()\n"
        'pytest_plugins = ["aiohttp.pytest_plugin"]\n'
    )
    (tmp_path / "pytest.ini").write_text("[pytest]\nfilterwarnings = error\n")
    (tmp_path / "test_app.py").write_text(
        textwrap.dedent(
            """
            import asyncio

            import aiohttp
            from aiohttp import web
            from aiohttp.test_utils import make_mocked_request


            async def hello(request):
                return web.Response(text=type(request).__module__)


            async def test_client(aiohttp_client):
                app = web.Application()
                app.router.add_get("/", hello)
                client = await aiohttp_client(app)
                response = await asyncio.create_task(client.get("/"))
                assert isinstance(response, aiohttp.ClientResponse)  # aiohttp's client
                assert await response.text() == "runtime.web.request"


            async def test_server(aiohttp_server, aiohttp_raw_server, aiohttp_unused_port):
                server = await aiohttp_server(web.Application(), port=aiohttp_unused_port())
                raw = await aiohttp_raw_server(hello)
                assert server.port and raw.port


            def test_mocked_request():
                assert make_mocked_request("GET", "/a").path == "/a"
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
