"""An open WebSocket on asyncio: the part the server's ``WebSocketResponse`` and the client's
``ClientWebSocketResponse`` share.

The protocol layer (``runtime.http.ws``) turns bytes into messages; this class runs it on
a transport. Frames are parsed in the transport's ``data_received`` callback, not inside
``receive()``, so pings are answered, pongs seen and the peer's Close echoed even while the
application only sends (aiohttp issue 2368: a heartbeat must find a dead peer then too).

Concurrency rules (aiohttp's): one task reads (a second concurrent ``receive()`` raises
``RuntimeError``); any task may send, and frames leave whole (corked per loop pass),
so frames from different tasks never interleave; any task may ``close()``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..http.ws import (
    WS_CLOSED_MESSAGE,
    WS_CLOSING_MESSAGE,
    FrameReader,
    FrameWriter,
    WSCloseCode,
    WSMessage,
    WSMsgType,
)
from .closing import act_on, close_handshake, on_close_frame, on_protocol_error
from .corking import flush_later
from .heartbeat import Pinger

__all__ = ["MessageObserver", "WSMessageTypeError", "WebSocketBase"]

ws_logger = logging.getLogger("runtime.websocket")

# aiohttp raises after this many receive() calls on a closed socket, to break loops that
# never look at the message type.
_CLOSED_READS_LIMIT = 5
_QUEUE_HIGH_WATER = 2**16  # queued message bytes above which we stop reading the socket
# Corked frames (corking.py) leave at once past this size, not at the end of the pass.
_CORK_LIMIT = 2**16
# The message kinds a message's way through reads, as module globals: on Python 3.11 each
# ``WSMsgType.X`` goes through ``EnumType.__getattr__``, about 50 ns a read.
_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_PING = WSMsgType.PING
_PONG = WSMsgType.PONG
_CLOSE = WSMsgType.CLOSE
_SIZED = frozenset({_TEXT, _BINARY, _PING, _PONG})  # counted in _queued_bytes
_ENDS = frozenset({_CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED})  # end an ``async for``


class WSMessageTypeError(TypeError):
    """``receive_str()``/``receive_bytes()`` got another kind of message."""


class MessageObserver(Protocol):
    """Told of every TEXT and BINARY message a socket takes in or sends out (a Berth
    extension, docs/websockets.md): what a metrics exporter counts. ``size`` is the payload's
    length (characters for text received, bytes otherwise). Called on the event loop; it must
    not block or raise."""

    def message_received(self, size: int) -> None: ...

    def message_sent(self, size: int) -> None: ...


class WebSocketBase:
    """Message I/O, heartbeat and the close handshake of one WebSocket connection.

    Subclasses attach it to a transport with :meth:`_attach` once the handshake is done. The
    heartbeat's timers are in heartbeat.py and the close handshake's steps in closing.py; the
    state they read and change is this class's.
    """

    # Slots: an idle WebSocket is mostly this state, and a dict of this many keys costs
    # about 1.2 KiB more per connection (subclasses keep a __dict__ for their own).
    __slots__ = (
        "_autoclose",
        "_autoping",
        "_close_code",
        "_close_received",
        "_close_sent",
        "_closed_reads",
        "_closing_reported",
        "_conn_lost",
        "_deferred",
        "_done",
        "_drain",
        "_exception",
        "_flush_scheduled",
        "_heartbeat",
        "_linger_handle",
        "_loop",
        "_max_msg_size",
        "_observer",
        "_out",
        "_out_size",
        "_pause_reading",
        "_pinger",
        "_queue",
        "_queued_bytes",
        "_read_waiter",
        "_reading_paused",
        "_receive_timeout",
        "_registries",
        "_resume_reading",
        "_timeout",
        "_transport",
        "_waiting",
        "_ws_reader",
        "_ws_writer",
    )

    def _init_ws(
        self,
        *,
        timeout: float,
        receive_timeout: float | None,
        autoclose: bool,
        autoping: bool,
        heartbeat: float | None,
        max_msg_size: int,
    ) -> None:
        self._timeout = timeout
        self._receive_timeout = receive_timeout
        self._autoclose = autoclose
        self._autoping = autoping
        self._heartbeat = heartbeat
        self._max_msg_size = max_msg_size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: asyncio.Transport | None = None
        self._ws_reader: FrameReader | None = None
        self._ws_writer: FrameWriter | None = None
        self._drain: Callable[[], Awaitable[None]] | None = None
        self._pause_reading: Callable[[], None] | None = None
        self._resume_reading: Callable[[], None] | None = None
        self._queue: deque[WSMessage] = deque()
        self._queued_bytes = 0
        self._reading_paused = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._waiting = False
        self._closing_reported = False
        self._closed_reads = 0
        self._close_sent = False
        self._close_received = False
        self._conn_lost = False
        self._close_code: int | None = None
        self._exception: BaseException | None = None
        self._done: asyncio.Future[None] | None = None  # peer's Close received or conn lost
        self._pinger: Pinger | None = None  # while a heartbeat runs (heartbeat.py)
        self._deferred: WSMessage | None = None  # a Close or error waiting behind messages
        self._linger_handle: asyncio.TimerHandle | None = None
        self._registries: list[Any] = []
        self._out: list[bytes] = []  # frames corked until the end of this loop pass
        self._out_size = 0
        self._flush_scheduled = False
        self._observer: MessageObserver | None = None

    def observe(self, observer: MessageObserver | None) -> None:
        """Tell ``observer`` of every TEXT and BINARY message from now on (None: stop).

        A Berth extension (aiohttp has no equivalent): one observer per socket, for metrics.
        Without one, a message costs a single ``is None`` check.
        """
        self._observer = observer

    # -- wiring -----------------------------------------------------------------------------

    def _attach(
        self,
        loop: asyncio.AbstractEventLoop,
        transport: asyncio.Transport | None,
        reader: FrameReader,
        writer: FrameWriter,
        *,
        drain: Callable[[], Awaitable[None]],
        pause_reading: Callable[[], None],
        resume_reading: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._transport = transport
        self._ws_reader = reader
        self._ws_writer = writer
        self._drain = drain
        self._pause_reading = pause_reading
        self._resume_reading = resume_reading
        self._done = loop.create_future()
        if transport is None or transport.is_closing():
            self._on_eof(ConnectionResetError("Connection lost during the handshake"))
            return
        if self._heartbeat is not None:
            self._pinger = Pinger(self, loop, self._heartbeat)
            self._pinger.start()

    def _on_data(self, data: bytes) -> None:
        """Bytes from the peer (the transport's ``data_received``)."""
        reader = self._ws_reader
        if reader is None or self._conn_lost or self._close_received:
            return  # nothing counts after the peer's Close (RFC 6455 5.5.1)
        pinger = self._pinger
        if pinger is not None and not self._close_sent:
            pinger.seen_alive()
        for msg in reader.feed(data):
            if self._close_received:
                break
            self._dispatch(msg)

    def _on_eof(self, exc: BaseException | None) -> None:
        """The peer closed its side, or the connection is gone."""
        if self._conn_lost:
            return
        self._conn_lost = True
        self._cancel_heartbeat()
        if not self._close_received:
            # RFC 6455 7.1.5: closed without a Close frame is 1006.
            if self._close_code is None:
                self._close_code = WSCloseCode.ABNORMAL_CLOSURE
            if exc is not None and self._exception is None:
                self._exception = exc
                self._queue.append(WSMessage(WSMsgType.ERROR, exc, None))
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._flush()
            transport.close()  # EOF: the peer will send nothing more; finish our side too
        self._finish()

    def _finish(self) -> None:
        if self._linger_handle is not None:
            self._linger_handle.cancel()
            self._linger_handle = None
        done = self._done
        if done is not None and not done.done():
            done.set_result(None)
        self._wake_reader()
        # A registry's discard() takes itself off this list: walk a copy, or every other
        # registry (a sub-application's, the cluster hub's) would keep a closed socket.
        registries, self._registries = self._registries, []
        for registry in registries:
            registry.discard(self)

    # -- incoming messages ------------------------------------------------------------------

    def _dispatch(self, msg: WSMessage) -> None:
        kind = msg.type
        if kind is _TEXT or kind is _BINARY:
            if not self._close_sent:  # after our Close, data is dropped (RFC 6455 5.5.1)
                size = len(msg.data)
                if self._observer is not None:
                    self._observer.message_received(size)
                self._enqueue(msg, size)
        elif kind is _PING:
            if self._autoping:
                # RFC 6455 5.5.2: answer with a Pong carrying the same payload, at once.
                if not self._close_sent:
                    self._write(self._frames().pong(msg.data))
            else:
                self._enqueue(msg, len(msg.data))
        elif kind is _PONG:
            if not self._autoping:
                self._enqueue(msg, len(msg.data))
        elif kind is _CLOSE:
            on_close_frame(self, msg)
        else:
            on_protocol_error(self, msg)

    def _enqueue(self, msg: WSMessage, size: int) -> None:
        self._queue.append(msg)
        self._queued_bytes += size
        if self._queued_bytes > _QUEUE_HIGH_WATER and not self._reading_paused:
            # Backpressure: the application reads slower than the peer sends.
            self._reading_paused = True
            if self._pause_reading is not None:
                self._pause_reading()
        self._wake_reader()

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _dequeue(self) -> WSMessage:
        msg = self._queue.popleft()
        if msg is self._deferred:
            act_on(self, msg)
        if msg.type in _SIZED:
            self._queued_bytes -= len(msg.data)
        if self._reading_paused and self._queued_bytes <= _QUEUE_HIGH_WATER // 2:
            self._reading_paused = False
            if self._resume_reading is not None:
                self._resume_reading()
        return msg

    # -- heartbeat (heartbeat.py keeps the timers) --------------------------------------

    def _heartbeat_ping(self) -> bool:
        if self._close_sent or self._conn_lost:
            return False
        self._write(self._frames().ping())
        return True

    def _heartbeat_missed(self, waited: float) -> None:
        if self._close_sent or self._conn_lost:
            return
        exc = TimeoutError(f"No PONG received after {waited:g} seconds")
        ws_logger.info("WebSocket peer did not answer a ping: closing")
        self._exception = exc
        self._close_code = WSCloseCode.ABNORMAL_CLOSURE
        self._close_sent = True
        self._queue.append(WSMessage(WSMsgType.ERROR, exc, None))
        # A dead peer never acknowledges: abort instead of waiting for the buffer to flush.
        if self._transport is not None:
            self._transport.abort()
        self._on_eof(None)

    def _cancel_heartbeat(self) -> None:
        pinger = self._pinger
        if pinger is not None:
            # Dropped too: the pinger refers back to this socket, and a closed socket
            # should go when its last reference does, not wait for the cycle collector.
            self._pinger = None
            pinger.stop()

    # -- writing ----------------------------------------------------------------------------

    def _frames(self) -> FrameWriter:
        writer = self._ws_writer
        if writer is None:
            raise RuntimeError("Call .prepare() first")
        return writer

    def _write(self, frame: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            self._cork(frame)

    def _cork(self, frame: bytes) -> None:
        # Whole frames only, in order, so frames from concurrent senders never interleave.
        self._out.append(frame)
        self._out_size += len(frame)
        if self._out_size >= _CORK_LIMIT or self._loop is None:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            flush_later(self)

    def _flush(self) -> None:
        self._flush_scheduled = False
        out = self._out
        if not out:
            return
        data = out[0] if len(out) == 1 else b"".join(out)
        out.clear()
        self._out_size = 0
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    async def _send(self, frame: bytes) -> None:
        if self._close_sent or self._conn_lost:
            raise ConnectionResetError("Cannot write to closing transport")
        transport = self._transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        self._cork(frame)
        assert self._drain is not None
        await self._drain()

    def _offer(self, opcode: WSMsgType, payload: bytes, plain_frame: bytes) -> bool:
        """Write a TEXT or BINARY message now, unless that would mean waiting for the peer.

        For a fan-out that must never await a slow socket (``runtime.cluster``): when the
        connection's send buffer is past its high-water mark the caller keeps the message
        and tries again after :meth:`_writable`. ``plain_frame`` is the message as an
        uncompressed server frame, built once and shared by every socket that agreed no
        permessage-deflate (each deflating socket compresses with its own context).

        Raises:
            ConnectionResetError: once the WebSocket is closing or the peer has gone.
        """
        transport = self._transport
        if self._close_sent or self._conn_lost or transport is None or transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        buffered = transport.get_write_buffer_size() + self._out_size
        if buffered > transport.get_write_buffer_limits()[1]:
            return False
        writer = self._frames()
        if writer.compress or writer.is_client:
            self._cork(writer.message(opcode, payload))
        else:
            self._cork(plain_frame)
        if self._observer is not None:
            self._observer.message_sent(len(payload))
        return True

    async def _writable(self) -> None:
        """Return once :meth:`_offer` may take a message again (the send buffer drained).

        Raises:
            ConnectionResetError: once the peer has gone.
        """
        self._flush()  # corked frames count against the limit until they reach the transport
        assert self._drain is not None
        await self._drain()

    async def send_frame(
        self, message: bytes, opcode: WSMsgType, compress: int | None = None
    ) -> None:
        """Send one frame of any opcode, as given (aiohttp's low-level ``send_frame``).

        Raises:
            RuntimeError: before ``prepare()``.
            ConnectionResetError: once the WebSocket is closing or the peer has gone.
        """
        frames = self._frames()
        payload = bytes(message)
        if opcode is not _TEXT and opcode is not _BINARY:
            await self._send(frames.frame(opcode, payload))
            return
        await self._send(frames.message(opcode, payload, compress=_compress_flag(compress)))
        if self._observer is not None:
            self._observer.message_sent(len(payload))

    async def send_str(self, data: str, compress: int | None = None) -> None:
        """Send a TEXT message.

        Args:
            compress: ``0`` to send this message uncompressed; ``None`` (the default) to
                compress it when permessage-deflate was agreed.

        Raises:
            TypeError: ``data`` is not ``str``.
            ConnectionResetError: once the WebSocket is closing or the peer has gone.
        """
        if not isinstance(data, str):
            raise TypeError(f"data argument must be str ({type(data)!r})")
        payload = data.encode("utf-8")
        frame = self._frames().message(_TEXT, payload, compress=_compress_flag(compress))
        await self._send(frame)
        if self._observer is not None:
            self._observer.message_sent(len(payload))

    async def send_bytes(self, data: bytes, compress: int | None = None) -> None:
        """Send a BINARY message (see :meth:`send_str` for ``compress``).

        Raises:
            TypeError: ``data`` is not bytes-like.
            ConnectionResetError: once the WebSocket is closing or the peer has gone.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be byte-ish ({type(data)!r})")
        payload = bytes(data)
        frame = self._frames().message(_BINARY, payload, compress=_compress_flag(compress))
        await self._send(frame)
        if self._observer is not None:
            self._observer.message_sent(len(payload))

    async def send_json(
        self,
        data: Any,
        compress: int | None = None,
        *,
        dumps: Callable[[Any], str] = json.dumps,
    ) -> None:
        """Send ``dumps(data)`` as a TEXT message."""
        await self.send_str(dumps(data), compress=compress)

    async def ping(self, message: bytes = b"") -> None:
        """Send a Ping (at most 125 bytes of payload)."""
        await self._send(self._frames().ping(_as_bytes(message)))

    async def pong(self, message: bytes = b"") -> None:
        """Send an unsolicited Pong (a unidirectional heartbeat, RFC 6455 5.5.3)."""
        await self._send(self._frames().pong(_as_bytes(message)))

    # -- closing (closing.py has the handshake's steps) -------------------------------------

    async def close(
        self, *, code: int = WSCloseCode.OK, message: bytes | str = b"", drain: bool = True
    ) -> bool:
        """Start (or finish) the close handshake and close the connection.

        Safe from any task: a task blocked in :meth:`receive` wakes up with a CLOSING
        message (``async for`` ends). Waits at most ``timeout`` (the constructor's) for the
        peer's Close, then closes the connection anyway.

        Returns:
            ``False`` when the WebSocket was already closed or closing.

        Raises:
            RuntimeError: before ``prepare()``.
            ValueError: a code that may not be sent or a reason over 123 bytes.
        """
        return await close_handshake(self, code, message, drain=drain)

    def _abort(self) -> None:
        transport = self._transport
        if transport is not None:
            transport.abort()

    # -- reading ----------------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> WSMessage:
        """The next message.

        PING and PONG are answered and swallowed with ``autoping`` (the default); a CLOSE
        is answered with ``autoclose`` and returned. Once closed, returns CLOSING (the
        first time, while the handshake runs) or CLOSED messages.

        Args:
            timeout: seconds to wait; the constructor's ``receive_timeout`` by default.

        Raises:
            RuntimeError: before ``prepare()``, while another task is receiving, or when
                called again and again on a closed WebSocket.
            TimeoutError: nothing arrived in time (the WebSocket stays open).
        """
        if self._ws_reader is None:
            raise RuntimeError("Call .prepare() first")
        if self._waiting:
            raise RuntimeError("Concurrent call to receive() is not allowed")
        timeout = timeout or self._receive_timeout
        while True:
            if self._queue:
                return self._dequeue()
            if self._conn_lost or (self._close_sent and self._close_received):
                self._closed_reads += 1
                if self._closed_reads >= _CLOSED_READS_LIMIT:
                    raise RuntimeError("WebSocket connection is closed.")
                return WS_CLOSED_MESSAGE
            if self._close_sent or self._close_received:
                if not self._closing_reported:
                    self._closing_reported = True
                    return WS_CLOSING_MESSAGE
                await self._wait(self._done, None)  # the handshake ends within its timeout
                continue
            assert self._loop is not None
            waiter = self._read_waiter = self._loop.create_future()
            await self._wait(waiter, timeout)

    async def _wait(self, fut: asyncio.Future[None] | None, timeout: float | None) -> None:
        assert fut is not None
        # The read waiter is this wait's own: a timeout or a cancel may cancel it with the
        # wait (_wake_reader skips a done one). The closing handshake's future is shared
        # with close(): that one is shielded.
        waited = fut if fut is self._read_waiter else asyncio.shield(fut)
        self._waiting = True
        try:
            if timeout:
                async with asyncio.timeout(timeout):
                    await waited
            else:
                await waited
        finally:
            self._waiting = False
            if self._read_waiter is fut:
                self._read_waiter = None

    async def receive_str(self, *, timeout: float | None = None) -> str:
        """The next message, which must be TEXT.

        Raises:
            WSMessageTypeError: another kind of message arrived.
        """
        msg = await self.receive(timeout)
        if msg.type is not _TEXT:
            raise WSMessageTypeError(f"Received message {msg.type}:{msg.data!r} is not TEXT")
        data: str = msg.data
        return data

    async def receive_bytes(self, *, timeout: float | None = None) -> bytes:
        """The next message, which must be BINARY.

        Raises:
            WSMessageTypeError: another kind of message arrived.
        """
        msg = await self.receive(timeout)
        if msg.type is not _BINARY:
            raise WSMessageTypeError(f"Received message {msg.type}:{msg.data!r} is not BINARY")
        data: bytes = msg.data
        return data

    async def receive_json(
        self, *, loads: Callable[[str], Any] = json.loads, timeout: float | None = None
    ) -> Any:
        """The next message, a TEXT one, decoded with ``loads``."""
        return loads(await self.receive_str(timeout=timeout))

    def __aiter__(self) -> WebSocketBase:
        return self

    async def __anext__(self) -> WSMessage:
        msg = await self.receive()
        if msg.type in _ENDS:
            raise StopAsyncIteration
        return msg

    # -- state ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once a Close was sent or the connection is gone."""
        return self._close_sent or self._conn_lost

    @property
    def close_code(self) -> int | None:
        """The peer's close code, ours on a protocol error, 1006 when the connection ended
        without a close handshake; ``None`` while open."""
        return self._close_code

    def exception(self) -> BaseException | None:
        """The error that ended the connection, if one did."""
        return self._exception

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        """Transport information (``peername``, ``sslcontext``...)."""
        transport = self._transport
        if transport is None:
            return default
        return transport.get_extra_info(name, default)


def _compress_flag(compress: int | None) -> bool | None:
    # aiohttp passes window bits here; we honour "0 = do not compress this message".
    return None if compress is None else bool(compress)


def _as_bytes(message: bytes | str) -> bytes:
    return message.encode("utf-8") if isinstance(message, str) else bytes(message)
