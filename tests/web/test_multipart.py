"""Multipart reading: exact bytes fed whole, byte by byte and in random chunks; the stdlib
``email`` package as an independent producer; ``read_form`` limits through a real server."""

from __future__ import annotations

import asyncio
import base64
import gzip
import quopri
import random
import tempfile
import zlib
from collections.abc import AsyncIterator, Iterator
from email import policy
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import pytest
from multidict import MultiDictProxy

from runtime.http.content_decoding import ContentDecoder
from runtime.http.header_params import parse_header_params
from runtime.server.streams import StreamReader
from runtime.web.exceptions import HTTPRequestHeaderFieldsTooLarge
from runtime.web.multipart import BodyPartReader, MultipartReader
from runtime.web.request import BaseRequest, FileField
from tests.web.support import ClientFactory, Probe

CHUNKINGS = ["whole", "bytewise", "random"]
FORM = 'multipart/form-data; boundary="xyz"'


def pieces(body: bytes, chunking: str, seed: int = 7) -> Iterator[bytes]:
    if chunking == "whole":
        yield body
    elif chunking == "bytewise":
        yield from (body[i : i + 1] for i in range(len(body)))
    else:
        rng = random.Random(seed)
        i = 0
        while i < len(body):
            size = rng.randint(1, 17)
            yield body[i : i + size]
            i += size


def stream_of(body: bytes, chunking: str = "whole") -> StreamReader:
    stream = StreamReader()
    for piece in pieces(body, chunking):
        stream.feed_data(piece)
    stream.feed_eof()
    return stream


def reader_for(body: bytes, chunking: str = "whole", ctype: str = FORM) -> MultipartReader:
    return MultipartReader({"Content-Type": ctype}, stream_of(body, chunking))


async def read_all(reader: MultipartReader) -> list[tuple[str | None, bytes]]:
    parts = []
    async for part in reader:
        assert isinstance(part, BodyPartReader)
        parts.append((part.name, bytes(await part.read())))
    return parts


def part(name: str, data: bytes, extra: str = "", boundary: bytes = b"xyz") -> bytes:
    head = f'Content-Disposition: form-data; name="{name}"{extra}\r\n\r\n'.encode()
    return b"--" + boundary + b"\r\n" + head + data + b"\r\n"


TWO_FIELDS = part("a", b"hello") + part("b", b"world") + b"--xyz--\r\n"


# -- framing ----------------------------------------------------------------------------


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_two_fields(chunking: str) -> None:
    assert await read_all(reader_for(TWO_FIELDS, chunking)) == [("a", b"hello"), ("b", b"world")]


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_preamble_epilogue_and_transport_padding_are_ignored(chunking: str) -> None:
    body = (
        b"This is the preamble.\r\nIt mentions --xy but no delimiter.\r\n"
        b"--xyz \t\r\nContent-Disposition: form-data; name=a\r\n\r\nA\r\n"
        b"--xyz\r\nContent-Disposition: form-data; name=b\r\n\r\nB\r\n"
        b"--xyz--  \r\nThis is the epilogue.\r\n--xyz\r\nnot a part\r\n"
    )
    reader = reader_for(body, chunking)
    assert await read_all(reader) == [("a", b"A"), ("b", b"B")]
    assert reader.at_eof()
    await reader.release()  # drains the epilogue
    assert await reader.next() is None


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_crlf_before_the_delimiter_belongs_to_it(chunking: str) -> None:
    # RFC 2046 5.1.1: the CRLF preceding the boundary delimiter line is part of the delimiter.
    body = (
        part("a", b"ends with CRLF\r\n")
        + part("b", b"\r\n\r\n")
        + part("c", b"")
        + part("d", b"\r\n--xy\r\n--xyzz not a delimiter? yes it is not\r\n--xyz")
        + b"--xyz--"
    )
    with pytest.raises(ValueError, match="delimiter line"):
        # "\r\n--xyzz" starts with the delimiter: RFC 2046 forbids a boundary inside a part.
        await read_all(reader_for(body, chunking))
    body = (
        part("a", b"ends with CRLF\r\n")
        + part("b", b"\r\n\r\n")
        + part("c", b"")
        + part("d", b"--xyz inside a line\r\n-xyz\r\n--xy")
        + b"--xyz--"
    )
    assert await read_all(reader_for(body, chunking)) == [
        ("a", b"ends with CRLF\r\n"),
        ("b", b"\r\n\r\n"),
        ("c", b""),
        ("d", b"--xyz inside a line\r\n-xyz\r\n--xy"),
    ]


async def test_close_delimiter_without_trailing_crlf_and_empty_multipart() -> None:
    assert await read_all(reader_for(part("a", b"1") + b"--xyz--")) == [("a", b"1")]
    reader = reader_for(b"--xyz--\r\n")
    assert await reader.next() is None
    assert reader.at_eof()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no multipart boundary"),
        (b"just text\r\n", "no multipart boundary"),
        (b"preamble--xyz\r\n\r\nx\r\n", "no multipart boundary"),  # needs CRLF before
        (part("a", b"never closed"), "closing multipart boundary"),
        (b"--xyz\r\nContent-Disposition: form-data; name=a\r\n", "header block"),
        (b"--xyzjunk\r\n\r\nx\r\n--xyz--", "delimiter line"),
        (b"--xyz\r\nno colon here\r\n\r\nx\r\n--xyz--", "invalid multipart header"),
        (b"--xyz\r\n folded first\r\n\r\nx\r\n--xyz--", "continuation"),
        (b"--xyz\r\nBad Name: v\r\n\r\nx\r\n--xyz--", "invalid multipart header"),
    ],
)
async def test_malformed_bodies_raise_value_error(body: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await read_all(reader_for(body))


@pytest.mark.parametrize(
    ("ctype", "boundary"),
    [
        ("multipart/form-data; boundary=xyz", b"xyz"),
        ('multipart/form-data; boundary="xyz"', b"xyz"),
        ("Multipart/Form-Data;Boundary=xyz", b"xyz"),
        ('multipart/mixed; charset=utf-8; boundary="a b:c=d?"', b"a b:c=d?"),
        ("multipart/form-data; boundary=" + "b" * 70, b"b" * 70),
        ('multipart/form-data; boundary="\'()+_,-./:=?"', b"'()+_,-./:=?"),
    ],
)
async def test_boundary_forms(ctype: str, boundary: bytes) -> None:
    body = part("a", b"1", boundary=boundary) + b"--" + boundary + b"--\r\n"
    assert await read_all(reader_for(body, ctype=ctype)) == [("a", b"1")]


@pytest.mark.parametrize(
    ("ctype", "message"),
    [
        ("multipart/form-data", "no boundary"),
        ("multipart/form-data; boundary=", "no boundary"),
        ('multipart/form-data; boundary=""', "no boundary"),
        ("multipart/form-data; boundary=" + "b" * 71, "1 to 70"),
        ('multipart/form-data; boundary="ends with space "', "1 to 70"),
        ("multipart/form-data; boundary=caf\u00e9", "1 to 70"),
        ("multipart/form-data; boundary=a; boundary=b", "twice"),
        ("text/plain; boundary=xyz", "expected a multipart"),
        ("", "expected a multipart"),
    ],
)
def test_invalid_boundaries_are_refused(ctype: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MultipartReader({"Content-Type": ctype}, stream_of(b""))


# -- reading a part ---------------------------------------------------------------------


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_read_chunk_never_crosses_the_delimiter(chunking: str) -> None:
    data = bytes(range(256)) * 40 + b"\r\n--xy"
    reader = reader_for(part("blob", data) + b"--xyz--", chunking)
    field = await reader.next()
    assert isinstance(field, BodyPartReader)
    got = bytearray()
    sizes = set()
    while chunk := await field.read_chunk(1000):
        assert 0 < len(chunk) <= 1000
        sizes.add(len(chunk))
        got += chunk
    assert bytes(got) == data
    assert field.at_eof()
    assert await field.read_chunk() == b""
    with pytest.raises(ValueError):
        await field.read_chunk(0)
    assert await reader.next() is None


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_readline_and_iteration(chunking: str) -> None:
    body = (
        part("a", b"one\r\ntwo\nthree\r\n\r\n--xy\r\n\r--x\r\nlast")
        + part("b", b"x\r\n")
        + b"--xyz--"
    )
    reader = reader_for(body, chunking)
    first = await reader.next()
    assert isinstance(first, BodyPartReader)
    lines = []
    while line := await first.readline():
        lines.append(line)
    assert lines == [
        b"one\r\n",
        b"two\n",
        b"three\r\n",
        b"\r\n",
        b"--xy\r\n",
        b"\r--x\r\n",
        b"last",
    ]
    assert await first.readline() == b""
    second = await reader.next()
    assert isinstance(second, BodyPartReader)
    assert b"".join([chunk async for chunk in second]) == b"x\r\n"


async def test_unread_parts_are_skipped_by_next() -> None:
    body = part("a", b"x" * 100_000) + part("b", b"y" * 10) + b"--xyz--"
    reader = reader_for(body, "random")
    first = await reader.next()
    assert isinstance(first, BodyPartReader) and first.name == "a"
    assert len(await first.read_chunk(10)) == 10  # partly read, then abandoned
    second = await reader.next()
    assert isinstance(second, BodyPartReader) and second.name == "b"
    assert await second.read() == b"y" * 10
    assert await reader.next() is None


async def test_part_headers_folding_and_no_headers() -> None:
    body = (
        b"--xyz\r\n"
        b"Content-Disposition: form-data;\r\n"
        b'\t name="folded"\r\n'
        b"X-Many: 1\r\nx-many: 2\r\n\r\n"
        b"v\r\n"
        b"--xyz\r\n\r\nanonymous\r\n--xyz--"
    )
    reader = reader_for(body)
    first = await reader.next()
    assert isinstance(first, BodyPartReader)
    assert first.name == "folded"
    assert first.headers.getall("X-MANY") == ["1", "2"]
    assert await first.text() == "v"
    second = await reader.next()
    assert isinstance(second, BodyPartReader)
    assert len(second.headers) == 0
    assert second.name is None and second.filename is None
    assert await second.read() == b"anonymous"


async def test_part_header_limits_answer_431() -> None:
    long_line = b"--xyz\r\nX-Long: " + b"a" * 8200 + b"\r\n\r\nx\r\n--xyz--"
    with pytest.raises(HTTPRequestHeaderFieldsTooLarge) as info:
        await read_all(reader_for(long_line))
    assert "8190" in info.value.text  # type: ignore[operator]
    many = b"--xyz\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(101)) + b"\r\nx\r\n--xyz--"
    with pytest.raises(HTTPRequestHeaderFieldsTooLarge) as info:
        await read_all(reader_for(many, "random"))
    assert "100" in info.value.text  # type: ignore[operator]
    exactly = b"--xyz\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100)) + b"\r\nx\r\n--xyz--"
    assert await read_all(reader_for(exactly)) == [(None, b"x")]
    folded = b"--xyz\r\nX-F: a\r\n" + b" b" * 5000 + b"\r\n\r\nx\r\n--xyz--"
    with pytest.raises(HTTPRequestHeaderFieldsTooLarge):
        await read_all(reader_for(folded))


async def test_text_json_form_and_charsets() -> None:
    body = (
        part("t", "caf\u00e9".encode("latin-1"), boundary=b"xyz").replace(
            b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=latin-1\r\n\r\n", 1
        )
        + part("u", "\u20ac".encode())
        + part("j", b'{"k": [1, 2]}')
        + part("e", b"")
        + part("f", b"a=1&b=&a=%E2%82%AC\r\n")
        + b"--xyz--"
    )
    reader = reader_for(body)
    texts: list[Any] = []
    for method in ("text", "text", "json", "json", "form"):
        field = await reader.next()
        assert isinstance(field, BodyPartReader)
        texts.append(await getattr(field, method)())
    assert texts == [
        "caf\u00e9",
        "\u20ac",
        {"k": [1, 2]},
        None,
        [("a", "1"), ("b", ""), ("a", "\u20ac")],
    ]


async def test_charset_field_sets_the_default_for_later_parts() -> None:
    # RFC 7578 4.6: ``_charset_`` names the charset of fields without one of their own.
    body = (
        part("_charset_", b"iso-8859-1")
        + part("name", "Jos\u00e9".encode("latin-1"))
        + part("own", "\u20ac".encode()).replace(
            b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", 1
        )
        + b"--xyz--"
    )
    reader = reader_for(body)
    names = []
    async for field in reader:
        assert isinstance(field, BodyPartReader)
        names.append((field.name, await field.text()))
    assert names == [("name", "Jos\u00e9"), ("own", "\u20ac")]
    bad = part("_charset_", b"no-such-charset") + part("a", b"x") + b"--xyz--"
    with pytest.raises(ValueError, match="unknown charset"):
        await read_all(reader_for(bad))


# -- decoding ---------------------------------------------------------------------------


def mixed_part(data: bytes, headers: str) -> bytes:
    return b"--xyz\r\n" + headers.encode() + b"\r\n\r\n" + data + b"\r\n--xyz--"


PAYLOAD = ("d\u00e9j\u00e0 vu = \u20ac " * 50).encode()


@pytest.mark.parametrize(
    ("encoded", "headers"),
    [
        (base64.encodebytes(PAYLOAD).replace(b"\n", b"\r\n"), "Content-Transfer-Encoding: base64"),
        (base64.b64encode(PAYLOAD), "Content-Transfer-Encoding: BASE64"),
        (
            quopri.encodestring(PAYLOAD).replace(b"\n", b"\r\n"),
            "Content-Transfer-Encoding: quoted-printable",
        ),
        (gzip.compress(PAYLOAD), "Content-Encoding: gzip"),
        (zlib.compress(PAYLOAD), "Content-Encoding: deflate"),
        (zlib.compress(PAYLOAD)[2:-4], "Content-Encoding: deflate"),  # raw deflate
        (PAYLOAD, "Content-Transfer-Encoding: 8bit\r\nContent-Encoding: identity"),
        (
            base64.b64encode(gzip.compress(PAYLOAD)),
            "Content-Transfer-Encoding: base64\r\nContent-Encoding: gzip",
        ),
    ],
)
@pytest.mark.parametrize("chunking", ["whole", "random"])
async def test_decode(encoded: bytes, headers: str, chunking: str) -> None:
    ctype = "multipart/mixed; boundary=xyz"
    field = await reader_for(mixed_part(encoded, headers), chunking, ctype).next()
    assert isinstance(field, BodyPartReader)
    assert await field.read(decode=True) == PAYLOAD


async def test_decode_unknown_encodings_and_form_data_ignores_content_encoding() -> None:
    for headers in ("Content-Transfer-Encoding: uuencode", "Content-Encoding: compress"):
        ctype = "multipart/mixed; boundary=xyz"
        field = await reader_for(mixed_part(b"x", headers), ctype=ctype).next()
        assert isinstance(field, BodyPartReader)
        with pytest.raises(RuntimeError, match="unknown content"):
            await field.read(decode=True)
    # RFC 7578 4.8: in form-data, Content-Encoding is not a header that counts.
    field = await reader_for(mixed_part(b"raw", "Content-Encoding: gzip")).next()
    assert isinstance(field, BodyPartReader)
    assert await field.text() == "raw"


async def test_truncated_compressed_data_is_an_error() -> None:
    ctype = "multipart/mixed; boundary=xyz"
    data = gzip.compress(PAYLOAD)[:-10]
    field = await reader_for(mixed_part(data, "Content-Encoding: gzip"), ctype=ctype).next()
    assert isinstance(field, BodyPartReader)
    with pytest.raises(ValueError, match="ended early"):
        await field.read(decode=True)


@pytest.mark.parametrize(
    ("transfer", "coding", "encoded"),
    [
        ("base64", "", base64.encodebytes(PAYLOAD)),
        ("quoted-printable", "", quopri.encodestring(PAYLOAD).replace(b"\n", b"\r\n")),
        ("quoted-printable", "", b"a=3D=\r\nb=C3=A9"),
        ("", "gzip", gzip.compress(PAYLOAD)),
        ("binary", "deflate", zlib.compress(PAYLOAD)),
    ],
)
def test_content_decoder_byte_by_byte(transfer: str, coding: str, encoded: bytes) -> None:
    whole = ContentDecoder(transfer, coding)
    expected = whole.feed(encoded) + whole.flush()
    decoder = ContentDecoder(transfer, coding)
    got = b"".join(decoder.feed(encoded[i : i + 1]) for i in range(len(encoded)))
    assert got + decoder.flush() == expected
    if encoded.startswith(b"a=3D"):
        assert expected == "a=b\u00e9".encode()
    else:
        assert expected == PAYLOAD


def test_content_decoder_refuses_what_it_does_not_know() -> None:
    with pytest.raises(RuntimeError, match="transfer encoding: x-uue"):
        ContentDecoder("x-uue", "")
    with pytest.raises(RuntimeError, match="content encoding: br"):
        ContentDecoder("", "br")
    decoder = ContentDecoder("", "gzip")
    with pytest.raises(ValueError, match="invalid gzip"):
        decoder.feed(b"not gzip at all")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("text/plain", ("text/plain", {})),
        ("", ("", {})),
        ('Text/HTML; Charset="UTF-8"', ("text/html", {"charset": "UTF-8"})),
        ('a/b; x=1;y=2 ; z = "3;4"', ("a/b", {"x": "1", "y": "2", "z": "3;4"})),
        ("a/b; junk; x=1", ("a/b", {"x": "1"})),
        ("attachment; filename*=UTF-8''%ZZ", ("attachment", {"filename": "%ZZ"})),
        ("attachment; filename*=nocharsetquote", ("attachment", {})),
        ("attachment; filename*=UTF-8''%FF", ("attachment", {})),  # not UTF-8: dropped
    ],
)
def test_parse_header_params(value: str, expected: tuple[str, dict[str, str]]) -> None:
    assert parse_header_params(value) == expected


@pytest.mark.parametrize(
    ("value", "filename"),
    [
        ('form-data; filename="a\\"b\\\\c.txt"', 'a"b\\c.txt'),
        # RFC 9110 5.6.4: a backslash escapes whatever follows it, so a Windows path sent
        # unescaped loses its separators (as in aiohttp); the runtime used to keep a
        # backslash before anything but DQUOTE or backslash.
        ('form-data; filename="C:\\dir\\a.txt"', "C:dira.txt"),
        ('form-data; filename="\\\u20ac.txt"', "\\\u20ac.txt"),  # past obs-text: kept
        ('form-data; filename="\u20ac.txt"', "\u20ac.txt"),  # UTF-8 text inside quotes
    ],
)
def test_parse_header_params_unescapes_quoted_pairs(value: str, filename: str) -> None:
    assert parse_header_params(value)[1]["filename"] == filename


def test_parse_header_params_refuses_duplicates() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_header_params('form-data; name="a"; NAME="b"')


# -- nesting ----------------------------------------------------------------------------

NESTED = (
    b"--outer\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\n'
    b"Files\r\n"
    b"--outer\r\n"
    b'Content-Disposition: form-data; name="files"\r\n'
    b"Content-Type: multipart/mixed; boundary=inner\r\n\r\n"
    b"inner preamble\r\n"
    b"--inner\r\n"
    b'Content-Disposition: file; filename="one.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\n"
    b"first file\r\n"
    b"--inner\r\n"
    b'Content-Disposition: file; filename="two.bin"\r\n\r\n'
    b"\x00\x01\r\n"
    b"--inner--\r\n"
    b"inner epilogue\r\n"
    b"--outer\r\n"
    b'Content-Disposition: form-data; name="after"\r\n\r\n'
    b"tail\r\n"
    b"--outer--\r\n"
)
NESTED_TYPE = "multipart/form-data; boundary=outer"


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_nested_multipart_yields_a_reader(chunking: str) -> None:
    reader = reader_for(NESTED, chunking, NESTED_TYPE)
    seen: list[Any] = []
    async for item in reader:
        if isinstance(item, MultipartReader):
            inner = [(p.filename, bytes(await p.read())) async for p in item]  # type: ignore[union-attr]
            seen.append(inner)
            assert item.at_eof()
        else:
            seen.append((item.name, await item.text()))
    assert seen == [
        ("title", "Files"),
        [("one.txt", b"first file"), ("two.bin", b"\x00\x01")],
        ("after", "tail"),
    ]


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_nested_reader_skipped_whole(chunking: str) -> None:
    reader = reader_for(NESTED, chunking, NESTED_TYPE)
    names = []
    async for item in reader:
        if isinstance(item, BodyPartReader):
            names.append(item.name)
        else:
            first = await item.next()  # read a little of the nested one, then move on
            assert isinstance(first, BodyPartReader)
            assert await first.read_chunk(3) == b"fir"
    assert names == ["title", "after"]


# -- streaming --------------------------------------------------------------------------


async def test_parts_stream_before_the_body_ends() -> None:
    stream = StreamReader()
    reader = MultipartReader({"Content-Type": FORM}, stream)
    stream.feed_data(part("a", b"small") + b"--xyz\r\nContent-Disposition: form-data; name=big")
    stream.feed_data(b"\r\n\r\n" + b"z" * 50_000)
    first = await reader.next()
    assert isinstance(first, BodyPartReader)
    assert await first.read() == b"small"
    big = await reader.next()
    assert isinstance(big, BodyPartReader) and big.name == "big"
    # All but the bytes that could start a delimiter are handed out before the end arrives.
    got = bytearray()
    while len(got) < 50_000 - 10:
        got += await big.read_chunk(8192)
    assert not stream.is_eof()
    pending = asyncio.ensure_future(big.read_chunk(8192))
    await asyncio.sleep(0)
    assert not pending.done()  # waits for more body: it does not know the part ended yet
    stream.feed_data(b"\r\n--xyz--\r\n")
    stream.feed_eof()
    got += await pending
    got += await big.read()
    assert bytes(got) == b"z" * 50_000


# -- Content-Disposition ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("disposition", "name", "filename"),
    [
        ('form-data; name="a"; filename="b.txt"', "a", "b.txt"),
        ("form-data; name=a; filename=b.txt", "a", "b.txt"),
        ('form-data; name="a"; filename="say \\"hi\\".txt"', "a", 'say "hi".txt'),
        # RFC 9110 5.6.4: "\d" and "\f" are quoted-pairs, as aiohttp reads them too.
        ('form-data; name="a"; filename="C:\\dir\\file.txt"', "a", "C:dirfile.txt"),
        ('form-data; name="a;b"; filename="x; y.txt"', "a;b", "x; y.txt"),
        ("form-data; name=\"a\"; filename*=UTF-8''%E2%82%AC%20rates.txt", "a", "\u20ac rates.txt"),
        (
            'form-data; name="a"; filename="fallback.txt"; filename*=utf-8\'en\'%C3%A9.txt',
            "a",
            "\u00e9.txt",
        ),
        ("form-data; name=a; filename*=iso-8859-1''%E9t%E9.txt", "a", "\u00e9t\u00e9.txt"),
        ("form-data; name=a; filename*=bogus''%E9.txt; filename=ok.txt", "a", "ok.txt"),
        (
            "form-data; name=a; filename*0*=UTF-8''%E2%82%AC; filename*1=\" and more\"; "
            "filename*2*=%21.txt",
            "a",
            "\u20ac and more!.txt",
        ),
        ('form-data; name="a"; name="b"', None, None),  # ambiguous: refused
        ("form-data", None, None),
        ('FORM-DATA ; NAME = "up" ; FILENAME = ""', "up", ""),
    ],
)
async def test_content_disposition(disposition: str, name: str, filename: str) -> None:
    body = b"--xyz\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\nx\r\n--xyz--"
    field = await reader_for(body).next()
    assert isinstance(field, BodyPartReader)
    assert (field.name, field.filename) == (name, filename)


def test_parse_header_params_matches_the_email_package() -> None:
    # An independent producer: email's RFC 2231 encoding of a non-ASCII filename.
    message = EmailMessage()
    message.add_header(
        "Content-Disposition",
        "form-data",
        name="upload",
        filename="na\u00efve r\u00e9sum\u00e9.pdf",
    )
    value = message["Content-Disposition"]
    kind, params = parse_header_params(str(value))
    assert kind == "form-data"
    assert params == {"name": "upload", "filename": "na\u00efve r\u00e9sum\u00e9.pdf"}


# -- the email package as an independent producer ---------------------------------------


def email_form() -> tuple[str, bytes]:
    form = MIMEMultipart("form-data")
    text = MIMEText("Gr\u00fc\u00dfe\nzweite Zeile", "plain", "utf-8")  # base64 by default
    text.add_header("Content-Disposition", "form-data", name="greeting")
    form.attach(text)
    plain = MIMEText("plain ascii", "plain", "us-ascii")  # 7bit
    plain.add_header("Content-Disposition", "form-data", name="plain")
    form.attach(plain)
    blob = MIMEApplication(bytes(range(256)) * 4, "octet-stream")
    blob.add_header("Content-Disposition", "form-data", name="upload", filename="data.bin")
    form.attach(blob)
    raw = form.as_bytes(policy=policy.HTTP)
    head, _, body = raw.partition(b"\r\n\r\n")
    ctype = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-type:")
    )
    return ctype, body


@pytest.mark.parametrize("chunking", CHUNKINGS)
async def test_email_package_body(chunking: str) -> None:
    ctype, body = email_form()
    reader = reader_for(body, chunking, ctype)
    got: dict[str, Any] = {}
    async for field in reader:
        assert isinstance(field, BodyPartReader) and field.name is not None
        got[field.name] = (field.filename, await field.read(decode=True))
    assert got == {
        "greeting": (None, "Gr\u00fc\u00dfe\nzweite Zeile".encode()),
        "plain": (None, b"plain ascii"),
        "upload": ("data.bin", bytes(range(256)) * 4),
    }


# -- read_form through a server ---------------------------------------------------------


def form_request(body: bytes | AsyncIterator[bytes], ctype: str = FORM) -> dict[str, Any]:
    """The test client's keywords for a POST of ``body`` (bytes, or streamed: chunked)."""
    return {"headers": {"Content-Type": ctype}, "data": body}


async def streamed(body: bytes, chunking: str = "random") -> AsyncIterator[bytes]:
    """``body`` as a chunked upload, one chunk per piece."""
    for piece in pieces(body, chunking):
        yield piece


async def post_of(request: BaseRequest) -> MultiDictProxy[Any]:
    form = await request.post()
    for value in form.values():
        if isinstance(value, FileField):
            value.file.close()
    return form


async def test_read_form_fields_files_and_repeats(probe: Probe) -> None:
    body = (
        part("text", "\u00e9t\u00e9".encode())
        + part("text", b"second")
        + part("latin", "\u00e9".encode("latin-1")).replace(
            b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=latin-1\r\n\r\n", 1
        )
        + part("raw", b"\xff\x00").replace(
            b"\r\n\r\n", b"\r\nContent-Type: application/octet-stream\r\n\r\n", 1
        )
        + part("empty-file", b"", '; filename=""')
        + part("doc", b"file\r\ncontent\r\n", '; filename="a.txt"').replace(
            b"\r\n\r\n", b"\r\nContent-Type: text/plain\r\n\r\n", 1
        )
        + part("doc", b"\x00" * 10, '; filename="b.bin"')
        + part("b64", base64.b64encode(b"decoded")).replace(
            b"\r\n\r\n", b"\r\nContent-Transfer-Encoding: base64\r\n\r\n", 1
        )
        + b"--xyz--\r\n"
    )

    async def fn(request: BaseRequest) -> Any:
        form = await request.post()
        files = [
            (f.name, f.filename, f.content_type, f.file.read(), f.headers.get("Content-Type"))
            for f in form.getall("doc")
        ]
        for f in form.getall("doc"):
            assert isinstance(f.file, tempfile.SpooledTemporaryFile)
            f.file.close()
        plain = {k: v for k, v in form.items() if not isinstance(v, FileField)}
        return form.getall("text"), plain, files, await request.post() is form

    response, (texts, plain, files, cached) = await probe(fn, "POST", **form_request(body))
    assert response.status == 200
    assert texts == ["\u00e9t\u00e9", "second"]
    assert plain["latin"] == "\u00e9"
    assert plain["raw"] == b"\xff\x00"
    assert plain["empty-file"] == ""  # filename="" is an empty file input: a plain field
    assert plain["b64"] == "decoded"
    assert files == [
        ("doc", "a.txt", "text/plain", b"file\r\ncontent\r\n", "text/plain"),
        ("doc", "b.bin", "application/octet-stream", b"\x00" * 10, None),
    ]
    assert cached


async def test_read_form_big_file_is_spooled_to_disk(probe: Probe) -> None:
    data = bytes(range(256)) * 1024  # 256 KiB, past the in-memory spool size
    body = part("up", data, '; filename="big.bin"') + b"--xyz--"

    async def fn(request: BaseRequest) -> Any:
        field = (await request.post())["up"]
        assert isinstance(field, FileField)
        try:
            return field.file._rolled, field.file.tell(), field.file.read()
        finally:
            field.file.close()

    response, (rolled, position, content) = await probe(
        fn, "POST", server_kwargs={"client_max_size": 2**20}, **form_request(body)
    )
    assert response.status == 200
    assert rolled and position == 0 and content == data


async def test_read_form_from_the_email_package_and_chunked_body(probe: Probe) -> None:
    ctype, body = email_form()

    async def fn(request: BaseRequest) -> Any:
        form = await post_of(request)
        return form["greeting"], form["plain"], form["upload"].filename

    response, result = await probe(fn, "POST", **form_request(streamed(body), ctype))
    assert response.status == 200
    assert result == ("Gr\u00fc\u00dfe\nzweite Zeile", "plain ascii", "data.bin")


async def test_read_form_nested_mixed_files_share_the_name(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        form = await post_of(request)
        return [(k, v.filename if isinstance(v, FileField) else v) for k, v in form.items()]

    response, items = await probe(fn, "POST", **form_request(NESTED, NESTED_TYPE))
    assert response.status == 200
    assert items == [
        ("title", "Files"),
        ("files", "one.txt"),
        ("files", "two.bin"),
        ("after", "tail"),
    ]


@pytest.mark.parametrize(
    ("ctype", "body", "status", "message"),
    [
        ("multipart/form-data", TWO_FIELDS, 400, "no boundary parameter"),
        ("multipart/form-data; boundary=" + "x" * 71, TWO_FIELDS, 400, "1 to 70"),
        (FORM, part("a", b"never closed"), 400, "closing multipart boundary"),
        (FORM, b"--xyz\r\n\r\nno name\r\n--xyz--", 400, "no name"),
        (FORM, part("a", "\u00e9".encode("latin-1")) + b"--xyz--", 400, "utf-8"),
        (
            FORM,
            part("a", b"x").replace(
                b"\r\n\r\n", b"\r\nContent-Type: text/plain; charset=nope\r\n\r\n"
            )
            + b"--xyz--",
            400,
            "nope",
        ),
        (
            FORM,
            part("a", b"x").replace(b"\r\n\r\n", b"\r\nContent-Transfer-Encoding: x-uue\r\n\r\n")
            + b"--xyz--",
            400,
            "x-uue",
        ),
        (
            FORM,
            part("a", b"QQ").replace(b"\r\n\r\n", b"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
            + b"--xyz--",
            400,
            "padding",
        ),
        (
            FORM,
            b"--xyz\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\nx\r\n--xyz--",
            431,
            "longer than 8190",
        ),
        (
            FORM,
            b"--xyz\r\n" + b"X: v\r\n" * 101 + b"\r\nx\r\n--xyz--",
            431,
            "more than 100",
        ),
        (NESTED_TYPE, NESTED.replace(b"boundary=inner", b"boundary=outer"), 400, ""),
    ],
)
async def test_read_form_refusals(
    probe: Probe, ctype: str, body: bytes, status: int, message: str
) -> None:
    response, _ = await probe(post_of, "POST", **form_request(body, ctype))
    text = await response.text()
    assert response.status == status, text
    assert message in text


async def test_read_form_too_deep_nesting_is_400(probe: Probe) -> None:
    deeper = NESTED.replace(
        b'Content-Disposition: file; filename="two.bin"\r\n',
        b"Content-Type: multipart/mixed; boundary=deep\r\n",
    ).replace(b"\x00\x01\r\n", b"--deep--\r\n")
    response, _ = await probe(post_of, "POST", **form_request(deeper, NESTED_TYPE))
    assert response.status == 400
    assert "nested more than one level" in await response.text()


async def test_read_form_total_size_cap(probe: Probe) -> None:
    fields = b"".join(part(f"f{i}", b"v" * 100) for i in range(20)) + b"--xyz--\r\n"
    assert 2000 < len(fields) < 4000
    ok, form = await probe(
        post_of, "POST", server_kwargs={"client_max_size": 4000}, **form_request(fields)
    )
    assert ok.status == 200 and len(form) == 20
    # Declared too large: refused before reading.
    cap = {"client_max_size": 2000}
    refused, _ = await probe(post_of, "POST", server_kwargs=cap, **form_request(fields))
    assert refused.status == 413
    assert "2000" in await refused.text()
    # Chunked, no declared size: refused once the running total passes the cap.
    refused, _ = await probe(post_of, "POST", server_kwargs=cap, **form_request(streamed(fields)))
    assert refused.status == 413


@pytest.mark.parametrize("extra", ["", '; filename="f.bin"'])
async def test_read_form_refuses_a_big_field_while_it_streams(
    make_client: ClientFactory, extra: str
) -> None:
    # The client sends a little more than the cap, then stalls without ending the body: the
    # server must answer 413 from what it has, not wait for (or buffer) the whole field.
    limit = 64 * 1024
    start = part("small", b"ok") + part("big", b"", extra)[:-2]
    refused: list[BaseException] = []

    async def handler(request: BaseRequest) -> Any:
        try:
            await request.post()
        except Exception as exc:
            refused.append(exc)
            raise
        raise AssertionError("the form was accepted")

    async def stalling() -> AsyncIterator[bytes]:
        yield start
        for _ in range(5):
            yield b"B" * (16 * 1024)
        await asyncio.Event().wait()  # never ends the body

    client = await make_client(handler, server_kwargs={"client_max_size": limit})
    response = await asyncio.wait_for(client.post("/", **form_request(stalling())), 5)
    assert response.status == 413
    assert [type(exc).__name__ for exc in refused] == ["HTTPRequestEntityTooLarge"]


async def test_read_form_closes_spooled_files_when_refused(
    probe: Probe, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[Any] = []
    original = tempfile.SpooledTemporaryFile

    class Tracking(original):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(tempfile, "SpooledTemporaryFile", Tracking)
    body = (
        part("f1", b"a" * 1000, '; filename="1"')
        + part("f2", b"b" * 5000, '; filename="2"')
        + b"--xyz--"
    )

    async def in_two() -> AsyncIterator[bytes]:
        # The first file and the start of the second arrive, then the rest that passes
        # the cap.
        yield body[:2200]
        await asyncio.sleep(0.05)
        yield body[2200:]

    cap = {"client_max_size": 3000}
    response, _ = await probe(post_of, "POST", server_kwargs=cap, **form_request(in_two()))
    assert response.status == 413
    assert len(created) == 2 and all(f.closed for f in created)


async def test_read_form_cap_counts_the_epilogue(probe: Probe) -> None:
    body = TWO_FIELDS + b"x" * 5000
    response, _ = await probe(
        post_of, "POST", server_kwargs={"client_max_size": 3000}, **form_request(streamed(body))
    )
    assert response.status == 413
    response, form = await probe(
        post_of, "POST", server_kwargs={"client_max_size": 6000}, **form_request(streamed(body))
    )
    assert response.status == 200 and dict(form) == {"a": "hello", "b": "world"}


async def test_request_multipart_reader(probe: Probe) -> None:
    async def fn(request: BaseRequest) -> Any:
        reader = await request.multipart()
        out = []
        async for field in reader:
            out.append((field.name, await field.text()))
        return out

    response, result = await probe(fn, "POST", **form_request(TWO_FIELDS))
    assert response.status == 200
    assert result == [("a", "hello"), ("b", "world")]

    async def not_multipart(request: BaseRequest) -> Any:
        return await request.multipart()

    refused, _ = await probe(not_multipart, "POST", data=b"x")
    assert refused.status == 415
