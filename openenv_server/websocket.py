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

Everything else (handshake, frames, ping/pong, close, limits) is uvicorn's. `uvicorn_config`
uses this class; `ws="websockets-sansio"` gives back uvicorn's own behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

LOG = logging.getLogger("uvicorn.error")
HIGH_WATER_MESSAGES = 16  # unread messages per connection before reading pauses
HIGH_WATER_BYTES = 1 << 20  # ... or this many bytes of them (frames up to ws_max_size still count whole)


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
    """Pauses reading at a high-water mark of unread messages instead of after each one, and
    coalesces writes across connections (see the module docstring)."""

    queued_bytes = 0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self.transport = CoalescingTransport(self.transport, write_batch(asyncio.get_running_loop()))

    def send_receive_event_to_app(self) -> None:
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
