"""The WebSocket protocol's batched flow control and coalesced writes (openenv_server.websocket).

Unit level: messages fed to the protocol pause reading only at the high-water mark (by count or by
size) and resume once drained below half of it; writes of all connections wait for the end of the
loop iteration and go out in order, and a close flushes first. Live: a client that pipelines many steps without
reading gets every reply, in order, identical to stepping one at a time.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import uvicorn
from websockets.sync.client import connect as ws_connect

from openenv_server.app import Settings, uvicorn_config
from openenv_server.testing import running_server
from openenv_server.websocket import (
    HIGH_WATER_BYTES,
    HIGH_WATER_MESSAGES,
    BatchedFlowWebSocketProtocol,
    CoalescingTransport,
)


class FakeTransport:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def is_closing(self) -> bool:
        return False


def _protocol() -> tuple[BatchedFlowWebSocketProtocol, FakeTransport]:
    async def app(scope, receive, send):  # never called: no handshake in these tests
        raise AssertionError

    config = uvicorn.Config(app, ws=BatchedFlowWebSocketProtocol)
    config.load()
    proto = BatchedFlowWebSocketProtocol(config=config, server_state=uvicorn.server.ServerState(), app_state={})
    transport = FakeTransport()
    proto.transport = transport  # the handshake would set it; the flow control only needs these calls
    return proto, transport


def _feed(proto: BatchedFlowWebSocketProtocol, text: bytes) -> None:
    proto.curr_msg_data_type = "text"
    proto.frames = [text]
    proto.send_receive_event_to_app()


def test_uvicorn_config_uses_the_batched_protocol_and_can_be_given_uvicorns_own():
    settings = Settings()
    assert uvicorn_config(None, settings).ws is BatchedFlowWebSocketProtocol
    assert uvicorn_config(None, settings, ws="websockets-sansio").ws == "websockets-sansio"


def test_reading_pauses_only_at_the_message_high_water_mark_and_resumes_below_half():
    async def run():
        proto, transport = _protocol()
        for _ in range(HIGH_WATER_MESSAGES - 1):
            _feed(proto, b'{"type": "step", "data": {"action_type": "do_nothing"}}')
        assert transport.calls == []  # uvicorn's own protocol would have paused after the first
        _feed(proto, b'{"type": "state"}')
        assert transport.calls == ["pause"] and proto.read_paused
        _feed(proto, b'{"type": "state"}')  # bytes already in one read are still queued, no second pause
        assert transport.calls == ["pause"]
        received = []
        while proto.read_paused:  # a protocol that never resumes fails here (queue drained, still paused)
            received.append(await asyncio.wait_for(proto.receive(), 2))
        assert transport.calls == ["pause", "resume"]
        assert proto.queue.qsize() == HIGH_WATER_MESSAGES // 2 - 1
        while not proto.queue.empty():
            received.append(await proto.receive())
        assert len(received) == HIGH_WATER_MESSAGES + 1
        assert [m["type"] for m in received] == ["websocket.receive"] * len(received)
        assert received[0]["text"].startswith('{"type": "step"') and received[-1]["text"] == '{"type": "state"}'
        assert proto.queued_bytes == 0

    asyncio.run(run())


def test_reading_pauses_at_the_byte_high_water_mark():
    async def run():
        proto, transport = _protocol()
        _feed(proto, b"x" * (HIGH_WATER_BYTES // 2))
        assert transport.calls == []
        _feed(proto, b"y" * (HIGH_WATER_BYTES // 2))
        assert transport.calls == ["pause"]
        first = await proto.receive()
        assert first["text"][0] == "x" and transport.calls == ["pause"]  # still at half the mark
        await proto.receive()
        assert transport.calls == ["pause", "resume"] and proto.queued_bytes == 0

    asyncio.run(run())


def test_invalid_utf8_still_closes_the_connection_without_queueing_a_message():
    async def run():
        proto, transport = _protocol()
        written = []
        transport.write = written.append
        transport.close = lambda: transport.calls.append("close")
        proto.conn.state = proto.conn.state.__class__.OPEN  # as after a handshake
        _feed(proto, b"\xff\xfe")
        message = await proto.receive()
        assert message["type"] == "websocket.disconnect" and message["code"] == 1007
        assert "close" in transport.calls and "pause" not in transport.calls and proto.queued_bytes == 0

    asyncio.run(run())


def _inline_protocol(max_bytes: int | None = None) -> tuple[BatchedFlowWebSocketProtocol, FakeTransport, list, list]:
    """An open connection whose app offered an inline handler that answers "re:<text>", or None
    for messages starting with "skip"; returns it with its transport, what was written and what the
    handler was given."""
    proto, transport = _protocol()
    written: list[bytes] = []
    transport.write = written.append
    transport.close = lambda: transport.calls.append("close")
    proto.conn.state = proto.conn.state.__class__.OPEN  # as after a handshake
    seen: list[str] = []

    def handler(text: str) -> str | None:
        seen.append(text)
        return None if text.startswith("skip") else "re:" + text

    proto.offer_inline(handler, max_bytes)
    return proto, transport, written, seen


def _read(proto: BatchedFlowWebSocketProtocol, *texts: bytes) -> None:
    """Messages that arrive in one read (data_received resets the inline budget)."""
    proto.inline_budget = 1
    for text in texts:
        _feed(proto, text)


def test_an_inline_handler_answers_one_message_per_read_and_only_when_nothing_else_waits():
    async def run():
        proto, transport, written, seen = _inline_protocol()
        _read(proto, b"m1", b"m2")  # one read, two messages: the second goes to the app
        assert seen == ["m1"] and len(written) == 1 and proto.queue.qsize() == 1
        _read(proto, b"m3")  # the app has not taken m2 yet: m3 must not overtake it
        assert seen == ["m1"] and proto.queue.qsize() == 2
        assert (await proto.receive())["text"] == "m2" and (await proto.receive())["text"] == "m3"
        _read(proto, b"skip me")  # the handler declines: the app gets it
        assert seen[-1] == "skip me" and (await proto.receive())["text"] == "skip me"
        proto.writable.clear()  # the peer is not reading our replies: leave it to the app (which waits)
        _read(proto, b"m4")
        assert seen[-1] == "skip me" and (await proto.receive())["text"] == "m4"
        proto.writable.set()
        proto.curr_msg_data_type = "bytes"
        proto.frames = [b"binary"]
        proto.inline_budget = 1
        proto.send_receive_event_to_app()  # binary frames are never answered inline
        assert (await proto.receive())["bytes"] == b"binary"
        proto.offer_inline(None)  # withdrawn: everything goes to the app
        _read(proto, b"m5")
        assert (await proto.receive())["text"] == "m5"
        assert seen == ["m1", "skip me"] and len(written) == 1
        assert b"re:m1" in written[0] and "pause" not in transport.calls

    asyncio.run(run())


def test_an_inline_handler_is_only_given_messages_within_its_size_limit():
    async def run():
        proto, _, written, seen = _inline_protocol(max_bytes=8)
        _read(proto, b"12345678")
        _read(proto, b"123456789")
        assert seen == ["12345678"] and len(written) == 1
        assert (await proto.receive())["text"] == "123456789"

    asyncio.run(run())


def test_an_inline_handler_that_raises_fails_the_connection_with_1011():
    async def run():
        proto, transport, written, _ = _inline_protocol()

        def broken(text: str) -> str | None:
            raise RuntimeError("bug")

        proto.offer_inline(broken)
        _read(proto, b"m1")
        message = await proto.receive()
        assert message["type"] == "websocket.disconnect" and message["code"] == 1011
        assert "close" in transport.calls and proto.inline_handler is None and proto.close_sent
        assert written and written[-1][:2] == bytes([0x88, len(written[-1]) - 2])  # a close frame

    asyncio.run(run())


class RecordingTransport(FakeTransport):
    """Writes and closes go to a log shared by several connections, to check their order."""

    def __init__(self, name: str, log: list) -> None:
        super().__init__()
        self.name, self.log = name, log

    def write(self, data: bytes) -> None:
        self.log.append((self.name, data))

    def close(self) -> None:
        self.log.append((self.name, "close"))

    def get_extra_info(self, name: str, default=None):
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)


def test_writes_of_all_connections_go_out_together_after_the_loop_iteration_in_order():
    async def run():
        log: list = []
        a, _ = _protocol()
        b, _ = _protocol()
        a.connection_made(RecordingTransport("a", log))
        b.connection_made(RecordingTransport("b", log))
        assert isinstance(a.transport, CoalescingTransport) and a.transport.batch is b.transport.batch
        a.transport.write(b"a1")
        b.transport.write(b"b1")
        a.transport.write(b"")  # nothing to send: not queued
        a.transport.write(b"a2")
        assert log == [] and not a.transport.is_closing()  # held until the iteration ends; the rest passes through
        await asyncio.sleep(0)
        assert log == [("a", b"a1"), ("b", b"b1"), ("a", b"a2")]
        b.transport.write(b"b2")
        a.transport.write(b"a3")
        b.transport.close()  # a close flushes everything first: nothing written before it is lost
        assert log[3:] == [("b", b"b2"), ("a", b"a3"), ("b", "close")]
        await asyncio.sleep(0)
        assert len(log) == 6  # the flush already scheduled finds nothing left to write

        def broken(data: bytes) -> None:
            raise RuntimeError("Cannot call write() after write_eof()")

        a.transport.transport.write = broken
        a.transport.write(b"a4")
        b.transport.write(b"b3")
        await asyncio.sleep(0)
        assert log[6:] == [("b", b"b3")]  # a failing connection does not cost the others their writes

    asyncio.run(run())


@pytest.fixture(scope="module")
def server():
    with running_server() as url:
        yield url.replace("http://", "ws://") + "/ws"


def test_pipelined_steps_all_come_back_in_order_and_match_lockstep(server):
    """Bursts of more than the high-water mark, sent without reading, with pauses between bursts so
    later bursts arrive after reading has paused: every reply comes back, in order, as in lockstep."""

    bursts = []
    for k in range(3):
        burst = [json.dumps({"type": "reset", "data": {"task_id": "phase2_core", "seed": k}})]
        for i in range(2 * HIGH_WATER_MESSAGES):
            action = (
                {"action_type": "archive_email", "email_id": f"e{i % 25 + 1:02d}"}
                if i % 3 == 0
                else {"action_type": "do_nothing"}
            )
            burst.append(json.dumps({"type": "step", "data": action}))
        bursts.append(burst)
    messages = [m for burst in bursts for m in burst]

    with ws_connect(server, max_size=None) as ws:
        for burst in bursts:
            for m in burst:
                ws.send(m)
            time.sleep(0.2)  # the server has read and queued this burst (and paused) before the next
        pipelined = [json.loads(ws.recv(timeout=30)) for _ in messages]

    with ws_connect(server, max_size=None) as ws:
        lockstep = []
        for m in messages:
            ws.send(m)
            lockstep.append(json.loads(ws.recv(timeout=30)))

    per_burst = 1 + 2 * HIGH_WATER_MESSAGES
    steps = [r["data"]["observation"]["step"] for r in pipelined]
    assert steps == list(range(per_burst)) * len(bursts)
    assert pipelined == lockstep
