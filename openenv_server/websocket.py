"""uvicorn's sans-I/O WebSocket protocol with batched read flow control and coalesced writes.

uvicorn's `websockets-sansio` protocol stops reading the socket after *every* incoming message
and starts again once the app has taken it: two `epoll_ctl` system calls plus event-loop
bookkeeping per message, about a tenth of the server's main-thread time in a 64-session step
bench (py-spy). A step-at-a-time client never has more than one message in flight, so that pause
protects nothing. This subclass pauses only when a connection's unread messages pass a high-water
mark (by count or by size) and resumes once they drain below half of it, which still bounds what a
flooding client can make the server buffer.

Writes are coalesced: what a connection writes is held until the event loop has run every callback
that was ready, then the writes of all connections go out together, in order. Each write to a peer
that sleeps waiting for it has to wake that peer, and on a VM whose idle vCPUs halt (this host: a
Firecracker guest, cpuidle haltpoll with no polling) that costs the writer a kernel round trip; a
burst written together wakes it once. With 64 sessions the server's system time per step fell by
about half (19-26 to 9-10 µs in an A/B; docs/openenv.md). A lone session waits one extra loop
iteration (microseconds) for its reply.

Inline replies: the protocol offers the app a way to answer a text message inside the read
callback, without the receive queue, a task switch and the ASGI message dicts in between (about a
seventh of the server's time per step at 64 sessions). It is an ASGI scope extension,
`scope["extensions"][INLINE_REPLIES]`, a function `offer(handler, max_bytes)`. While a handler is set,
a text message of at most `max_bytes` (UTF-8) that arrives when nothing is queued for the app and the
peer is reading is passed to `handler(text)`. If the handler returns a string, that is sent at once as
the reply; if it returns None, the message is queued for the app as usual. `offer(None)` withdraws it.
The app sets a handler only while it waits for its next message, so replies keep their order. At most
one message per read is answered inline, so one pipelining client cannot hold the loop longer than
the usual path lets it. A middleware that inspects or rewrites messages must narrow or drop the offer
(PayloadLimitMiddleware passes on its limit as `max_bytes`). A handler must not raise; if one does,
the connection is failed with code 1011, as when an app crashes.

Everything else (handshake, frames, ping/pong, close, limits) is uvicorn's. `uvicorn_config`
uses this class; `ws="websockets-sansio"` gives back uvicorn's own behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

LOG = logging.getLogger("uvicorn.error")
HIGH_WATER_MESSAGES = 16  # unread messages per connection before reading pauses
HIGH_WATER_BYTES = 1 << 20  # ... or this many bytes of them (frames up to ws_max_size still count whole)
INLINE_REPLIES = "ghostexec.inline_replies"  # the scope extension (module docstring)

InlineHandler = Callable[[str], "str | None"]


def _size(message: Any) -> int:
    if message.get("type") != "websocket.receive":
        return 0
    data = message.get("text")
    if data is None:
        data = message.get("bytes") or b""
    return len(data)


class WriteBatch:
    """The writes of every connection on one event loop since its last flush, written in order by
    one callback scheduled for the loop's next iteration."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.pending: list[tuple[Any, bytes]] = []

    def add(self, transport: Any, data: bytes) -> None:
        if not self.pending:
            self.loop.call_soon(self.flush)
        self.pending.append((transport, data))

    def flush(self) -> None:
        pending, self.pending = self.pending, []
        for transport, data in pending:
            try:
                transport.write(data)  # a closed transport drops it (asyncio counts it) without raising
            except Exception:  # one broken connection must not cost the others their replies
                LOG.exception("WebSocket write failed; dropped %d bytes for that connection", len(data))


_BATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, WriteBatch] = weakref.WeakKeyDictionary()


def write_batch(loop: asyncio.AbstractEventLoop) -> WriteBatch:
    batch = _BATCHES.get(loop)
    if batch is None:
        batch = _BATCHES[loop] = WriteBatch(loop)
    return batch


class CoalescingTransport:
    """A connection's transport whose `write` joins the loop's WriteBatch. Closing (or ending the
    write side) flushes the batch first, so nothing written before a close is lost or reordered;
    everything else goes straight to the real transport."""

    __slots__ = ("batch", "transport")

    def __init__(self, transport: Any, batch: WriteBatch) -> None:
        self.transport = transport
        self.batch = batch

    def write(self, data: bytes) -> None:
        if data:
            self.batch.add(self.transport, data)

    def close(self) -> None:
        self.batch.flush()
        self.transport.close()

    def abort(self) -> None:
        self.batch.flush()
        self.transport.abort()

    def write_eof(self) -> None:
        self.batch.flush()
        self.transport.write_eof()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class BatchedFlowWebSocketProtocol(WebSocketsSansIOProtocol):
    """Pauses reading at a high-water mark of unread messages instead of after each one, coalesces
    writes across connections, and lets the app answer a message inline (see the module docstring)."""

    queued_bytes = 0
    inline_handler: InlineHandler | None = None
    inline_max_bytes = 0
    inline_budget = 0  # messages that may still be answered inline in the current read

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(self.transport, write_batch(asyncio.get_running_loop()))

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        if not self.close_sent:  # the handshake goes on: the app task is created but has not run
            self.scope["extensions"][INLINE_REPLIES] = self.offer_inline

    def offer_inline(self, handler: InlineHandler | None, max_bytes: int | None = None) -> None:
        """Set (or, with None, withdraw) the handler that may answer text messages inline."""
        self.inline_handler = handler
        self.inline_max_bytes = self.config.ws_max_size if max_bytes is None else max_bytes

    def data_received(self, data: bytes) -> None:
        self.inline_budget = 1
        super().data_received(data)

    def answered_inline(self) -> bool:
        """Try the inline handler on the message in `self.frames`; True if it sent the reply."""
        frames = self.frames
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        if len(data) > self.inline_max_bytes:
            return False
        try:
            text = data.decode()
        except UnicodeDecodeError:
            return False  # the usual path closes the connection with 1007
        try:
            reply = self.inline_handler(text)  # type: ignore[misc]
        except Exception:
            self.logger.exception("Exception in an inline WebSocket handler")
            self.inline_handler = None
            self.frames = []
            self.conn.fail(1011, "internal error")
            self.handle_parser_exception()  # tells the app it is disconnected, sends the close frame
            return True
        if reply is None:
            return False
        self.inline_budget -= 1
        self.frames = []
        self.conn.send_text(reply.encode())
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True

    def send_receive_event_to_app(self) -> None:
        if (
            self.inline_handler is not None
            and self.inline_budget > 0
            and self.curr_msg_data_type == "text"
            and not self.close_sent
            and self.conn.state is State.OPEN
            and self.queue.empty()
            and self.writable.is_set()
            and self.answered_inline()
        ):
            return
        size = sum(len(frame) for frame in self.frames)
        before = self.queue.qsize()
        paused = self.read_paused
        self.read_paused = True  # the base class pauses unless it believes reading is already paused
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = paused
        if self.queue.qsize() > before:
            self.queued_bytes += size
        if not self.read_paused and (self.queue.qsize() >= HIGH_WATER_MESSAGES or self.queued_bytes >= HIGH_WATER_BYTES):
            self.read_paused = True
            self.transport.pause_reading()

    async def receive(self) -> Any:
        message = await self.queue.get()
        if self.queue.empty():
            self.queued_bytes = 0  # text is counted in characters on the way out: never let it drift
        else:
            self.queued_bytes = max(0, self.queued_bytes - _size(message))
        if self.read_paused and self.queue.qsize() < HIGH_WATER_MESSAGES // 2 and self.queued_bytes < HIGH_WATER_BYTES // 2:
            self.read_paused = False
            self.transport.resume_reading()
        return message
