"""A urlencoded form whose charset cannot be used is a 415, never a 500.

Found by the fuzzer (tests/fuzz): a byte flipped in ``charset=utf-8`` gave a charset name
with a non-ASCII byte (kept as a surrogate), which the codec lookup refuses with
UnicodeEncodeError rather than LookupError, so ``request.post()`` answered 500.
"""

from __future__ import annotations

from typing import Any

import pytest

from runtime.testing.pytest_plugin import ServerFactory
from runtime.web.request import BaseRequest
from tests.support import build_request
from tests.web.support import raw_probe


async def _form(request: BaseRequest) -> Any:
    return dict(await request.post())


@pytest.mark.parametrize(
    "charset",
    ["ut\udce6-8", "\udcff", "ut\xe6-8", "no-such"],
    ids=["lone-byte-e6", "lone-byte-ff", "utf8-ae", "unknown"],
)
async def test_unusable_form_charset_is_415(make_raw_server: ServerFactory, charset: str) -> None:
    # build_request writes the head as UTF-8 with surrogateescape: "\udce6" is the lone
    # byte 0xE6 on the wire (not UTF-8), which the server reads back as that surrogate.
    headers = [("Content-Type", f"application/x-www-form-urlencoded; charset={charset}")]
    data = build_request("POST", "/", headers, b"a=1")
    response, form = await raw_probe(make_raw_server, _form, data)
    assert response.status == 415, response.body
    assert form is None


async def test_the_415_shows_the_charset_as_received(make_raw_server: ServerFactory) -> None:
    headers = [("Content-Type", "application/x-www-form-urlencoded; charset=ut\udce6-8")]
    data = build_request("POST", "/", headers, b"a=1")
    response, _ = await raw_probe(make_raw_server, _form, data)
    assert response.body == b"Unsupported form charset 'ut\\xe6-8'"
