"""docs/faq.md, "How to make a request from a specific IP address?": the connector binds
each connection to a local address before connecting."""

from __future__ import annotations

import asyncio

import runtime


async def main(url: str = "http://127.0.0.1:8080/") -> None:
    connector = runtime.TCPConnector(local_addr=("127.0.0.2", 0))  # one of this host's addresses
    async with runtime.ClientSession(connector=connector) as session, session.get(url) as resp:
        print(resp.status, await resp.text())


if __name__ == "__main__":
    asyncio.run(main())
