"""The HTTPxxx classes: one table, raised or returned, aiohttp's constructor arguments."""

from __future__ import annotations

import subprocess
import sys
import traceback
from http import HTTPStatus
from pathlib import Path

import pytest

from runtime.web import exceptions
from runtime.web.exceptions import (
    STATUS_TABLE,
    HTTPClientError,
    HTTPException,
    HTTPFound,
    HTTPMethodNotAllowed,
    HTTPNoContent,
    HTTPNotFound,
    HTTPRequestEntityTooLarge,
    HTTPServerError,
    HTTPUnauthorized,
    HTTPUnavailableForLegalReasons,
)


@pytest.mark.parametrize(("name", "status", "base"), STATUS_TABLE)
def test_every_table_row_is_a_class(name: str, status: int, base: str) -> None:
    cls = getattr(exceptions, name)
    assert cls.status_code == status
    assert cls.__mro__[1].__name__ == base
    assert issubclass(cls, HTTPException)
    assert name in exceptions.__all__
    # Reason phrases come from the standard table.
    assert cls().reason == HTTPStatus(status).phrase if status not in range(300, 309) else True


def test_generated_section_matches_the_table() -> None:
    source = Path(exceptions.__file__).read_text()
    start = source.index("# --- generated from STATUS_TABLE")
    end = source.index("# --- end of generated classes")
    generated = source[start:end].split("\n", 1)[1]
    assert generated.strip() == exceptions._generate().strip()
    out = subprocess.run(
        [sys.executable, "-m", "runtime.web.exceptions", "--generate"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == generated.strip()


def test_default_body_and_bases() -> None:
    exc = HTTPNotFound()
    assert exc.status == 404
    assert exc.text == "404: Not Found"
    assert isinstance(exc, HTTPClientError) and isinstance(exc, Exception)
    assert not isinstance(exc, HTTPServerError)
    assert HTTPNoContent().body is None  # no body for 204


def test_custom_text_reason_headers() -> None:
    exc = HTTPNotFound(text="nope", reason="Gone Fishing", headers={"X-A": "1"})
    assert exc.text == "nope" and exc.reason == "Gone Fishing"
    assert exc.headers["X-A"] == "1"
    assert str(exc) == "Gone Fishing"


def test_reason_with_line_breaks_refused() -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        HTTPNotFound(reason="bad\r\nSet-Cookie: x=1")


def test_redirect_needs_location() -> None:
    exc = HTTPFound("/next")
    assert exc.headers["Location"] == "/next"
    assert exc.location == "/next"
    with pytest.raises(ValueError):
        HTTPFound("")


def test_method_not_allowed_sets_allow() -> None:
    exc = HTTPMethodNotAllowed("put", ["GET", "POST"])
    assert exc.headers["Allow"] == "GET,POST"
    assert exc.method == "PUT"
    assert exc.allowed_methods == {"GET", "POST"}


def test_entity_too_large_message() -> None:
    exc = HTTPRequestEntityTooLarge(max_size=10, actual_size=20)
    assert exc.text == "Maximum request body size 10 exceeded, actual body size 20"


def test_unavailable_for_legal_reasons_link() -> None:
    exc = HTTPUnavailableForLegalReasons(link="https://example.org/why")
    assert exc.headers["Link"] == '<https://example.org/why>; rel="blocked-by"'
    assert str(exc.link) == "https://example.org/why"


def test_a_location_with_cr_or_lf_cannot_split_the_head() -> None:
    # As in aiohttp 3.14: the Location is parsed as a URL, which drops tabs, CR and LF.
    assert HTTPFound("/redirect\r\n").headers["Location"] == "/redirect"
    assert HTTPFound("/a\r\nSet-Cookie: x=1").headers["Location"] == "/aSet-Cookie:%20x=1"
    assert HTTPFound("/café?q=é").headers["Location"] == "/caf%C3%A9?q=%C3%A9"
    assert HTTPFound("/redirect\r\n").location == "/redirect\r\n"  # as given, as aiohttp


def test_a_binary_body_overrides_the_default_and_warns() -> None:
    page = "<html><body>Page not found</body></html>"
    with pytest.warns(DeprecationWarning, match="body argument is deprecated"):
        exc = HTTPNotFound(body=page.encode(), content_type="text/html")
    assert (exc.status, exc.body, exc.text) == (404, page.encode(), page)
    assert (exc.content_type, exc.charset) == ("text/html", None)


def test_unicode_text_bodies() -> None:
    exc = HTTPNotFound(text="Ünïcode ✓")
    assert (exc.body, exc.charset) == ("Ünïcode ✓".encode(), "utf-8")
    with pytest.warns(DeprecationWarning, match="body argument is deprecated") as record:
        unauthorized = HTTPUnauthorized(body="text")
    assert record[0].filename == __file__
    assert (unauthorized.status, unauthorized.text) == (401, "text")


def test_the_cause_is_kept() -> None:
    with pytest.raises(HTTPException) as info:
        try:
            raise LookupError("the real reason")
        except LookupError as exc:
            raise HTTPException() from exc  # the bare base class answers 500
    assert isinstance(info.value.__cause__, LookupError)
    report = "".join(traceback.format_exception(info.value))
    assert "the real reason" in report and "direct cause" in report
    assert (info.value.status, info.value.text) == (500, "500: Internal Server Error")
