"""Render the deploy templates (package data in ``runtime/deploy/templates/``) into files."""

from __future__ import annotations

import dataclasses
import shlex
from importlib import resources

from .settings import DeploySettings
from .templating import render_template

__all__ = ["EXAMPLES", "FILE_KINDS", "KINDS", "Example", "render", "render_file"]

# kind -> (template, file name pattern); a file name is formatted with the settings.
FILE_KINDS: dict[str, tuple[str, str]] = {
    "nginx": ("nginx.conf.tmpl", "{name}.conf"),
    "service": ("service.tmpl", "{name}.service"),
    "socket": ("socket.tmpl", "{name}.socket"),
    "gunicorn": ("gunicorn.conf.py.tmpl", "gunicorn.conf.py"),
}
# What each command-line kind renders.
KINDS: dict[str, tuple[str, ...]] = {
    **{kind: (kind,) for kind in FILE_KINDS},
    "systemd": ("service", "socket"),
    "all": ("nginx", "service", "socket", "gunicorn"),
}


def _template(filename: str) -> str:
    return resources.files(__package__).joinpath("templates", filename).read_text("utf-8")


def _header(argv: list[str], width: int = 96) -> str:
    """Comment lines saying how the file was rendered, wrapped between arguments."""
    lines = ["# Rendered by:"]
    line = "#  "
    for word in map(shlex.quote, argv):
        if len(line) + len(word) + 3 > width:
            lines.append(line + " \\")
            line = "#    "
        line += " " + word
    lines.append(line)
    lines.append("# Change the options and render again rather than editing this file.")
    return "\n".join(lines)


def render_file(kind: str, settings: DeploySettings, *, options: str = "") -> tuple[str, str]:
    """Render one file.

    Args:
        kind: one of :data:`FILE_KINDS` (``nginx``, ``service``, ``socket``, ``gunicorn``).
        settings: the deployment.
        options: the command-line options to show in the file's header, so the file says how
            to render it again.

    Returns:
        ``(file name, text)``.

    Raises:
        KeyError: for an unknown kind.
    """
    template, pattern = FILE_KINDS[kind]
    header = _header(["python", "-m", "runtime.deploy", kind, *shlex.split(options)])
    text = render_template(_template(template), settings.context(header))
    return pattern.format(name=settings.name), text


def render(kind: str, settings: DeploySettings, *, options: str = "") -> dict[str, str]:
    """Render what a command-line kind names (``systemd`` is the service and the socket).

    Returns:
        File name -> text, in a stable order.

    Raises:
        KeyError: for an unknown kind.
    """
    return dict(render_file(k, settings, options=options) for k in KINDS[kind])


@dataclasses.dataclass(frozen=True)
class Example:
    """A file in the repository's ``deploy/`` directory, rendered from the templates."""

    path: str
    kind: str
    argv: tuple[str, ...]


# deploy/ holds these, rendered with example values; tests/deploy checks they are up to date
# and `python -m runtime.deploy examples deploy` writes them again.
_EXAMPLE_BASE = ("--name", "myapp", "--server-name", "example.com www.example.com")
# An application using runtime.cluster: Redis on the same host, or on the nginx host (10.0.0.10)
# shared by the application hosts.
_WITH_REDIS = (*_EXAMPLE_BASE, "--redis-url", "redis://127.0.0.1:6379/0")
_HOST = "10.0.0.11:8000"
_APP_HOST = ("--name", "myapp", "--bind", _HOST, "--redis-url", "redis://10.0.0.10:6379/0")
EXAMPLES: tuple[Example, ...] = (
    Example("nginx/myapp.conf", "nginx", _EXAMPLE_BASE),
    Example(
        "nginx/myapp-multihost.conf",
        "nginx",
        (*_EXAMPLE_BASE, "--upstream", "10.0.0.11:8000", "--upstream", "10.0.0.12:8000"),
    ),
    Example("systemd/myapp.service", "service", _WITH_REDIS),
    Example("systemd/myapp.socket", "socket", _EXAMPLE_BASE),
    Example("systemd/gunicorn.conf.py", "gunicorn", _WITH_REDIS),
    Example("systemd/multihost/myapp.service", "service", _APP_HOST),
    Example("systemd/multihost/myapp.socket", "socket", ("--name", "myapp", "--bind", _HOST)),
    Example(
        "systemd/multihost/gunicorn.conf.py",
        "gunicorn",
        (*_APP_HOST, "--forwarded-allow-ips", "10.0.0.10"),
    ),
)
