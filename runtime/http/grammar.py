"""The HTTP grammar this code matches, each ABNF rule written once.

Every rule is a regular-expression source string named after its ABNF rule and annotated
with the RFC section that defines it, so bigger patterns compose the smaller ones with
f-strings. The sources have no capturing groups, and are ASCII only (``obs-text`` is
written ``\\x80-\\xff``), so that one source serves both forms:

- compiled as ``str`` (``*_RE``), for header values decoded to text;
- encoded and compiled as ``bytes`` (``*_BYTES_RE``), for what is parsed as bytes.

In ``str`` form, ``obs-text`` matches U+0080-U+00FF: the octets 0x80-0xFF as Latin-1 text.
Header values here are decoded as UTF-8, so a character past U+00FF is not ``obs-text`` to
these patterns.

The protocol's bytes layer: nothing here imports asyncio or the rest of ``runtime``.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "BWS",
    "ETAGC_RE",
    "FIELD_NAME_BYTES_RE",
    "FIELD_NAME_RE",
    "METHOD_RE",
    "OWS",
    "OWS_BYTES",
    "OWS_CHARS",
    "QUOTED_PAIR_RE",
    "QUOTED_STRING_RE",
    "QVALUE_RE",
    "RWS",
    "TOKEN_RE",
    "displayed_field_value",
    "etagc",
    "field_name",
    "method",
    "obs_text",
    "parameter",
    "parameter_name",
    "parameter_value",
    "parameters",
    "qdtext",
    "quoted_pair",
    "quoted_string",
    "qvalue",
    "tchar",
    "token",
    "unescape_quoted_pairs",
    "weight",
]

# -- character ranges (bodies of a character class, to combine inside "[...]") -------------

_VCHAR: Final = "!-~"  # RFC 5234 B.1: VCHAR = %x21-7E
_OBS_TEXT: Final = r"\x80-\xff"  # RFC 9110 5.5: obs-text = %x80-FF

obs_text: Final = rf"[{_OBS_TEXT}]"  # RFC 9110 5.5

# -- tokens ----------------------------------------------------------------------------------

# RFC 9110 5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" /
# "_" / "`" / "|" / "~" / DIGIT / ALPHA
tchar: Final = r"[-!#$%&'*+.^_`|~0-9A-Za-z]"
token: Final = rf"{tchar}+"  # RFC 9110 5.6.2: token = 1*tchar

# -- whitespace ------------------------------------------------------------------------------

OWS: Final = r"[ \t]*"  # RFC 9110 5.6.3: OWS = *( SP / HTAB )
RWS: Final = r"[ \t]+"  # RFC 9110 5.6.3: RWS = 1*( SP / HTAB )
BWS: Final = OWS  # RFC 9110 5.6.3: BWS = OWS
#: The characters of OWS, for ``str.strip``; :data:`OWS_BYTES` for ``bytes.strip``.
OWS_CHARS: Final = " \t"
OWS_BYTES: Final = OWS_CHARS.encode("ascii")

# -- quoted strings --------------------------------------------------------------------------

# RFC 9110 5.6.4: qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text
qdtext: Final = rf"[\t !#-\[\]-~{_OBS_TEXT}]"
# RFC 9110 5.6.4: quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
_ESCAPED: Final = rf"[\t {_VCHAR}{_OBS_TEXT}]"
quoted_pair: Final = rf"\\{_ESCAPED}"
# RFC 9110 5.6.4: quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE
quoted_string: Final = rf'"(?:{qdtext}|{quoted_pair})*"'

# -- weights ---------------------------------------------------------------------------------

# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
qvalue: Final = r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)"
# RFC 9110 12.4.2: weight = OWS ";" OWS "q=" qvalue ("q" is case-insensitive, RFC 5234 2.3)
weight: Final = rf"{OWS};{OWS}[qQ]={qvalue}"

# -- parameters ------------------------------------------------------------------------------

parameter_name: Final = token  # RFC 9110 5.6.6: parameter-name = token
# RFC 9110 5.6.6: parameter-value = ( token / quoted-string )
parameter_value: Final = rf"(?:{token}|{quoted_string})"
# RFC 9110 5.6.6: parameter = parameter-name "=" parameter-value
parameter: Final = rf"{parameter_name}={parameter_value}"
# RFC 9110 5.6.6: parameters = *( OWS ";" OWS [ parameter ] )
parameters: Final = rf"(?:{OWS};{OWS}(?:{parameter})?)*"

# -- entity tags -----------------------------------------------------------------------------

# RFC 9110 8.8.3: etagc = %x21 / %x23-7E / obs-text (VCHAR but DQUOTE, and obs-text)
etagc: Final = rf"[!#-~{_OBS_TEXT}]"

# -- message parts ---------------------------------------------------------------------------

field_name: Final = token  # RFC 9110 5.1: field-name = token
method: Final = token  # RFC 9110 9.1: method = token

# -- compiled --------------------------------------------------------------------------------


def _bytes(source: str) -> re.Pattern[bytes]:
    """The bytes form of a rule: the same ASCII source, compiled for bytes."""
    return re.compile(source.encode("ascii"))


TOKEN_RE: Final = re.compile(token)
#: Zero or more etagc: what may stand between an entity-tag's quotes.
ETAGC_RE: Final = re.compile(rf"{etagc}*")
FIELD_NAME_RE: Final = re.compile(field_name)
FIELD_NAME_BYTES_RE: Final = _bytes(field_name)
METHOD_RE: Final = re.compile(method)
QUOTED_STRING_RE: Final = re.compile(quoted_string)
#: One quoted-pair, the escaped character in group 1.
QUOTED_PAIR_RE: Final = re.compile(rf"\\({_ESCAPED})")
QVALUE_RE: Final = re.compile(qvalue)


def unescape_quoted_pairs(text: str) -> str:
    """The text between a quoted-string's quotes as it reads: each quoted-pair replaced by
    the character after its backslash (RFC 9110 5.6.4).

    Args:
        text: the content of a quoted-string, without the quotes.

    Returns:
        The unescaped text. A backslash that starts no quoted-pair (one before a control
        character, or at the end) is kept.
    """
    if "\\" not in text:
        return text
    return QUOTED_PAIR_RE.sub(r"\1", text)


def displayed_field_value(value: str) -> str:
    """A received field value as an error message may quote it.

    Field values may carry obs-text (RFC 9110 5.5), octets that need not be UTF-8. Decoded
    here with ``surrogateescape`` (runtime/http/message.py), such an octet becomes a lone
    surrogate, which no response body can encode. This writes each as ``\\xNN`` instead,
    the octet as it arrived.

    Args:
        value: a field value as ``request.headers`` gives it.

    Returns:
        Text that encodes as UTF-8: the value itself when it had no such octet.
    """
    if value.isascii():
        return value
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
