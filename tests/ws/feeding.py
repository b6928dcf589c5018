"""Feeding a frame reader the same bytes whole, byte by byte and in random chunks."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from runtime.http.ws import FrameReader, WSMessage

MODES = ["whole", "bytewise", "random-1", "random-2", "random-3"]
mode_param = pytest.mark.parametrize("mode", MODES)


def chunks(data: bytes, mode: str) -> Iterator[bytes]:
    if mode == "whole":
        yield data
    elif mode == "bytewise":
        for i in range(len(data)):
            yield data[i : i + 1]
    else:
        rng = random.Random(mode)
        pos = 0
        while pos < len(data):
            size = rng.randint(1, max(1, min(len(data) // 3 + 1, 4096)))
            yield data[pos : pos + size]
            pos += size


def feed(reader: FrameReader, data: bytes, mode: str = "whole") -> list[WSMessage]:
    out: list[WSMessage] = []
    for piece in chunks(data, mode):
        out.extend(reader.feed(piece))
    return out
