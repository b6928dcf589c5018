"""Rendered configs checked by the real tools: ``nginx -t`` and ``systemd-analyze verify``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runtime.deploy import DeploySettings, render_file
from tests.deploy.tools import (
    ROOT,
    SYSTEMD_ANALYZE,
    needs_nginx,
    needs_systemd_analyze,
    nginx_test,
    render_to,
    systemd_verify,
)

# The venv running the tests has gunicorn: systemd-analyze verify checks ExecStart exists.
VENV = str(Path(sys.executable).parent.parent)

NGINX_VARIANTS = {
    "defaults": DeploySettings("myapp"),
    "multihost": DeploySettings(
        "myapp", upstreams=("10.0.0.11:8000", "10.0.0.12:8000", "[fd00::13]:8000")
    ),
    "nginx-compresses": DeploySettings("myapp", compression="nginx"),
    "no-optional-locations": DeploySettings("myapp", static_root="", accel_root=""),
    "streaming-locations": DeploySettings(
        "myapp", streaming_locations=("/api/upload/", "/ingest", "/static"), compression="nginx"
    ),
    "custom": DeploySettings(
        "shop.api-2",
        socket="/run/shop/api.sock",
        server_name="shop.example.com *.shop.example.com",
        listen=("127.0.0.1:8080", "[::1]:8080 default_server"),
        static_url="/assets/",
        static_root="/var/www/shop",
        accel_url="/_files/",
        accel_root="/var/lib/shop/files",
        client_max_size=100 * 2**20,
        read_timeout=3600,
        upstream_idle=30,
        upstream_keepalive=8,
        client_body_buffer_size=1,
        client_body_timeout=600,
        client_header_timeout=1,
        streaming_locations=("/api/v1/files/",),
    ),
}


@needs_nginx
@pytest.mark.parametrize("variant", NGINX_VARIANTS)
def test_nginx_accepts_rendered_config(variant: str, tmp_path: Path) -> None:
    _, text = render_file("nginx", NGINX_VARIANTS[variant])
    result = nginx_test(text, tmp_path)
    assert result.returncode == 0, result.stderr


@needs_nginx
def test_two_applications_fit_in_one_nginx(tmp_path: Path) -> None:
    """Per-application map variables and upstream names: no clashes between sites."""
    text = "".join(
        render_file("nginx", DeploySettings(name, server_name=f"{name}.example.com"))[1]
        for name in ("shop", "blog")
    )
    result = nginx_test(text, tmp_path)
    assert result.returncode == 0, result.stderr


@needs_nginx
def test_nginx_test_catches_errors(tmp_path: Path) -> None:
    """The wrapper really runs nginx's checks (a broken site fails)."""
    _, text = render_file("nginx", DeploySettings("myapp"))
    result = nginx_test(text.replace("proxy_http_version 1.1;", "proxy_http_version 7;"), tmp_path)
    assert result.returncode != 0
    assert 'invalid value "7"' in result.stderr


@needs_nginx
@pytest.mark.parametrize("name", ["myapp.conf", "myapp-multihost.conf"])
def test_nginx_accepts_the_repository_examples(name: str, tmp_path: Path) -> None:
    result = nginx_test((ROOT / "deploy" / "nginx" / name).read_text(), tmp_path)
    assert result.returncode == 0, result.stderr


SYSTEMD_VARIANTS = {
    "unix-socket": DeploySettings("myapp", venv=VENV),
    "tcp-app-host": DeploySettings("myapp", venv=VENV, bind="10.0.0.11:8000"),
    "custom": DeploySettings(
        "shop.api-2", venv=VENV, user="www", group="www", graceful_timeout=120, root="/opt/shop"
    ),
}


@needs_systemd_analyze
@pytest.mark.parametrize("variant", SYSTEMD_VARIANTS)
def test_systemd_verify_accepts_units(variant: str, tmp_path: Path) -> None:
    settings = SYSTEMD_VARIANTS[variant]
    units = [render_to(tmp_path, kind, settings) for kind in ("service", "socket")]
    result = systemd_verify(*units)
    assert result.returncode == 0, result.stderr
    # verify reports unknown keys and bad values as warnings, with a zero status.
    ours = [line for line in result.stderr.splitlines() if settings.name in line]
    assert not ours, result.stderr


@needs_systemd_analyze
def test_systemd_verify_catches_errors(tmp_path: Path) -> None:
    """The check is real: an unknown key and a missing binary are reported."""
    settings = DeploySettings("myapp", venv=VENV)
    service, socket_unit = (render_to(tmp_path, k, settings) for k in ("service", "socket"))
    service.write_text(service.read_text().replace("KillMode=mixed", "KillMode=mixedd"))
    result = systemd_verify(service, socket_unit)
    assert "Failed to parse kill mode specification, ignoring: mixedd" in result.stderr
    missing = DeploySettings("myapp", venv=str(tmp_path / "no-venv"))
    units = [render_to(tmp_path, k, missing) for k in ("service", "socket")]
    result = systemd_verify(*units)
    assert result.returncode != 0
    assert "is not executable" in result.stderr


@needs_systemd_analyze
def test_service_hardening_exposure(tmp_path: Path) -> None:
    """``systemd-analyze security`` rates the unit "OK" (exposure at most 2.0 of 10)."""
    assert SYSTEMD_ANALYZE is not None
    service = render_to(tmp_path, "service", DeploySettings("myapp", venv=VENV))
    render_to(tmp_path, "socket", DeploySettings("myapp", venv=VENV))
    command = [SYSTEMD_ANALYZE, "security", "--offline=true", "--threshold=20", "--no-pager"]
    result = subprocess.run([*command, str(service)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Overall exposure level for myapp.service" in result.stdout


@needs_systemd_analyze
def test_systemd_verify_accepts_the_repository_examples(tmp_path: Path) -> None:
    # The examples point at /srv/myapp/venv; verify them with this venv's gunicorn.
    for name in ("myapp.service", "myapp.socket"):
        text = (ROOT / "deploy" / "systemd" / name).read_text()
        (tmp_path / name).write_text(text.replace("/srv/myapp/venv", VENV))
    result = systemd_verify(tmp_path / "myapp.service", tmp_path / "myapp.socket")
    assert result.returncode == 0, result.stderr
    assert "myapp" not in result.stderr, result.stderr
