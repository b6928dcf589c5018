"""Replay every case of the request corpus (tests/http/requests/) whole, byte by byte and in
seeded random pieces; each replay must give exactly the outcome the case states."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.http.corpus import (
    Case,
    CorpusError,
    decode_escapes,
    load_case,
    load_corpus,
    replay,
    split,
)

CASES = load_corpus()
MODES = ("whole", "bytewise", "seed-1", "seed-2", "seed-3", "seed-4")
# A request that parses anywhere: fed after an error, it must not be reported.
PROBE = b"GET /probe HTTP/1.1\r\nHost: example.com\r\n\r\n"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_case(case: Case, mode: str) -> None:
    pieces = split(case.data, mode)
    assert b"".join(pieces) == case.data

    result = replay(pieces, case.limits)

    assert result.outcome == case.expected
    assert result.recorder.violations == []
    if case.valid:
        # Nothing half-parsed is left behind once every request is complete.
        assert not result.parser.in_head
    else:
        # The error ends HTTP parsing on this connection: nothing after it is reported.
        reported = len(result.recorder)
        try:
            result.parser.feed(PROBE)
        except Exception:
            pass  # refusing again is fine (test_parser checks how); reporting PROBE is not
        assert len(result.recorder) == reported


def test_corpus_size() -> None:
    valid = [case for case in CASES if case.valid]
    invalid = [case for case in CASES if not case.valid]
    assert len(valid) >= 40
    assert len(invalid) >= 100


def test_every_status_is_covered() -> None:
    statuses = {case.expected.status for case in CASES}
    assert statuses == {None, 400, 414, 431, 505}


def test_case_names_are_unique_across_folders() -> None:
    stems = [case.path.stem for case in CASES]
    assert len(stems) == len(set(stems))


# -- the loader itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "data"),
    [
        ("GET / HTTP/1.1\\r\\n", b"GET / HTTP/1.1\r\n"),
        ("a\\tb\\0c\\\\d", b"a\tb\x00c\\d"),
        ("caf\\xe9", b"caf\xe9"),
        ("chun\\u212aed", "chun\u212aed".encode()),
        ("\u00e9", b"\xc3\xa9"),
        ("/\\{3*ab}/", b"/ababab/"),
        ("\\{2*X: 1\\r\\n}", b"X: 1\r\nX: 1\r\n"),
    ],
)
def test_decode_escapes(text: str, data: bytes) -> None:
    assert decode_escapes(text) == data


@pytest.mark.parametrize("text", ["\\q", "\\x4", "\\u12", "trailing\\", '\\"'])
def test_decode_escapes_rejects_unknown(text: str) -> None:
    with pytest.raises(CorpusError):
        decode_escapes(text)


@pytest.mark.parametrize(
    ("folder", "content", "complaint"),
    [
        ("valid", '[[message]]\nmethod = "GET"\ntarget = "/"\nheaderz = []\n---\nX', "unknown"),
        ("valid", '[[message]]\nmethod = "GET"\ntarget = "/"\n', "'---'"),
        ("valid", "status = 400\n---\nX", "no status"),
        ("invalid", "status = 404\n---\nX", "status must be"),
        ("invalid", 'status = 400\n[[message]]\nmethod = "GET"\n---\nX', "target is required"),
        ("valid", '[[message]]\nmethod = "GET"\ntarget = "/"\nupgrade = 1\n---\nX', "bool"),
        ("elsewhere", '[[message]]\nmethod = "GET"\ntarget = "/"\n---\nX', "valid/ or invalid/"),
    ],
)
def test_loader_rejects_malformed_cases(
    tmp_path: Path, folder: str, content: str, complaint: str
) -> None:
    path = tmp_path / folder / "case.http"
    path.parent.mkdir()
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CorpusError, match=complaint):
        load_case(path, tmp_path)
