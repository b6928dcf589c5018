"""The renderer: template language, settings, agreement between files, CLI, deploy/ examples."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from runtime.deploy import (
    EXAMPLES,
    DeploySettings,
    TemplateError,
    parse_size,
    render,
    render_file,
    render_template,
)
from runtime.deploy.__main__ import main, write_examples
from tests.deploy.tools import ROOT, python_env

# -- the template language -------------------------------------------------------------------


def test_variables_and_sections() -> None:
    text = "a {{ x }}\n  {{#on}}\n  kept {{y}}\n  {{/on}}\n  {{^on}}\n  dropped\n  {{/on}}\nz\n"
    assert render_template(text, {"x": 1, "y": "Y", "on": True}) == "a 1\n  kept Y\nz\n"
    assert render_template(text, {"x": 1, "y": "Y", "on": False}) == "a 1\n  dropped\nz\n"
    assert render_template("[{{#a}}A{{/a}}{{^a}}-{{/a}}]", {"a": ""}) == "[-]"


def test_nested_sections_with_different_names() -> None:
    text = "{{#a}}\n{{#b}}\nab\n{{/b}}\na\n{{/a}}\n"
    assert render_template(text, {"a": True, "b": True}) == "ab\na\n"
    assert render_template(text, {"a": True, "b": False}) == "a\n"
    assert render_template(text, {"a": False, "b": True}) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{{ missing }}", "unknown variable 'missing'"),
        ("{{#missing}}x{{/missing}}", "unknown section 'missing'"),
        ("{{#a}}never closed", "unbalanced"),
        ("{{/a}}", "unbalanced"),
    ],
)
def test_template_errors(text: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render_template(text, {"a": True})


def test_nginx_variables_pass_through() -> None:
    assert render_template("$http_upgrade ${x} { }", {}) == "$http_upgrade ${x} { }"


# -- settings ---------------------------------------------------------------------------------


def test_defaults_follow_the_name() -> None:
    s = DeploySettings("shop-api")
    assert s.app == "shop_api:create_app"
    assert s.socket == "/run/shop-api.sock"
    assert (s.root, s.venv) == ("/srv/shop-api", "/srv/shop-api/venv")
    assert (s.user, s.group) == ("shop-api", "shop-api")
    assert (s.static_root, s.accel_root) == ("/srv/shop-api/static", "/srv/shop-api/protected")
    assert s.config_path == "/etc/shop-api/gunicorn.conf.py"
    assert s.runtime_dir == "/run/shop-api"
    assert DeploySettings("x", user="web").group == "web"
    assert DeploySettings("x", static_root="", accel_root="").context("")["static"] is False


@pytest.mark.parametrize(
    "kwargs",
    [
        {"name": "bad name"},
        {"name": "-x"},
        {"name": "x", "socket": "relative.sock"},
        {"name": "x", "socket": "/run/a b.sock"},
        {"name": "x", "root": "/srv/x;rm"},
        {"name": "x", "app": "not an app"},
        {"name": "x", "upstreams": ("10.0.0.1",)},
        {"name": "x", "upstreams": ("::1:80",)},
        {"name": "x", "upstreams": ("[::1:80",)},
        {"name": "x", "bind": "host:99999"},
        {"name": "x", "server_name": "a;b"},
        {"name": "x", "server_name": " "},
        {"name": "x", "listen": ("80; evil",)},
        {"name": "x", "listen": ()},
        {"name": "x", "static_url": "static"},
        {"name": "x", "forwarded_allow_ips": ("1.2.3.4'",)},
        {"name": "x", "compression": "both"},
        {"name": "x", "upstream_idle": 0},
        {"name": "x", "workers": -1},
        {"name": "x", "client_body_timeout": 0},
        {"name": "x", "client_header_timeout": 0},
        {"name": "x", "client_body_buffer_size": 0},
        {"name": "x", "streaming_locations": ("/",)},
        {"name": "x", "streaming_locations": ("upload/",)},
        {"name": "x", "streaming_locations": ("/up load/",)},
        {"name": "x", "streaming_locations": ("/up;load/",)},
        {"name": "x", "streaming_locations": ("/up{/",)},
        {"name": "x", "streaming_locations": ("/upload?x",)},
        {"name": "x", "streaming_locations": ("/a%20b",)},
        {"name": "x", "streaming_locations": ("//upload",)},
        {"name": "x", "streaming_locations": ("/a/", "/a/")},
        # Under a top-level location, a nested one in "/" would never match.
        {"name": "x", "streaming_locations": ("/static/uploads/",)},
        {"name": "x", "streaming_locations": ("/_protected/x",)},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        DeploySettings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1048576), ("512k", 512 * 1024), ("10m", 10 * 1024**2), ("1G", 1024**3)],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "1.5m", "10mb", "-1", "m"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


# -- the files agree with each other ----------------------------------------------------------


def _one(pattern: str, text: str) -> str:
    found = re.findall(pattern, text, re.MULTILINE)
    assert len(found) == 1, (pattern, found)
    return str(found[0])


def _gunicorn_namespace(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(text, "gunicorn.conf.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize(
    "settings",
    [
        DeploySettings("myapp"),
        DeploySettings("edge", upstream_idle=20, graceful_timeout=90, client_max_size=50 * 2**20),
    ],
    ids=["defaults", "custom"],
)
def test_shared_values_agree(settings: DeploySettings) -> None:
    nginx = render_file("nginx", settings)[1]
    service = render_file("service", settings)[1]
    socket_unit = render_file("socket", settings)[1]
    gunicorn = _gunicorn_namespace(render_file("gunicorn", settings)[1])

    # The socket: nginx connects where systemd listens and where gunicorn would bind.
    assert _one(r"^\s*server unix:(\S+) ", nginx) == settings.socket
    assert _one(r"^ListenStream=(.*)$", socket_unit) == settings.socket
    assert gunicorn["bind"] == [f"unix:{settings.socket}"]
    # gunicorn keeps idle connections longer than nginx does, so nginx closes them first.
    nginx_idle = int(_one(r"^\s*keepalive_timeout (\d+)s;", nginx))
    assert isinstance(gunicorn["keepalive"], int) and gunicorn["keepalive"] > nginx_idle
    # systemd waits longer than gunicorn's graceful stop before SIGKILL.
    assert int(_one(r"^TimeoutStopSec=(\d+)$", service)) > int(gunicorn["graceful_timeout"])  # type: ignore[call-overload]
    # The body limit is the application's.
    assert parse_size(_one(r"^\s*client_max_body_size (\w+);", nginx)) == settings.client_max_size
    # The socket unit's backlog is gunicorn's.
    assert int(_one(r"^Backlog=(\d+)$", socket_unit)) == gunicorn["backlog"]
    # Restarting the service must not restart (close) the socket.
    assert "\nPartOf=" not in socket_unit
    assert _one(r"^Requires=(.*)$", service) == f"{settings.name}.socket"
    assert _one(r"^ExecStart=(.*)$", service) == (
        f"{settings.venv}/bin/gunicorn --config {settings.config_path}"
    )


def test_gunicorn_config_uses_only_known_settings_with_valid_values() -> None:
    from gunicorn.config import Config

    namespace = _gunicorn_namespace(render_file("gunicorn", DeploySettings("myapp", workers=3))[1])
    cfg = Config()
    names = {k for k, v in namespace.items() if not k.startswith("_") and k != "os"}
    unknown = names - set(cfg.settings)
    assert not unknown, f"gunicorn ignores unknown settings silently: {unknown}"
    for name in names:
        cfg.set(name, namespace[name])  # runs gunicorn's validator
    assert cfg.worker_class_str == "runtime.workers.GunicornWebWorker"
    assert cfg.workers == 3
    assert cfg.keepalive == 75
    assert cfg.forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert cfg.secure_scheme_headers == {"X-FORWARDED-PROTO": "https"}


def test_multihost_nginx_and_tcp_app_hosts() -> None:
    settings = DeploySettings(
        "myapp",
        upstreams=("10.0.0.11:8000", "[fd00::12]:8000"),
        bind="10.0.0.11:8000",
        forwarded_allow_ips=("10.0.0.10",),
    )
    nginx = render_file("nginx", settings)[1]
    assert "unix:" not in nginx
    servers = re.findall(r"^\s*server (\S+) max_fails=3 fail_timeout=10s;", nginx, re.MULTILINE)
    assert servers == ["10.0.0.11:8000", "[fd00::12]:8000"]
    socket_unit = render_file("socket", settings)[1]
    assert "ListenStream=10.0.0.11:8000" in socket_unit
    assert "FreeBind=yes" in socket_unit and "SocketUser" not in socket_unit
    gunicorn = _gunicorn_namespace(render_file("gunicorn", settings)[1])
    assert gunicorn["bind"] == ["10.0.0.11:8000"]
    assert gunicorn["forwarded_allow_ips"] == "10.0.0.10"


def test_nginx_proxy_headers_and_websocket_map() -> None:
    nginx = render_file("nginx", DeploySettings("my.app-1"))[1]
    ident = "my_app_1"
    assert f"map $http_upgrade $connection_upgrade_{ident} {{" in nginx
    for line in (
        "proxy_http_version 1.1;",
        "proxy_set_header Upgrade $http_upgrade;",
        f"proxy_set_header Connection $connection_upgrade_{ident};",
        f"proxy_set_header Host $forwarded_host_{ident};",
        f"proxy_set_header X-Forwarded-Host $forwarded_host_{ident};",
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Request-ID $request_id;",
        f"proxy_pass http://{ident}_app;",
        "internal;",
    ):
        assert line in nginx, line
    assert "gzip off;" in nginx and "gzip_proxied" not in nginx
    compressed = render_file("nginx", DeploySettings("x", compression="nginx"))[1]
    assert "gzip_proxied any;" in compressed and "gzip off;" not in compressed


def _location_body(nginx: str, prefix: str) -> str:
    """The text of ``location PREFIX { ... }`` up to its closing brace, nested blocks included."""
    start = nginx.index(f"location {prefix} {{")
    depth = 0
    for index in range(nginx.index("{", start), len(nginx)):
        depth += {"{": 1, "}": -1}.get(nginx[index], 0)
        if depth == 0:
            return nginx[start : index + 1]
    raise AssertionError(f"unclosed location {prefix}")


def test_request_bodies_are_buffered_with_client_limits() -> None:
    nginx = render_file("nginx", DeploySettings("x"))[1]
    assert _one(r"^    client_header_timeout (\w+);", nginx) == "15s"
    assert _one(r"^    client_body_timeout (\w+);", nginx) == "30s"
    assert _one(r"^    client_body_buffer_size (\w+);", nginx) == "64k"
    assert _one(r"^\s*proxy_request_buffering (\w+);", nginx) == "on"
    assert "proxy_request_buffering on;" in _location_body(nginx, "/")
    custom = DeploySettings(
        "x", client_header_timeout=5, client_body_timeout=12, client_body_buffer_size=2**20
    )
    nginx = render_file("nginx", custom)[1]
    assert "client_header_timeout 5s;" in nginx and "client_body_timeout 12s;" in nginx
    assert "client_body_buffer_size 1m;" in nginx


def test_streaming_locations_are_nested_in_the_proxied_location() -> None:
    settings = DeploySettings("my.app", streaming_locations=("/api/upload/", "/ingest"))
    nginx = render_file("nginx", settings)[1]
    root = _location_body(nginx, "/")
    for prefix in settings.streaming_locations:
        nested = _location_body(nginx, prefix)
        assert nested in root  # nested, so it inherits proxy_set_header, gzip and the rest
        lines = [line.strip() for line in nested.splitlines()[1:-1]]
        assert lines == ["proxy_pass http://my_app_app;", "proxy_request_buffering off;"]
    assert nginx.count("proxy_request_buffering off;") == 2
    assert "\n\n\n" not in nginx
    # Without any, no trace of them.
    plain = render_file("nginx", DeploySettings("my.app"))[1]
    assert "proxy_request_buffering off;" not in plain
    assert "Streaming locations" not in plain
    # A prefix beside a static location (not under it) is fine.
    DeploySettings("x", streaming_locations=("/static",))
    DeploySettings("x", static_root="", streaming_locations=("/static/uploads/",))


def test_optional_locations_can_be_left_out() -> None:
    nginx = render_file("nginx", DeploySettings("x", static_root="", accel_root=""))[1]
    assert "alias" not in nginx and "internal;" not in nginx
    assert "{{" not in nginx and "\n\n\n" not in nginx


def test_render_kinds() -> None:
    settings = DeploySettings("shop")
    assert list(render("systemd", settings)) == ["shop.service", "shop.socket"]
    assert list(render("all", settings)) == [
        "shop.conf",
        "shop.service",
        "shop.socket",
        "gunicorn.conf.py",
    ]


# -- command line -----------------------------------------------------------------------------


def test_cli_prints_a_ready_config() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "runtime.deploy", "nginx", "--name", "shop", "--server-name",
         "shop.example.com", "--client-max-size", "20m", "--upstream", "10.0.0.5:8000",
         "--client-body-buffer-size", "128k", "--client-body-timeout", "20",
         "--client-header-timeout", "10", "--streaming-location", "/api/upload/",
         "--streaming-location", "/ingest/"],
        capture_output=True, text=True, env=python_env(), timeout=30, check=True,
    )  # fmt: skip
    assert "server_name shop.example.com;" in proc.stdout
    assert "client_max_body_size 20m;" in proc.stdout
    assert "server 10.0.0.5:8000 max_fails=3" in proc.stdout
    assert "client_body_buffer_size 128k;" in proc.stdout
    assert "client_body_timeout 20s;" in proc.stdout
    assert "client_header_timeout 10s;" in proc.stdout
    assert "location /api/upload/ {" in proc.stdout and "location /ingest/ {" in proc.stdout
    assert "#   python -m runtime.deploy nginx --name shop" in proc.stdout


def test_cli_refuses_bad_values(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nginx", "--name", "bad name"]) == 2
    assert "error: name 'bad name'" in capsys.readouterr().err
    assert main(["nginx", "--name", "x", "--streaming-location", "/static/up/"]) == 2
    assert "is inside '/static/'" in capsys.readouterr().err
    assert main(["nginx", "--name", "x", "--client-body-buffer-size", "lots"]) == 2
    assert "invalid size 'lots'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["nginx"])  # --name is required
    capsys.readouterr()


def test_cli_writes_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["all", "--name", "shop", "-o", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["gunicorn.conf.py", "shop.conf", "shop.service", "shop.socket"]
    header = (tmp_path / "shop.service").read_text().splitlines()[1]
    assert header == "#   python -m runtime.deploy service --name shop"
    capsys.readouterr()


def test_cli_prints_several_files_with_separators(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["systemd", "--name", "shop"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# ==> shop.service <==\n")
    assert "\n# ==> shop.socket <==\n" in out


# -- the repository's deploy/ files ---------------------------------------------------------


def test_deploy_examples_are_up_to_date(tmp_path: Path) -> None:
    """deploy/ holds the templates rendered with example values, for people to read."""
    write_examples(tmp_path)
    for example in EXAMPLES:
        committed = ROOT / "deploy" / example.path
        assert committed.exists(), f"missing {committed}"
        assert committed.read_text() == (tmp_path / example.path).read_text(), (
            f"deploy/{example.path} is stale: run `python -m runtime.deploy examples deploy`"
        )


def test_templates_are_package_data() -> None:
    """An installed (non-editable) package must carry the templates."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["runtime"]
    assert "deploy/templates/*" in patterns
    templates = ROOT / "runtime" / "deploy" / "templates"
    assert sorted(p.name for p in templates.iterdir()) == [
        "gunicorn.conf.py.tmpl",
        "nginx.conf.tmpl",
        "service.tmpl",
        "socket.tmpl",
    ]
