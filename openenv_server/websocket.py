"""uvicorn's sans-I/O WebSocket protocol with batched read flow control.

uvicorn's `websockets-sansio` protocol stops reading the socket after *every* incoming message
and starts again once the app has taken it: two `epoll_ctl` system calls plus event-loop
bookkeeping per message, about a tenth of the server's main-thread time in a 64-session step
bench (py-spy). A step-at-a-time client never has more than one message in flight, so that pause
protects nothing. This subclass pauses only when a connection's unread messages pass a high-water
mark (by count or by size) and resumes once they drain below half of it, which still bounds what a
flooding client can make the server buffer.

Everything else (handshake, frames, ping/pong, close, limits) is uvicorn's. `uvicorn_config`
uses this class; `ws="websockets-sansio"` gives back uvicorn's own behaviour.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

HIGH_WATER_MESSAGES = 16  # unread messages per connection before reading pauses
HIGH_WATER_BYTES = 1 << 20  # ... or this many bytes of them (frames up to ws_max_size still count whole)


def _size(message: Any) -> int:
    if message.get("type") != "websocket.receive":
        return 0
    data = message.get("text")
    if data is None:
        data = message.get("bytes") or b""
    return len(data)


class BatchedFlowWebSocketProtocol(WebSocketsSansIOProtocol):
    """Pauses reading at a high-water mark of unread messages instead of after each one."""

    queued_bytes = 0

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
