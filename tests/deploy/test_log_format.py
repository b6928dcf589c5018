"""``--log-format json|console``: the gunicorn config renders the one-log-shape factory
(docs/observability.md) and gunicorn accepts what it renders."""

from __future__ import annotations

import pytest
from gunicorn.config import Config

from runtime.deploy.__main__ import _parser, settings_from_args
from runtime.deploy.render import render_file
from runtime.deploy.settings import DeploySettings
from runtime.workers import LOGGER_CLASS


def _config(settings: DeploySettings) -> Config:
    namespace: dict[str, object] = {}
    exec(compile(render_file("gunicorn", settings)[1], "gunicorn.conf.py", "exec"), namespace)
    cfg = Config()
    for name in ("logconfig_dict", "logger_class"):
        cfg.set(name, namespace[name])  # gunicorn's validators
    return cfg


@pytest.mark.parametrize(("log_format", "json"), [("json", True), ("console", False)])
def test_the_log_format_is_rendered(log_format: str, json: bool) -> None:
    args = _parser().parse_args(["gunicorn", "--name", "myapp", "--log-format", log_format])
    cfg = _config(settings_from_args(args))
    formatter = cfg.logconfig_dict["formatters"]["berth"]
    assert formatter["json"] is json
    assert {"gunicorn.error", "gunicorn.access", "runtime"} <= cfg.logconfig_dict["loggers"].keys()
    assert cfg.logger_class is not None
    assert cfg.settings["logger_class"].value == LOGGER_CLASS


def test_json_is_the_default() -> None:
    args = _parser().parse_args(["gunicorn", "--name", "myapp"])
    assert settings_from_args(args).log_format == "json"
    assert _config(DeploySettings("myapp")).logconfig_dict["formatters"]["berth"]["json"] is True


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="log_format"):
        DeploySettings("myapp", log_format="xml")  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        _parser().parse_args(["gunicorn", "--name", "myapp", "--log-format", "xml"])
