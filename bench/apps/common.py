"""What every benchmark app serves, defined once so that each framework sends the same bytes.

Standard library only: ``bench/scenarios.py`` (run by any Python) imports it for the expected
bodies, and every app under ``bench/apps/`` for its routes and payloads.
"""

from __future__ import annotations

import json

HELLO = "Hello, World!"

# The json scenario. Compact separators: Starlette's JSONResponse writes them, and
# aiohttp's and Berth's json_response take them through ``dumps=``.
JSON_MESSAGE = {"message": "Hello, World!"}
JSON_BODY = b'{"message":"Hello, World!"}'
JSON_CONTENT_TYPE = "application/json; charset=utf-8"  # what aiohttp's json_response sends
compact_json = json.JSONEncoder(separators=(",", ":")).encode  # a str, like json.dumps

# The routes-200 scenario: 200 routes, every even one dynamic, every odd one static, registered
# after the other routes; the request hits ROUTES_TARGET, the 199th (dynamic) of them.
ROUTE_COUNT = 200
ROUTES_TARGET = "/api/v1/resource198/12345"
ROUTES_TARGET_BODY = b"12345"


def api_routes() -> list[tuple[str, bool]]:
    """``(path, dynamic)`` for the 200 routes; a dynamic path has one ``{id}`` parameter."""
    return [
        (f"/api/v1/resource{i}/{{id}}", True) if i % 2 == 0 else (f"/api/v1/resource{i}", False)
        for i in range(ROUTE_COUNT)
    ]


# The post-echo-16k scenario: the body the client posts and gets back.
ECHO_PATH = "/echo"
ECHO_BODY = b"0123456789abcdef" * 1024  # 16 KiB
ECHO_CONTENT_TYPE = "application/octet-stream"

# The compress-100k scenario: 100 KiB of text, under a prefix whose routes alone compress
# (a sub-application, a mount, or the handler itself), so no other route pays for it.
COMPRESS_PATH = "/gz/text100k"
GZIP_LEVEL = 6  # zlib's default, the level aiohttp uses; Berth's default; Starlette's is 9


def _text(size: int) -> bytes:
    """``size`` bytes of log-like text lines, every one different (numbers vary): gzip 6
    brings 100 KiB to about 14 KiB in well under a millisecond. Random word salad would
    compress far slower (about 4 ms), leaving nothing but zlib to measure."""
    lines: list[str] = []
    total = 0
    i = 0
    while total < size:
        line = (
            f"2026-11-23T12:{i // 60 % 60:02d}:{i % 60:02d}Z INFO request "
            f"id={i * 7919 % 1000003:07d} method=GET path=/api/v1/items/{i % 1000} "
            f"status=200 bytes={i * 37 % 5000}\n"
        )
        lines.append(line)
        total += len(line)
        i += 1
    return "".join(lines).encode()[:size]


TEXT_100K = _text(100 * 1024)

# The fanout scenario: every client of both chats joins this room; Socket.IO's event name.
FANOUT_ROOM = "bench"
FANOUT_EVENT = "m"
