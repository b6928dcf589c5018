"""``Accept-Encoding`` negotiation (RFC 9110 12.5.3): which content coding to answer with.

Pure functions over header text, no asyncio: the compression middleware asks
:class:`EncodingNegotiator` once per request, and the answer for a given header value is
cached, since a site's clients send only a handful of distinct values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final, NamedTuple

__all__ = ["EncodingNegotiator", "Negotiated", "parse_accept_encoding"]

# RFC 9110 12.4.2: qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] ).
_QVALUE: Final = re.compile(r"0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?", re.ASCII)
_CACHE_LIMIT: Final = 256


class Negotiated(NamedTuple):
    """The outcome of negotiation for one request.

    Attributes:
        coding: the content coding to apply, or None to send the body as it is.
        identity_ok: False when the client refused an unencoded body (``identity;q=0`` or
            ``*;q=0``); the middleware then compresses even bodies below its size floor.
    """

    coding: str | None
    identity_ok: bool


IDENTITY: Final = Negotiated(None, True)


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Parse an ``Accept-Encoding`` field value into ``{coding: weight}``.

    Codings are lower-cased (they are case-insensitive, RFC 9110 8.4.1) and ``x-gzip``
    becomes ``gzip`` (RFC 9110 8.4.1.3). An element whose weight is malformed counts as
    refused rather than preferred, so a broken header never buys a coding the client may
    not decode. When a coding is listed twice, the last element wins.

    Args:
        value: the field value (several field lines joined with commas).

    Returns:
        The weight of each listed coding, ``*`` and ``identity`` included.
    """
    weights: dict[str, float] = {}
    for element in value.split(","):
        coding, _, params = element.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        weight = 1.0
        for param in params.split(";"):
            name, sep, raw = param.partition("=")
            if sep and name.strip().lower() == "q":
                raw = raw.strip()
                weight = float(raw) if _QVALUE.fullmatch(raw) else 0.0
        weights["gzip" if coding == "x-gzip" else coding] = weight
    return weights


def _identity_weight(weights: dict[str, float]) -> float | None:
    """The weight of an unencoded body; None when only implied (acceptable, least preferred).

    RFC 9110 12.5.3: identity is acceptable unless excluded by ``identity;q=0``, or by
    ``*;q=0`` without a more specific entry for identity.
    """
    if "identity" in weights:
        return weights["identity"]
    if weights.get("*") == 0.0:
        return 0.0
    return None


def negotiate(value: str | None, preference: Iterable[str]) -> Negotiated:
    """Choose a content coding for a request's ``Accept-Encoding`` value.

    Args:
        value: the field value, or None when the request has no such field.
        preference: the codings the server can produce, most preferred first; it breaks
            ties between codings of equal weight.

    Returns:
        The coding to use (None for none) and whether an unencoded body is acceptable.
    """
    if value is None:
        # RFC 9110 12.5.3 lets us pick any coding here, but a client that sends no
        # Accept-Encoding (curl without --compressed, health checks, HTTP/1.0 tools) rarely
        # decodes one: like nginx and aiohttp, answer unencoded.
        return IDENTITY
    weights = parse_accept_encoding(value)
    if not weights:
        return IDENTITY  # an empty value: no coding wanted (RFC 9110 12.5.3)
    wildcard = weights.get("*")
    identity = _identity_weight(weights)
    best: str | None = None
    best_weight = 0.0
    for coding in preference:
        # "*" stands for every coding the client did not name (RFC 9110 12.5.3).
        weight = weights.get(coding, wildcard)
        if weight is None or weight <= best_weight:
            continue  # not acceptable, or not better than an earlier (preferred) coding
        best, best_weight = coding, weight
    if best is not None and identity is not None and best_weight < identity:
        best = None  # e.g. "gzip;q=0.5, identity": the client prefers the plain body
    return Negotiated(best, identity is None or identity > 0.0)


class EncodingNegotiator:
    """:func:`negotiate` for a fixed server preference, with a small per-value cache.

    Args:
        preference: the codings the server can produce, most preferred first.
    """

    __slots__ = ("_cache", "_preference")

    def __init__(self, preference: Iterable[str]) -> None:
        self._preference = tuple(preference)
        self._cache: dict[str, Negotiated] = {}

    @property
    def preference(self) -> tuple[str, ...]:
        """The codings this negotiator may choose, most preferred first."""
        return self._preference

    def __call__(self, value: str | None) -> Negotiated:
        """Negotiate for one ``Accept-Encoding`` value (None when the field is absent).

        Args:
            value: the joined field value.

        Returns:
            The negotiated coding and whether identity is acceptable.
        """
        if value is None:
            return IDENTITY
        cache = self._cache
        result = cache.get(value)
        if result is None:
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()  # values chosen by a hostile client must not grow it forever
            result = cache[value] = negotiate(value, self._preference)
        return result
