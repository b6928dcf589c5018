"""Deployment files for gunicorn + nginx + systemd, rendered from one set of settings.

``python -m runtime.deploy nginx|systemd|gunicorn --name NAME ...`` prints them; see
``docs/deploy.md``. The templates are package data in ``runtime/deploy/templates/``.
"""

from __future__ import annotations

from .render import EXAMPLES, FILE_KINDS, KINDS, render, render_file
from .settings import DeploySettings, parse_size
from .templating import TemplateError, render_template

__all__ = [
    "EXAMPLES",
    "FILE_KINDS",
    "KINDS",
    "DeploySettings",
    "TemplateError",
    "parse_size",
    "render",
    "render_file",
    "render_template",
]
