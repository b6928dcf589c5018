"""``--redis-url``: REDIS_URL for runtime.cluster in the unit and gunicorn.conf.py, checked.

The multi-host cluster test (tests/cluster/test_multihost.py) runs real gunicorn masters from
a gunicorn.conf.py rendered with this option, so the workers reaching Redis is checked there.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from runtime.deploy import DeploySettings, render_file
from runtime.deploy.__main__ import main
from tests.deploy.tools import needs_systemd_analyze, render_to, systemd_verify

VENV = str(Path(sys.executable).parent.parent)

GOOD = [
    "redis://127.0.0.1:6379/0",
    "redis://redis.internal",
    "rediss://cache.example.com:6380/2?ssl_cert_reqs=required",
    "redis://[fd00::10]:6379/1",
    "unix:///run/redis/redis-server.sock?db=3",
]


def _gunicorn_namespace(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(text, "gunicorn.conf.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("url", GOOD)
def test_the_url_lands_in_the_unit_environment(url: str) -> None:
    service = render_file("service", DeploySettings("shop", redis_url=url))[1]
    assert re.findall(r"^Environment=REDIS_URL=(.*)$", service, re.MULTILINE) == [url]
    # The env file, where a password belongs, is read and wins (systemd.exec(5)).
    assert "\nEnvironmentFile=-/etc/shop/env\n" in service


def test_gunicorn_config_sets_it_unless_the_environment_has_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = render_file("gunicorn", DeploySettings("shop", redis_url=GOOD[0]))[1]
    monkeypatch.delenv("REDIS_URL", raising=False)
    _gunicorn_namespace(text)
    assert os.environ["REDIS_URL"] == GOOD[0]
    # Under the unit (or with /etc/shop/env) the environment already names one: it wins.
    monkeypatch.setenv("REDIS_URL", "redis://10.9.9.9:6379/5")
    _gunicorn_namespace(text)
    assert os.environ["REDIS_URL"] == "redis://10.9.9.9:6379/5"


def test_gunicorn_accepts_the_config_with_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    from gunicorn.config import Config

    monkeypatch.delenv("REDIS_URL", raising=False)
    text = render_file("gunicorn", DeploySettings("shop", redis_url=GOOD[0]))[1]
    namespace = _gunicorn_namespace(text)
    cfg = Config()
    names = {k for k, v in namespace.items() if not k.startswith("_") and k != "os"}
    assert not names - set(cfg.settings)


def test_without_the_option_nothing_names_redis() -> None:
    for kind in ("service", "gunicorn", "nginx", "socket"):
        assert "REDIS_URL" not in render_file(kind, DeploySettings("shop"))[1], kind


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:6379/0", "expected redis://HOST"),
        ("127.0.0.1:6379", "expected redis://HOST"),
        ("redis://", "no host"),
        ("redis://h:0/0", "the port must be 1 to 65535"),
        ("redis://h:70000/0", "Port out of range"),
        ("redis://h/cache", "the path is the database number"),
        ("redis://[fd00::1/0", "Invalid IPv6 URL"),
        ("redis://[db]:6379/0", "does not appear to be an IPv4 or IPv6 address"),
        ("redis://h/0?db", "bad query field"),
        ("redis://h/0#x", "'#'"),
        ("redis://h/0 ", "without spaces"),
        ('redis://h/0"', "without spaces, quotes"),
        ("redis://h/%30", "'%'"),
        ("redis://h/$DB", "'$'"),
        ("unix://host/run/redis.sock", "unix:///PATH"),
        ("unix://relative.sock", "unix:///PATH"),
        ("redis://:secret@h:6379/0", "set REDIS_URL in /etc/shop/env"),
        ("redis://user:secret@h/0", "a password must not be in the unit"),
        ("unix:///run/redis.sock?password=secret", "a password must not be in the unit"),
    ],
)
def test_cli_refuses_a_bad_url_naming_the_flag(
    url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["service", "--name", "shop", "--redis-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: invalid --redis-url {url!r}: "), err
    assert message in err, err


def test_cli_renders_the_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["systemd", "--name", "shop", "--redis-url", GOOD[0]]) == 0
    out = capsys.readouterr().out
    assert f"\nEnvironment=REDIS_URL={GOOD[0]}\n" in out
    assert f"--redis-url {GOOD[0]}" in out  # the header says how to render it again


@needs_systemd_analyze
def test_systemd_verify_accepts_the_unit_with_the_url(tmp_path: Path) -> None:
    settings = DeploySettings("myapp", venv=VENV, redis_url=GOOD[2])
    units = [render_to(tmp_path, kind, settings) for kind in ("service", "socket")]
    result = systemd_verify(*units)
    assert result.returncode == 0, result.stderr
    assert "myapp" not in result.stderr, result.stderr


def test_several_hosts_are_balanced_by_open_connections() -> None:
    """WebSockets live long: with several hosts nginx picks the one with the fewest open
    connections (least_conn, before keepalive as ngx_http_upstream_module requires)."""
    multi = render_file("nginx", DeploySettings("x", upstreams=("10.0.0.1:80", "10.0.0.2:80")))
    text = multi[1]
    upstream = text[text.index("upstream x_app {") :]
    upstream = upstream[: upstream.index("\n}")]
    lines = [line.strip() for line in upstream.splitlines() if not line.strip().startswith("#")]
    assert lines.index("least_conn;") < lines.index("keepalive 32;")
    assert "zone x_app 64k;" in lines  # one count for all of nginx's worker processes
    single = render_file("nginx", DeploySettings("x"))[1]
    assert "least_conn" not in single and "zone " not in single


@needs_systemd_analyze
def test_systemd_verify_accepts_the_application_host_example(tmp_path: Path) -> None:
    """deploy/systemd/multihost/: an application host with the shared Redis's URL."""
    multihost = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "multihost"
    for name in ("myapp.service", "myapp.socket"):
        text = (multihost / name).read_text()
        (tmp_path / name).write_text(text.replace("/srv/myapp/venv", VENV))
    assert (
        "\nEnvironment=REDIS_URL=redis://10.0.0.10:6379/0\n"
        in (tmp_path / "myapp.service").read_text()
    )
    result = systemd_verify(tmp_path / "myapp.service", tmp_path / "myapp.socket")
    assert result.returncode == 0, result.stderr
    assert "myapp" not in result.stderr, result.stderr
