"""A tiny, strict template language for the deploy templates.

nginx and systemd both use ``$`` and nginx uses braces, so neither ``string.Template`` nor
``str.format`` fits. The language is a small subset of Mustache:

- ``{{ name }}`` is replaced by the value of ``name`` (an unknown name is an error);
- ``{{#name}}`` ... ``{{/name}}`` keeps its body only when ``name`` is truthy;
- ``{{^name}}`` ... ``{{/name}}`` keeps its body only when ``name`` is falsy.

A tag alone on its line takes the whole line with it, so sections do not leave blank lines.
Sections do not nest with the same name; they may nest with different names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

__all__ = ["TemplateError", "render_template"]


class TemplateError(ValueError):
    """A template refers to an unknown name or has unbalanced sections."""


# A section tag alone on its line (with its indentation and newline) or anywhere inline.
_SECTION = re.compile(
    r"(?P<lead>^[ \t]*)?\{\{(?P<kind>[#^])\s*(?P<name>\w+)\s*\}\}(?(lead)[ \t]*\n)"
    r"(?P<body>.*?)"
    r"(?:^[ \t]*\{\{/\s*(?P=name)\s*\}\}[ \t]*\n|\{\{/\s*(?P=name)\s*\}\})",
    re.DOTALL | re.MULTILINE,
)
_VARIABLE = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_LEFTOVER = re.compile(r"\{\{.*?\}\}")


def _sections(text: str, context: Mapping[str, object]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in context:
            raise TemplateError(f"unknown section {name!r}")
        keep = bool(context[name]) == (match["kind"] == "#")
        return _sections(match["body"], context) if keep else ""

    return _SECTION.sub(replace, text)


def render_template(text: str, context: Mapping[str, object]) -> str:
    """Render ``text`` with ``context``.

    Args:
        text: the template.
        context: the values; each is converted with ``str()``.

    Returns:
        The rendered text.

    Raises:
        TemplateError: on an unknown name or a tag left over (an unclosed section).
    """
    text = _sections(text, context)

    def variable(match: re.Match[str]) -> str:
        name = match[1]
        if name not in context:
            raise TemplateError(f"unknown variable {name!r}")
        return str(context[name])

    text = _VARIABLE.sub(variable, text)
    leftover = _LEFTOVER.search(text)
    if leftover is not None:
        raise TemplateError(f"unbalanced or malformed tag {leftover[0]!r}")
    return text
