"""Parameters of MIME-style header values: ``Content-Type``, ``Content-Disposition``.

``type/subtype; name=value; name="quoted value"`` (RFC 9110 5.6.6), with the extended
notation of RFC 2231 / RFC 5987 (``filename*=UTF-8''%E2%82%AC.txt``) and its numbered
continuations (``name*0``, ``name*1*``).
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import quote, unquote_to_bytes

from .grammar import BWS, OWS, TOKEN_RE, unescape_quoted_pairs

__all__ = ["format_disposition", "parse_content_type", "parse_header_params"]

# One ``; name=value`` parameter (RFC 9110 5.6.6); value is a quoted-string (group 2) or raw
# text (group 3). Read more loosely than the grammar on purpose: names need not be tokens,
# whitespace may surround "=", and a quoted value may hold any character but an unescaped
# DQUOTE (browsers send file names as UTF-8 text, past the grammar's obs-text).
_PARAM: Final = re.compile(rf';{OWS}([^\s=;"]+){BWS}={BWS}(?:"((?:[^"\\]|\\.)*)"|([^;]*))')
# RFC 2231 3: a parameter split in numbered sections, ``name*0``, ``name*1*``, ...
_SECTION: Final = re.compile(r"(.+?)\*([0-9]+)(\*?)")


def parse_header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a ``Content-Type`` or ``Content-Disposition`` value into its type and parameters.

    Quoted values are unquoted; RFC 2231 / RFC 5987 extended values (``filename*=UTF-8''...``)
    and continuations (``name*0``, ``name*1``) are decoded and take the place of the plain
    value of the same name (RFC 6266 4.3).

    Args:
        value: the header value.

    Returns:
        The lower-cased type and the parameters, names lower-cased.

    Raises:
        ValueError: a parameter appears twice (an ambiguity attackers use to smuggle names).
    """
    kind = value.partition(";")[0]
    plain: dict[str, str] = {}
    extended: dict[str, str] = {}
    sections: dict[str, dict[int, tuple[str, bool]]] = {}
    seen: set[str] = set()
    for match in _PARAM.finditer(value, len(kind)):
        key = match.group(1).lower()
        if key in seen:
            raise ValueError(f"parameter {key!r} appears twice")
        seen.add(key)
        quoted = match.group(2)
        text = unescape_quoted_pairs(quoted) if quoted is not None else match.group(3).strip()
        section = _SECTION.fullmatch(key)
        if section is not None:
            name, number, star = section.groups()
            sections.setdefault(name, {})[int(number)] = (text, bool(star))
        elif key.endswith("*"):
            extended[key[:-1]] = text
        else:
            plain[key] = text
    params = plain
    for name, parts in sections.items():
        joined = _join_sections(parts)
        if joined is not None:
            params[name] = joined
    for name, text in extended.items():
        decoded = _decode_ext_value(text)
        if decoded is not None:
            params[name] = decoded
    return kind.strip().lower(), params


def _decode_ext_value(text: str) -> str | None:
    """RFC 5987 3.2.1 ``charset'language'pct-encoded``; None when it does not decode."""
    charset, _, rest = text.partition("'")
    _, quote, encoded = rest.partition("'")
    if not quote:
        return None
    try:
        return unquote_to_bytes(encoded).decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return None


def _join_sections(parts: dict[int, tuple[str, bool]]) -> str | None:
    """RFC 2231 3-4: join ``name*0``, ``name*1``... up to the first missing number."""
    charset = "utf-8"
    chunks = []
    for number in range(len(parts)):
        if number not in parts:
            break
        text, encoded = parts[number]
        if encoded and number == 0:
            # Only the first section carries ``charset'language'`` (RFC 2231 4.1).
            charset_part, _, rest = text.partition("'")
            charset = charset_part or charset
            text = rest.partition("'")[2]
        chunks.append(unquote_to_bytes(text) if encoded else text.encode("utf-8"))
    try:
        return b"".join(chunks).decode(charset)
    except (LookupError, UnicodeDecodeError):
        return None


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """``"text/html; charset=UTF-8"`` -> ``("text/html", {"charset": "UTF-8"})``.

    The lenient split the ``content_type``/``charset`` properties use (a repeated parameter
    is not an error here; the last one wins).
    """
    mimetype, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for part in rest.split(";"):
        key, sep, val = part.partition("=")
        if sep:
            params[key.strip().lower()] = val.strip().strip('"')
    return mimetype.strip().lower(), params


def format_disposition(kind: str, **params: str) -> str:
    """A ``Content-Disposition`` value: ``kind`` and its parameters, for any characters.

    ASCII values go as tokens or quoted-strings (RFC 9110 5.6.6); a value with other
    characters also gets the RFC 8187 ``name*=UTF-8''...`` form, after an ASCII fallback
    for clients that do not read it (RFC 6266 4.3).

    Raises:
        ValueError: ``kind`` or a parameter name is not a token, or a value holds a
            control character (it could split the header).
    """
    if TOKEN_RE.fullmatch(kind) is None:
        raise ValueError(f"invalid disposition type {kind!r}")
    parts = [kind]
    for name, value in params.items():
        if TOKEN_RE.fullmatch(name) is None:
            raise ValueError(f"invalid disposition parameter name {name!r}")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
            raise ValueError(f"invalid {name} {value!r}")
        fallback = value.encode("ascii", "replace").decode("ascii")
        parts.append(f"{name}={_quoted(fallback)}")
        if fallback != value:
            parts.append(f"{name}*=UTF-8''{quote(value, safe='', encoding='utf-8')}")
    return "; ".join(parts)


def _quoted(value: str) -> str:
    # Always a quoted-string, even for a token: some clients read only quoted file names.
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
