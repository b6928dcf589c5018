"""Berth: an asyncio HTTP/1.1 + WebSocket runtime. ``from runtime import web`` for servers."""

__version__ = "0.1.0"
