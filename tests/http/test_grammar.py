"""runtime.http.grammar: each rule against examples from the RFCs that define it."""

from __future__ import annotations

import re

import pytest

from runtime.http import grammar


def full(source: str, text: str) -> bool:
    return re.fullmatch(source, text) is not None


# -- RFC 9110 5.6.2: token -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["GET", "gzip", "x-gzip", "text", "max-age", "!#$%&'*+-.^_`|~", "Az09", "M-SEARCH"],
)
def test_token_accepts(text: str) -> None:
    assert grammar.TOKEN_RE.fullmatch(text)
    assert grammar.METHOD_RE.fullmatch(text)
    assert grammar.FIELD_NAME_RE.fullmatch(text)
    assert grammar.FIELD_NAME_BYTES_RE.fullmatch(text.encode())


@pytest.mark.parametrize(
    "text",
    # Delimiters (RFC 9110 5.6.2: DQUOTE and "(),/:;<=>?@[\]{}"), whitespace, controls,
    # non-ASCII, and the empty string (token = 1*tchar).
    [
        "",
        "a b",
        "a\tb",
        '"a"',
        "a,b",
        "a;b",
        "a=b",
        "a:b",
        "a/b",
        "(a)",
        "a@b",
        "[a]",
        "{a}",
        "a\\b",
        "a?b",
        "<a>",
        "a\x00",
        "a\x7f",
        "caf\xe9",
        "\u212a",
    ],
)
def test_token_refuses(text: str) -> None:
    assert grammar.TOKEN_RE.fullmatch(text) is None
    assert grammar.METHOD_RE.fullmatch(text) is None
    assert grammar.FIELD_NAME_BYTES_RE.fullmatch(text.encode("utf-8")) is None


def test_tchar_is_exactly_the_rfc_set() -> None:
    allowed = {chr(c) for c in range(256) if re.fullmatch(grammar.tchar, chr(c))}
    expected = set("!#$%&'*+-.^_`|~0123456789")
    expected |= {chr(c) for c in range(ord("a"), ord("z") + 1)}
    expected |= {chr(c) for c in range(ord("A"), ord("Z") + 1)}
    assert allowed == expected


# -- RFC 9110 5.6.3: whitespace --------------------------------------------------------------


def test_whitespace_rules() -> None:
    for text in ("", " ", "\t", " \t  "):
        assert full(grammar.OWS, text)
        assert full(grammar.BWS, text)
    assert not full(grammar.RWS, "")
    assert full(grammar.RWS, " \t")
    for text in ("\r", "\n", "\x0b", "\xa0"):
        assert not full(grammar.OWS, text)
    assert grammar.OWS_CHARS == " \t"
    assert grammar.OWS_BYTES == b" \t"


# -- RFC 9110 5.6.4: quoted-string -----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '""',
        '"utf-8"',
        '"a \\"quoted\\" word"',
        '"tab\there"',
        '"back\\\\slash"',
        '"\\a"',  # any VCHAR may be escaped
        '"caf\xe9"',  # obs-text
        '"\\\xe9"',
        '"a, b; c=d"',
    ],
)
def test_quoted_string_accepts(text: str) -> None:
    assert grammar.QUOTED_STRING_RE.fullmatch(text)


@pytest.mark.parametrize(
    "text",
    [
        "utf-8",  # no quotes
        '"open',
        '"a"b"',  # a bare DQUOTE inside
        '"a\\"',  # the closing quote is escaped
        '"bare \\ space\\"',
        '"ctl\x01"',
        '"del\x7f"',
        '"escaped ctl \\\x01"',
        '"line\nbreak"',
    ],
)
def test_quoted_string_refuses(text: str) -> None:
    assert grammar.QUOTED_STRING_RE.fullmatch(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ('a \\"quoted\\" word', 'a "quoted" word'),
        ("back\\\\slash", "back\\slash"),
        # RFC 9110 5.6.4: "the octet following the backslash", whichever it is.
        ("C:\\dir\\file", "C:dirfile"),
        ("\\ \\\t", " \t"),
        ("\\\xe9", "\xe9"),
        ("end\\", "end\\"),  # no octet follows: no quoted-pair
        ("ctl\\\x01", "ctl\\\x01"),  # a control character cannot be escaped
    ],
)
def test_unescape_quoted_pairs(text: str, expected: str) -> None:
    assert grammar.unescape_quoted_pairs(text) == expected


# -- RFC 9110 12.4.2: qvalue and weight ------------------------------------------------------


@pytest.mark.parametrize("text", ["0", "0.", "0.5", "0.001", "0.999", "1", "1.", "1.0", "1.000"])
def test_qvalue_accepts(text: str) -> None:
    assert grammar.QVALUE_RE.fullmatch(text)


@pytest.mark.parametrize(
    "text", ["", ".5", "1.001", "1.5", "2", "0.1234", "-0", "+1", "01", "0,5", " 1", "1e0"]
)
def test_qvalue_refuses(text: str) -> None:
    assert grammar.QVALUE_RE.fullmatch(text) is None


@pytest.mark.parametrize("text", [";q=1", "; q=0.5", " ;q=0", ";Q=0.8", "\t;\tq=1.000"])
def test_weight_accepts(text: str) -> None:
    assert full(grammar.weight, text)


@pytest.mark.parametrize("text", ["q=1", ";q = 1", ";q=", ";level=1", ";q=1.5"])
def test_weight_refuses(text: str) -> None:
    assert not full(grammar.weight, text)


# -- RFC 9110 5.6.6: parameters --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        ";charset=utf-8",  # RFC 9110 8.3.1: the four equivalent examples
        ";charset=UTF-8",
        ';Charset="utf-8"',
        '; charset="utf-8"',
        ";a=1 ; b=2",
        ";",  # an empty parameter is allowed: [ parameter ]
        ";a=1;;b=2",
        ';title="a \\"b\\""',
    ],
)
def test_parameters_accepts(text: str) -> None:
    assert full(grammar.parameters, text)


@pytest.mark.parametrize(
    "text",
    [
        "charset=utf-8",  # no ";"
        ";charset = utf-8",  # RFC 9110 5.6.6: no whitespace around "="
        ";charset=",
        ";=utf-8",
        ";charset=utf 8",
        ';name="unterminated',
        ";flag",  # a name alone is not a parameter
    ],
)
def test_parameters_refuses(text: str) -> None:
    assert not full(grammar.parameters, text)


def test_parameter_value_is_token_or_quoted_string() -> None:
    assert full(grammar.parameter_value, "utf-8")
    assert full(grammar.parameter_value, '"a, b"')
    assert not full(grammar.parameter_value, "a, b")
    assert full(grammar.parameter, 'for="[2001:db8::1]:4711"')  # RFC 7239 4 example
    assert not full(grammar.parameter, "for=[2001:db8::1]")


# -- RFC 9110 8.8.3: entity tags -------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "xyzzy", "r2d2xxxx", "c3piozzzz", "a,b", "W/x", "\xe9"])
def test_etagc_accepts(text: str) -> None:
    assert grammar.ETAGC_RE.fullmatch(text)


@pytest.mark.parametrize("text", ['"', 'a"b', "a b", "tab\t", "\x7f", "\x00", "\u20ac"])
def test_etagc_refuses(text: str) -> None:
    assert grammar.ETAGC_RE.fullmatch(text) is None


# -- composition -----------------------------------------------------------------------------


def test_sources_compose_and_serve_both_forms() -> None:
    # No capturing groups: a composed pattern's groups are the composer's own.
    names = ("token", "quoted_string", "qvalue", "weight", "parameter", "parameters", "etagc")
    for name in names:
        source = getattr(grammar, name)
        assert re.compile(source).groups == 0, name
        assert source.isascii(), name  # so that the bytes form is the same source
        assert re.compile(source.encode("ascii")).groups == 0
    obs = re.compile(grammar.obs_text)
    assert obs.fullmatch("\x80") and obs.fullmatch("\xff") and not obs.fullmatch("\u0100")
    assert re.compile(grammar.obs_text.encode()).fullmatch(b"\xff")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("gzip", "gzip"),
        ("caf\u00e9", "caf\u00e9"),  # UTF-8 text stays as it is
        ("100-continu\udce5", "100-continu\\xe5"),  # the octet 0xE5, not UTF-8
        ("\udcff\udcfe", "\\xff\\xfe"),
    ],
)
def test_displayed_field_value_writes_octets_that_are_not_utf8_as_escapes(
    value: str, shown: str
) -> None:
    assert grammar.displayed_field_value(value) == shown
    shown.encode("utf-8")  # a response body can carry it
