"""runtime.http.codings: negotiation, encoders and request-body decoders."""

from __future__ import annotations

import gzip
import importlib.util
import os
import subprocess
import sys
import zlib

import brotli
import pytest
from multidict import CIMultiDict

from runtime.http import codings
from runtime.http.codings import (
    DECODABLE,
    IDENTITY,
    EncodingNegotiator,
    FlushingEncoder,
    add_vary,
    coding_name,
    is_zlib_wrapped,
    make_codec,
    make_decoder,
    negotiate,
    parse_accept_encoding,
    zlib_encoder,
)
from runtime.http.content_decoding import ContentDecoder

HAS_ZSTD = importlib.util.find_spec("zstandard") is not None
TEXT = b"".join(b"line %d of a body that compresses well\n" % i for i in range(2000))

# -- parsing Accept-Encoding (RFC 9110 12.5.3) -----------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # The examples of RFC 9110 12.5.3.
        ("compress, gzip", {"compress": 1.0, "gzip": 1.0}),
        ("", {}),
        ("*", {"*": 1.0}),
        ("compress;q=0.5, gzip;q=1.0", {"compress": 0.5, "gzip": 1.0}),
        (
            "gzip;q=1.0, identity; q=0.5, *;q=0",
            {"gzip": 1.0, "identity": 0.5, "*": 0.0},
        ),
        # Case-insensitive codings and "q" (RFC 9110 8.4.1, RFC 5234 2.3); x-gzip is gzip.
        ("GZip;Q=0.5, BR", {"gzip": 0.5, "br": 1.0}),
        ("x-gzip;q=0.3", {"gzip": 0.3}),
        # Empty elements do not count (RFC 9110 5.6.1); the last of a repeated coding wins.
        (" , ,gzip ; q=0.9 ,", {"gzip": 0.9}),
        ("gzip;q=0.2, gzip", {"gzip": 1.0}),
        # A weight that is not a qvalue (RFC 9110 12.4.2) refuses rather than prefers.
        ("gzip;q=abc", {"gzip": 0.0}),
        ("gzip;q=1.5", {"gzip": 0.0}),
        ("gzip;q=0.1234", {"gzip": 0.0}),
        ("gzip;q=-1", {"gzip": 0.0}),
        ("gzip;q=.5", {"gzip": 0.0}),
        ("gzip;q=", {"gzip": 0.0}),
        # Lenient elsewhere: other parameters are ignored, spaces around "=" tolerated.
        ("gzip;level=9;q=0.4", {"gzip": 0.4}),
        ("gzip; q = 0.7", {"gzip": 0.7}),
    ],
)
def test_parse_accept_encoding(value: str, expected: dict[str, float]) -> None:
    assert parse_accept_encoding(value) == expected


def test_coding_name() -> None:
    assert coding_name(" X-GZip ") == "gzip"
    assert coding_name("Deflate") == "deflate"
    assert coding_name("br") == "br"


# -- negotiation -----------------------------------------------------------------------------

SERVER = ("br", "gzip")


@pytest.mark.parametrize(
    ("header", "coding", "identity_ok"),
    [
        (None, None, True),  # no field: answer unencoded
        ("", None, True),  # an empty field: no coding wanted
        ("gzip", "gzip", True),
        ("gzip, br", "br", True),  # equal weights: the server's preference
        ("gzip;q=1.0, br;q=0.5", "gzip", True),  # the client's weights first
        ("br;q=0, gzip", "gzip", True),  # q=0 refuses
        ("br;q=0, gzip;q=0", None, True),
        ("*", "br", True),
        ("*, br;q=0", "gzip", True),  # "*" covers what is not named
        ("*;q=0", None, False),  # ... identity too
        ("*;q=0, identity", None, True),  # unless identity has its own entry
        ("*;q=0, gzip", "gzip", False),
        ("identity", None, True),
        ("identity;q=0", None, False),
        ("identity;q=0, gzip;q=0.1", "gzip", False),
        ("gzip;q=0.5, identity", None, True),  # identity preferred
        ("gzip, identity;q=0.5", "gzip", True),
        ("gzip;q=0.5, identity;q=0.5", "gzip", True),  # a tie with identity: the coding
        ("gzip;q=0.001", "gzip", True),  # identity not named: least preferred
        # "*" weighs identity too (RFC 9110 12.5.3), so codings listed below it lose.
        ("*;q=0.5, br;q=0.2, gzip;q=0.3", None, True),
        ("*;q=0.5, gzip", "gzip", True),
        ("GZIP;Q=0.8", "gzip", True),  # case-insensitive
        ("x-gzip", "gzip", True),
        ("gzip;q=abc", None, True),  # a malformed weight refuses
        ("gzip;q=1.5, br;q=0.1", "br", True),
        ("deflate, compress", None, True),  # nothing the server has
    ],
)
def test_negotiate(header: str | None, coding: str | None, identity_ok: bool) -> None:
    assert negotiate(header, SERVER) == (coding, identity_ok)


def test_negotiate_ties_follow_the_preference_order() -> None:
    assert negotiate("gzip, deflate", ("gzip", "deflate")).coding == "gzip"
    assert negotiate("gzip, deflate", ("deflate", "gzip")).coding == "deflate"
    assert negotiate("br", ()).coding is None


def test_negotiator_caches_a_bounded_number_of_values() -> None:
    negotiator = EncodingNegotiator(SERVER)
    assert negotiator.preference == SERVER
    assert negotiator(None) is IDENTITY
    assert negotiator("gzip") is negotiator("gzip")
    for i in range(1000):
        assert negotiator(f"gzip;q=0.{i % 1000:03d}").coding == ("gzip" if i else None)
    assert len(negotiator._cache) <= 256


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], ["Accept-Encoding"]),
        (["Cookie"], ["Cookie, Accept-Encoding"]),
        (["Cookie", "Origin"], ["Cookie, Origin, Accept-Encoding"]),  # lines merged
        (["accept-encoding"], ["accept-encoding"]),  # listed already (case-insensitive)
        (["Origin, Accept-Encoding"], ["Origin, Accept-Encoding"]),
        (["*"], ["*"]),  # varies on everything already
    ],
)
def test_add_vary(lines: list[str], expected: list[str]) -> None:
    headers: CIMultiDict[str] = CIMultiDict([("Vary", line) for line in lines])
    add_vary(headers, "Accept-Encoding")
    assert headers.getall("Vary", []) == expected


# -- encoders --------------------------------------------------------------------------------


def decode(coding: str, body: bytes) -> bytes:
    if coding == "gzip":
        return gzip.decompress(body)
    if coding == "deflate":
        return zlib.decompress(body)  # zlib-wrapped: the default wbits refuse raw deflate
    if coding == "br":
        return bytes(brotli.decompress(body))
    import zstandard

    return bytes(zstandard.ZstdDecompressor().decompressobj().decompress(body))


CODECS = [("gzip", 6), ("deflate", 6), ("br", 4)] + ([("zstd", 3)] if HAS_ZSTD else [])


@pytest.mark.parametrize(("name", "level"), CODECS)
def test_codec_round_trips_whole_and_streamed(name: str, level: int) -> None:
    codec = make_codec(name, level)
    whole = codec.compress(TEXT)
    assert len(whole) < len(TEXT) // 4
    assert decode(name, whole) == TEXT
    encoder = FlushingEncoder(codec.encoder())
    pieces = [TEXT[i : i + 5000] for i in range(0, len(TEXT), 5000)]
    streamed = [encoder.compress(piece) for piece in pieces]
    assert encoder.compress(b"") == b""
    streamed.append(encoder.finish(b"tail"))
    assert decode(name, b"".join(streamed)) == TEXT + b"tail"


@pytest.mark.parametrize("coding", ["gzip", "deflate"])
def test_every_flushed_write_is_decodable_on_its_own(coding: str) -> None:
    encoder = FlushingEncoder(zlib_encoder(coding, strategy=zlib.Z_FILTERED))
    wbits = 16 + zlib.MAX_WBITS if coding == "gzip" else zlib.MAX_WBITS
    reader = zlib.decompressobj(wbits)
    for event in (b"data: one\n\n", b"data: two\n\n"):
        assert reader.decompress(encoder.compress(event)) == event
    reader.decompress(encoder.finish())
    assert reader.eof


@pytest.mark.parametrize(
    ("name", "level", "message"),
    [
        ("lzma", 1, "Unknown content coding"),
        ("gzip", 0, "gzip level"),
        ("deflate", 10, "deflate level"),
        ("br", 12, "br level"),
        ("zstd", 22, "zstd level" if HAS_ZSTD else "zstandard"),
    ],
)
def test_make_codec_refuses(name: str, level: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_codec(name, level)


# -- raw or zlib-wrapped deflate -------------------------------------------------------------


def deflate(data: bytes, level: int, wbits: int, strategy: int = zlib.Z_DEFAULT_STRATEGY) -> bytes:
    obj = zlib.compressobj(level, zlib.DEFLATED, wbits, 8, strategy)
    return obj.compress(data) + obj.flush()


STRATEGIES = [zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE]


@pytest.mark.parametrize("data", [b"", b"x", TEXT, os.urandom(300)])
def test_zlib_headers_and_raw_streams_are_told_apart(data: bytes) -> None:
    for level in range(-1, 10):
        for bits in range(9, 16):
            for strategy in STRATEGIES:
                assert is_zlib_wrapped(deflate(data, level, bits, strategy)), (level, bits)
                assert not is_zlib_wrapped(deflate(data, level, -bits, strategy)), (level, bits)


@pytest.mark.parametrize(
    ("head", "wrapped"),
    [
        (b"\x78\x9c", True),  # zlib's default
        (b"\x78\x01", True),
        (b"\x78\xda", True),
        (b"\x08\x1d", True),  # a 256-byte window (CINFO 0)
        (b"\x78\x9d", False),  # FCHECK wrong
        (b"\x88\x98", False),  # CINFO 8: no such window (RFC 1950 2.2)
        (b"\x79\x9c", False),  # CM 9: not deflate
        (b"\x03\x00", False),  # raw: an empty final fixed-Huffman block
        (b"\x1f\x8b", False),  # gzip's magic is not a zlib header either
    ],
)
def test_is_zlib_wrapped(head: bytes, wrapped: bool) -> None:
    assert is_zlib_wrapped(head) is wrapped


def feed_all(coding: str, body: bytes, step: int, piece: int = 1024) -> bytes:
    decoder = make_decoder(coding)
    out = [b"".join(decoder.feed(body[i : i + step], piece)) for i in range(0, len(body), step)]
    decoder.finish()
    return b"".join(out)


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS, 9, -9])
@pytest.mark.parametrize("step", [1, 2, 3, 1 << 20])
def test_deflate_request_bodies_are_read_raw_or_wrapped(wbits: int, step: int) -> None:
    body = deflate(TEXT, 6, wbits)
    assert feed_all("deflate", body, step) == TEXT
    # The multipart part decoder follows the same rule.
    decoder = ContentDecoder("binary", "deflate")
    got = b"".join(decoder.feed(body[i : i + step]) for i in range(0, len(body), step))
    assert got + decoder.flush() == TEXT


def test_empty_raw_and_zlib_deflate_bodies() -> None:
    assert feed_all("deflate", deflate(b"", 6, -15), 1) == b""
    assert feed_all("deflate", deflate(b"", 6, 15), 1) == b""


@pytest.mark.parametrize(
    ("coding", "body", "message"),
    [
        ("deflate", b"x", "truncated"),  # one byte: never enough to tell, never complete
        ("deflate", zlib.compress(TEXT)[:-4], "truncated"),
        ("deflate", zlib.compress(TEXT) + b"junk", "after the end"),
        ("deflate", deflate(TEXT, 6, -15) + b"junk", "after the end"),
        ("deflate", b"\x78\x9c garbage", None),
        ("gzip", gzip.compress(TEXT)[:-1], "truncated"),
        ("gzip", b"not gzip at all", None),
        ("br", b"\xff\xfe not brotli", None),
    ],
)
def test_malformed_bodies_are_value_errors(coding: str, body: bytes, message: str | None) -> None:
    with pytest.raises(ValueError, match=message):
        feed_all(coding, body, 7)


def test_gzip_members_are_all_decoded() -> None:
    # RFC 1952 2.2: a gzip file is a series of members.
    body = gzip.compress(b"first ") + gzip.compress(b"second")
    assert feed_all("gzip", body, 5) == b"first second"
    decoder = ContentDecoder("", "gzip")
    assert decoder.feed(body) + decoder.flush() == b"first second"


@pytest.mark.parametrize("coding", DECODABLE)
def test_output_comes_in_bounded_pieces(coding: str) -> None:
    plain = bytes(1 << 20)
    body = {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": lambda data: bytes(brotli.compress(data)),
    }[coding](plain)
    decoder = make_decoder(coding)
    pieces = list(decoder.feed(body, 4096))
    decoder.finish()
    # zlib stops at the limit; brotli may pass it by up to 32 KiB (its output step).
    bound = 4096 if coding != "br" else 4096 + 32 * 1024
    assert max(map(len, pieces)) <= bound
    assert b"".join(pieces) == plain
    # A caller that stops early never has the rest inflated.
    stopped = make_decoder(coding)
    first = next(iter(stopped.feed(body, 4096)))
    assert len(first) <= bound


def test_make_decoder_refuses_other_codings() -> None:
    for coding in ("compress", "zstd", "identity", "x-gzip"):
        with pytest.raises(ValueError, match="Cannot decode"):
            make_decoder(coding)


def test_zstd_is_imported_only_when_used() -> None:
    assert codings.ZSTD_AVAILABLE is HAS_ZSTD
    script = "import sys; from runtime import web; print('zstandard' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True)
    assert result.stdout.strip() == b"False"
