"""How a WebSocket ends (RFC 6455 7): the close handshake started by either side, the
connection failed for a protocol error, and the TCP connection closed after them.

Our own Close is :func:`close_handshake` (what ``WebSocketBase.close()`` awaits). The peer's
Close or protocol error comes through the socket's frame dispatch (:func:`on_close_frame`,
:func:`on_protocol_error`) and takes effect after the messages queued before it: at once when
there are none, else when ``receive()`` reaches it (:func:`act_on`). These are functions of
the socket, not a class of their own: the state they change (``_close_sent``,
``_close_received``, ``_close_code``, ...) is ``WebSocketBase``'s, read on every send and
receive.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ..http.ws import WebSocketError, WSCloseCode, WSMessage, WSMsgType, build_close_payload

if TYPE_CHECKING:  # the socket these act on; connection.py imports this module
    from .connection import WebSocketBase

__all__ = ["act_on", "close_handshake", "close_transport", "on_close_frame", "on_protocol_error"]

_logger = logging.getLogger("runtime.websocket")  # connection.py's ws_logger

_LINGER_TIME = 2.0  # after failing a connection, how long we wait for the peer to close


def on_close_frame(ws: WebSocketBase, msg: WSMessage) -> None:
    """The peer's Close frame: the end of our handshake, or the start of its own."""
    ws._close_received = True
    ws._close_code = msg.data
    ws._cancel_heartbeat()
    if ws._close_sent:
        # The answer to our Close: the handshake is complete (RFC 6455 7.1.1).
        close_transport(ws)
        _finish_if_closed(ws)
        return
    _enqueue_in_order(ws, msg)


def on_protocol_error(ws: WebSocketBase, msg: WSMessage) -> None:
    """The peer broke the protocol (an ERROR message carrying the ``WebSocketError``)."""
    _logger.debug("WebSocket protocol error from the peer: %s", msg.data)
    ws._close_received = True  # the reader is failed: nothing more will be read
    ws._cancel_heartbeat()
    _enqueue_in_order(ws, msg)


def _enqueue_in_order(ws: WebSocketBase, msg: WSMessage) -> None:
    # A Close or a protocol error takes effect after the messages before it: with
    # some still queued, the application answers them first (an echo server echoes
    # them before the close, as Autobahn 3.2 and 7.1.1 expect); it happens when
    # receive() reaches it.
    immediate = not ws._queue
    ws._enqueue(msg, 0)
    if immediate:
        act_on(ws, msg)
    else:
        ws._deferred = msg


def act_on(ws: WebSocketBase, msg: WSMessage) -> None:
    """Answer the peer's Close, or fail the connection for its protocol error."""
    ws._deferred = None
    if msg.type is WSMsgType.CLOSE:
        if ws._autoclose and not ws._close_sent:
            # RFC 6455 5.5.1: answer a Close with a Close, echoing the status code.
            ws._close_sent = True
            code = None if msg.data == WSCloseCode.NO_STATUS_RECEIVED else msg.data
            ws._write(ws._frames().close(code))
            close_transport(ws)
    else:
        exc = msg.data
        assert isinstance(exc, WebSocketError)
        ws._exception = exc
        ws._close_code = exc.code
        if not ws._close_sent:
            # RFC 6455 7.1.7: fail the connection, with a Close frame saying why.
            ws._close_sent = True
            ws._write(ws._frames().close(exc.code, str(exc).encode()[:123]))
        close_transport(ws, linger=True)
    _finish_if_closed(ws)


def _finish_if_closed(ws: WebSocketBase) -> None:
    if ws._close_sent and ws._close_received:
        done = ws._done
        if done is not None and not done.done():
            done.set_result(None)
    ws._wake_reader()


async def close_handshake(
    ws: WebSocketBase, code: int, message: bytes | str, *, drain: bool
) -> bool:
    """What ``WebSocketBase.close()`` does (its docstring says what callers see): send our
    Close, wait for the peer's at most the socket's ``timeout``, then close the connection."""
    frames = ws._frames()
    build_close_payload(code, message)  # refuse a bad code before changing any state
    if ws._close_sent or ws._conn_lost:
        return False
    ws._close_sent = True
    ws._cancel_heartbeat()
    ws._wake_reader()
    ws._write(frames.close(code, message))
    if ws._close_received:
        close_transport(ws)
        _finish_if_closed(ws)
        return True
    try:
        if drain and ws._drain is not None:
            await ws._drain()
        done = ws._done
        assert done is not None
        async with asyncio.timeout(ws._timeout):
            await asyncio.shield(done)
    except TimeoutError as exc:
        ws._exception = exc
        ws._close_code = WSCloseCode.ABNORMAL_CLOSURE
    except ConnectionError as exc:
        ws._exception = exc
        ws._close_code = WSCloseCode.ABNORMAL_CLOSURE
    except asyncio.CancelledError:
        ws._close_code = WSCloseCode.ABNORMAL_CLOSURE
        ws._abort()
        raise
    finally:
        close_transport(ws)
    return True


def close_transport(ws: WebSocketBase, *, linger: bool = False) -> None:
    """Close the TCP connection once the Close frames are out (``linger``: failing it)."""
    # RFC 6455 7.1.1: once both Close frames are exchanged, the server closes TCP first.
    transport = ws._transport
    if transport is None or transport.is_closing():
        return
    ws._flush()  # corked frames (our Close among them) go out before the FIN
    if linger and ws._loop is not None and transport.can_write_eof():
        # Failing a connection whose peer may still be sending: closing with unread
        # bytes would reset it and could destroy our Close frame. Send FIN after the
        # Close, drop what still arrives, and close when the peer does (or later).
        transport.write_eof()
        if ws._reading_paused and ws._resume_reading is not None:
            ws._reading_paused = False
            ws._resume_reading()
        if ws._linger_handle is None:
            ws._linger_handle = ws._loop.call_later(_LINGER_TIME, transport.close)
        return
    transport.close()
