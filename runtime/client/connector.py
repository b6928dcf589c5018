"""Connectors: open connections and keep the idle ones alive for reuse (a pool per host)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl as _ssl
from collections import deque

from yarl import URL

from .connection import ClientConnection
from .errors import ClientConnectorError, ConnectionKey, ConnectionTimeoutError, InvalidURL
from .timeouts import ClientTimeout

__all__ = ["BaseConnector", "TCPConnector", "UnixConnector"]

_DEFAULT_KEEPALIVE = 15.0


class BaseConnector:
    """The connection pool: ``limit`` connections in use at once (0: no limit), at most
    ``limit_per_host`` to one host, idle ones kept ``keepalive_timeout`` seconds.

    A connection returns to the pool only when its response was received whole and both
    sides allow keep-alive; ``force_close=True`` closes every connection after one request.
    """

    def __init__(
        self,
        *,
        keepalive_timeout: float | None = None,
        force_close: bool = False,
        limit: int = 100,
        limit_per_host: int = 0,
    ) -> None:
        if force_close and keepalive_timeout is not None:
            raise ValueError("keepalive_timeout cannot be set if force_close is True")
        self._keepalive_timeout = (
            _DEFAULT_KEEPALIVE if keepalive_timeout is None else keepalive_timeout
        )
        self._force_close = force_close
        self._limit = limit
        self._limit_per_host = limit_per_host
        self._idle: dict[ConnectionKey, list[tuple[ClientConnection, float]]] = {}
        self._in_use: dict[ConnectionKey, int] = {}
        self._in_use_total = 0
        self._acquired: set[ClientConnection] = set()
        self._waiters: deque[tuple[ConnectionKey, asyncio.Future[None]]] = deque()
        self._cleanup_handle: asyncio.TimerHandle | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def force_close(self) -> bool:
        return self._force_close

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def limit_per_host(self) -> int:
        return self._limit_per_host

    def connection_key(self, url: URL) -> ConnectionKey:
        """The pool key for a request to ``url``."""
        if url.raw_host is None:
            raise InvalidURL(url, "no host in the URL")
        is_ssl = url.scheme in ("https", "wss")
        return ConnectionKey(url.raw_host, url.port or (443 if is_ssl else 80), is_ssl)

    async def connect(self, key: ConnectionKey, timeout: ClientTimeout) -> ClientConnection:
        """An idle connection for ``key``, or a new one once the limits allow.

        Raises:
            ConnectionTimeoutError: ``timeout.connect`` or ``timeout.sock_connect`` passed.
            ClientConnectorError: the connection could not be opened.
        """
        if self._closed:
            raise RuntimeError("Connector is closed")
        try:
            async with asyncio.timeout(timeout.connect or None) as deadline:
                return await self._acquire(key, timeout.sock_connect or None)
        except TimeoutError as exc:
            if deadline.expired():
                raise ConnectionTimeoutError(
                    f"Connection timeout to host {key.host}:{key.port}"
                ) from exc
            raise

    async def _acquire(self, key: ConnectionKey, sock_connect: float | None) -> ClientConnection:
        while True:
            conn = self._pop_idle(key)
            if conn is not None:
                self._mark_in_use(conn.key, +1)
                self._acquired.add(conn)
                return conn
            if self._has_room(key):
                break
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append((key, waiter))
            try:
                await waiter
            except BaseException:
                if waiter.done() and not waiter.cancelled():
                    self._wake_waiters()  # we were woken but leave: pass the turn on
                raise
            finally:
                with contextlib.suppress(ValueError):
                    self._waiters.remove((key, waiter))
        self._mark_in_use(key, +1)
        try:
            try:
                async with asyncio.timeout(sock_connect) as deadline:
                    conn = await self._create_connection(key)
            except TimeoutError as exc:
                if deadline.expired():
                    raise ConnectionTimeoutError(
                        f"Connection timeout to host {key.host}:{key.port}"
                    ) from exc
                raise
        except BaseException:
            self._mark_in_use(key, -1)
            self._wake_waiters()
            raise
        self._acquired.add(conn)
        return conn

    def _has_room(self, key: ConnectionKey) -> bool:
        if self._limit and self._in_use_total >= self._limit:
            return False
        return not self._limit_per_host or self._in_use.get(key, 0) < self._limit_per_host

    def _mark_in_use(self, key: ConnectionKey, delta: int) -> None:
        self._in_use_total += delta
        count = self._in_use.get(key, 0) + delta
        if count > 0:
            self._in_use[key] = count
        else:
            self._in_use.pop(key, None)

    def _pop_idle(self, key: ConnectionKey) -> ClientConnection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = asyncio.get_running_loop().time()
        while idle:
            conn, since = idle.pop()
            if conn.closed or now - since > self._keepalive_timeout:
                conn.close()
                continue
            if not idle:
                del self._idle[key]
            return conn
        del self._idle[key]
        return None

    async def _create_connection(self, key: ConnectionKey) -> ClientConnection:
        raise NotImplementedError

    def _new_protocol(self, key: ConnectionKey) -> ClientConnection:
        return ClientConnection(asyncio.get_running_loop(), key, self._released)

    def _released(self, conn: ClientConnection, reuse: bool) -> None:
        """Called by a connection when its request cycle is over."""
        if conn not in self._acquired:
            return
        self._acquired.discard(conn)
        self._mark_in_use(conn.key, -1)
        if reuse and not self._force_close and not self._closed and not conn.closed:
            loop = conn.loop
            self._idle.setdefault(conn.key, []).append((conn, loop.time()))
            if self._cleanup_handle is None:
                self._cleanup_handle = loop.call_later(self._keepalive_timeout, self._cleanup)
        elif not conn.closed:
            conn.close()
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        for key, waiter in list(self._waiters):
            if waiter.done():
                continue
            if self._has_room(key) or self._idle.get(key):
                waiter.set_result(None)
                return

    def _cleanup(self) -> None:
        """Close connections idle for longer than ``keepalive_timeout``."""
        self._cleanup_handle = None
        if not self._idle:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        for key, idle in list(self._idle.items()):
            alive = []
            for conn, since in idle:
                if conn.closed or now - since >= self._keepalive_timeout:
                    conn.close()
                else:
                    alive.append((conn, since))
            if alive:
                self._idle[key] = alive
            else:
                del self._idle[key]
        if self._idle:
            self._cleanup_handle = loop.call_later(self._keepalive_timeout, self._cleanup)

    async def close(self) -> None:
        """Close every connection, idle or in use."""
        self._closed = True
        if self._cleanup_handle is not None:
            self._cleanup_handle.cancel()
            self._cleanup_handle = None
        for idle in self._idle.values():
            for conn, _ in idle:
                conn.close()
        self._idle.clear()
        for conn in list(self._acquired):
            conn.close()
        self._acquired.clear()
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.cancel()
        await asyncio.sleep(0)  # let the transports report connection_lost

    async def __aenter__(self) -> BaseConnector:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class TCPConnector(BaseConnector):
    """Connections over TCP, with TLS for ``https``.

    Args:
        ssl: ``True`` verifies certificates with the default context, ``False`` skips
            verification, or an ``ssl.SSLContext`` to use as is.
        local_addr: ``(host, port)`` to bind the local end of each connection to (the source
            address the server sees); port 0 lets the system choose.
        limit, limit_per_host, keepalive_timeout, force_close: see :class:`BaseConnector`.
    """

    def __init__(
        self,
        *,
        ssl: bool | _ssl.SSLContext = True,
        local_addr: tuple[str, int] | None = None,
        keepalive_timeout: float | None = None,
        force_close: bool = False,
        limit: int = 100,
        limit_per_host: int = 0,
    ) -> None:
        super().__init__(
            keepalive_timeout=keepalive_timeout,
            force_close=force_close,
            limit=limit,
            limit_per_host=limit_per_host,
        )
        self._ssl = ssl
        self._local_addr = local_addr
        self._ssl_context: _ssl.SSLContext | None = None

    def _make_ssl_context(self) -> _ssl.SSLContext:
        if isinstance(self._ssl, _ssl.SSLContext):
            return self._ssl
        if self._ssl_context is None:
            context = _ssl.create_default_context()
            if not self._ssl:
                context.check_hostname = False
                context.verify_mode = _ssl.CERT_NONE
            self._ssl_context = context
        return self._ssl_context

    async def _create_connection(self, key: ConnectionKey) -> ClientConnection:
        loop = asyncio.get_running_loop()
        context = self._make_ssl_context() if key.is_ssl else None
        try:
            _, protocol = await loop.create_connection(
                lambda: self._new_protocol(key),
                key.host,
                key.port,
                ssl=context,
                server_hostname=key.host if context is not None else None,
                local_addr=self._local_addr,
            )
        except OSError as exc:
            raise ClientConnectorError(key, exc) from exc
        return protocol


class UnixConnector(BaseConnector):
    """Connections to a Unix domain socket at ``path``, whatever host the URL names."""

    def __init__(
        self,
        path: str,
        *,
        keepalive_timeout: float | None = None,
        force_close: bool = False,
        limit: int = 100,
        limit_per_host: int = 0,
    ) -> None:
        super().__init__(
            keepalive_timeout=keepalive_timeout,
            force_close=force_close,
            limit=limit,
            limit_per_host=limit_per_host,
        )
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    async def _create_connection(self, key: ConnectionKey) -> ClientConnection:
        loop = asyncio.get_running_loop()
        try:
            _, protocol = await loop.create_unix_connection(
                lambda: self._new_protocol(key), self._path
            )
        except OSError as exc:
            raise ClientConnectorError(key, exc) from exc
        return protocol
