"""The ``websockets`` package's asyncio server echoing every message, on uvloop.

The ws-echo peer of Berth's and aiohttp's ``/ws`` handlers (any path upgrades). Keepalive
pings are off (``ping_interval=None``), as aiohttp's and Berth's heartbeat is by default: a
ping would be a frame bench/ws_load.py does not expect. A plain HTTP GET (bench/run.py's
readiness probe) gets websockets' ``426 Upgrade Required``.

    python -m bench.apps.websockets_echo --host 127.0.0.1 --port PORT
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import uvloop
from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def run(host: str, port: int) -> None:
    async with serve(echo, host, port, ping_interval=None) as server:
        await server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    uvloop.run(run(args.host, args.port))


if __name__ == "__main__":
    main()
