"""A request body decoded on demand: ``Content-Encoding: gzip|br|deflate`` in, plain bytes out.

The decoded bytes land in an ordinary ``web.StreamReader``, so ``request.read()``,
``text()``, ``json()``, ``post()`` and multipart readers work unchanged on them. Nothing is
decoded until the handler first reads; then a small task pulls the encoded bytes, inflates
them in bounded pieces and stops at the size cap, so a compression bomb costs at most
``limit`` bytes of memory and the CPU to produce them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

from runtime import web
from runtime.http.codings import BodyDecoder

__all__ = ["DecodedBody"]

logger = logging.getLogger("middlewares.compression")

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

    def __init__(
        self, source: web.StreamReader, decoder: BodyDecoder, coding: str, limit: int
    ) -> None:
        self._source = source
        self._decoder = decoder
        self._coding = coding
        self._limit = limit
        self._task: asyncio.Task[None] | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self.stream = web.StreamReader(
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
        except web.HTTPException as exc:
            stream.set_exception(exc)
        except ValueError as exc:
            # RFC 9110 15.5.1: a body that is not valid for its declared coding is the
            # client's error.
            stream.set_exception(
                web.HTTPBadRequest(text=f"Malformed {self._coding} request body: {exc}")
            )
        except Exception as exc:  # the connection's own errors: timeouts, resets
            logger.debug("Reading the %s request body failed: %r", self._coding, exc)
            stream.set_exception(exc)
        else:
            stream.feed_eof()

    async def _decode_into(self, stream: web.StreamReader) -> None:
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
                    raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=total)
                stream.feed_data(piece)
                await self._resumed.wait()  # the handler reads slower than we inflate
        decoder.finish()
