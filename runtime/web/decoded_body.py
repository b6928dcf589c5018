"""A request body decoded on demand: ``Content-Encoding: gzip|br|deflate`` in, plain bytes out.

The decoded bytes land in an ordinary ``StreamReader``, so ``request.read()``, ``text()``,
``json()``, ``post()`` and multipart readers work unchanged on them. Nothing is decoded until
the handler first reads; then a small task pulls the encoded bytes, inflates them in bounded
pieces and waits while the reader is behind, so a compression bomb costs the memory of one
buffer and the CPU of what the handler actually reads (and, with a ``limit``, no more than
``limit`` bytes of output).

The server decodes request bodies this way unless ``auto_decompress=False`` (aiohttp's
option); ``middlewares.compression`` uses the same class for its own request decoding.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from ..http.codings import DECODABLE, BodyDecoder, coding_name, make_decoder
from ..http.message import RequestMessage
from ..server.streams import StreamReader
from .exceptions import HTTPException, HTTPRequestEntityTooLarge, MalformedRequestBody

__all__ = ["DecodedBody", "decode_request_body"]

logger = logging.getLogger("runtime.web")

# Output per inflate step: small enough to check the cap often, big enough to stay cheap.
_PIECE: Final = 64 * 1024


class DecodedBody:
    """Decodes ``source`` into :attr:`stream` when the handler starts reading it.

    Args:
        source: the request's encoded body stream.
        decoder: the decoder for the body's content coding.
        coding: the coding's name, for error messages.
        limit: the most decoded bytes accepted (0: no limit); past it, readers get 413.
    """

    __slots__ = ("_coding", "_decoder", "_limit", "_resumed", "_source", "_task", "stream")

    def __init__(self, source: StreamReader, decoder: BodyDecoder, coding: str, limit: int) -> None:
        self._source = source
        self._decoder = decoder
        self._coding = coding
        self._limit = limit
        self._task: asyncio.Task[None] | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self.stream = StreamReader(
            on_pause=self._resumed.clear,
            on_resume=self._resumed.set,
            on_first_read=self._start,
        )

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def close(self) -> None:
        """Stop decoding (the request is over); what was not read is never inflated."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()

    async def _pump(self) -> None:
        stream = self.stream
        try:
            await self._decode_into(stream)
        except HTTPException as exc:
            stream.set_exception(exc)
        except ValueError as exc:
            # RFC 9110 15.5.1: a body that is not valid for its declared coding is the
            # client's error.
            stream.set_exception(
                MalformedRequestBody(text=f"Malformed {self._coding} request body: {exc}")
            )
        except Exception as exc:  # the connection's own errors: timeouts, resets
            logger.debug("Reading the %s request body failed: %r", self._coding, exc)
            stream.set_exception(exc)
        else:
            stream.feed_eof()

    async def _decode_into(self, stream: StreamReader) -> None:
        decoder = self._decoder
        limit = self._limit
        total = 0
        while True:
            chunk = await self._source.readany()
            if not chunk:
                break
            for piece in decoder.feed(chunk, _PIECE):
                total += len(piece)
                if limit and total > limit:
                    # Stop inflating here: the rest of a bomb is never produced.
                    raise HTTPRequestEntityTooLarge(max_size=limit, actual_size=total)
                stream.feed_data(piece)
                await self._resumed.wait()  # the handler reads slower than we inflate
        decoder.finish()


def decode_request_body(
    message: RequestMessage, payload: StreamReader, limit: int
) -> tuple[RequestMessage, DecodedBody] | None:
    """The request as its handler should see it when its body has one content coding we
    decode (RFC 9110 8.4): a message without ``Content-Encoding`` and ``Content-Length``
    (they described the bytes on the wire) and the decoded body, refused with 413 past
    ``limit`` decoded bytes (0: no limit). None otherwise: no coding, ``identity``, a coding
    we do not know or several stacked, which reach the handler as they came (aiohttp does
    the same with codings it does not know).
    """
    field = b""
    for name, value in message.raw_headers:
        if name.lower() == b"content-encoding":
            field = value if not field else field + b"," + value  # RFC 9110 5.3
    if not field:
        return None
    codings = [
        name
        for name in (coding_name(part) for part in field.decode("latin-1").split(","))
        if name and name != "identity"
    ]
    if len(codings) != 1 or codings[0] not in DECODABLE:
        return None
    coding = codings[0]
    decoded = RequestMessage(
        message.method,
        message.target,
        message.version,
        tuple(
            (name, value)
            for name, value in message.raw_headers
            if name.lower() not in (b"content-encoding", b"content-length")
        ),
        keep_alive=message.keep_alive,
        upgrade=message.upgrade,
        chunked=message.chunked,
        content_length=None,
        expect_continue=message.expect_continue,
        has_expect=message.has_expect,
    )
    return decoded, DecodedBody(payload, make_decoder(coding), coding, limit)
