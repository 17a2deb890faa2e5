"""Inline step replies on /ws (openenv_server.websocket's offer, openenv_server.ws_endpoint's handler).

Served by our uvicorn protocol, a Ghostexec session answers step messages inside the socket's read
callback. These tests check, against a real uvicorn server on a loopback port, that this changes
nothing a client can see: replies equal the usual path's (Starlette's TestClient makes no offer, so
it is the reference), order holds when messages are pipelined and mixed, the payload limit still
applies, a failing handler costs only its own connection, and only environments that declare
`STEPS_INLINE` (with an async step) are answered inline. The protocol-level rules (one message per
read, nothing while others wait or the peer is not reading) are tested in
tests/test_openenv_websocket.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect as ws_connect

from bench.echo_env import EchoEnv
from openenv_server.app import create_app
from openenv_server.environment import GhostexecEnvironment
from openenv_server.testing import running_server
from openenv_server.websocket import INLINE_REPLIES
from openenv_server.ws_endpoint import SessionSocket, _no_offer, _overrides
from tests.test_openenv_ws_endpoint import GHOSTEXEC_SCRIPT, _without_session_ids, replies


@pytest.fixture
def inline_log(monkeypatch) -> list[tuple[str, bool]]:
    """Every message the inline handler saw, and whether it answered it."""
    log: list[tuple[str, bool]] = []
    original = SessionSocket.answer_inline

    def recording(self: SessionSocket, raw: str) -> str | None:
        reply = original(self, raw)
        log.append((raw, reply is not None))
        return reply

    monkeypatch.setattr(SessionSocket, "answer_inline", recording)
    return log


def _text(message: Any) -> str:
    return message if isinstance(message, str) else json.dumps(message)


def _is_step(message: Any) -> bool:
    """Whether `message` is a JSON object of type step (the one kind answered inline)."""
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError:
            return False
    return isinstance(message, dict) and message.get("type") == "step"


def _live_replies(base: str, messages: list[Any]) -> list[str]:
    out = []
    with ws_connect(base.replace("http://", "ws://") + "/ws", max_size=None) as ws:
        for message in messages:
            ws.send(_text(message))
            out.append(ws.recv(timeout=30))
    return out


# The endpoint's parity script (every message type and error path) without its close, then a whole
# episode run past its end (steps after done are refused with an error) and the final state.
SCRIPT: list[Any] = [
    *GHOSTEXEC_SCRIPT[:-1],
    {"type": "reset", "data": {"task_id": "phase2_core", "seed": 5, "episode_id": "inline"}},
    *(
        {"type": "step", "data": {"action_type": "archive_email", "email_id": f"e{i % 25 + 1:02d}"}}
        if i % 4 == 0
        else {"type": "step", "data": {"action_type": "do_nothing"}}
        for i in range(70)
    ),
    {"type": "state"},
]


def test_inline_replies_equal_the_usual_paths_message_for_message(inline_log):
    usual = replies(create_app(), SCRIPT)
    assert inline_log == [], "TestClient makes no offer: its replies come from the usual path"
    with running_server() as base:
        inline = _live_replies(base, SCRIPT)
    assert len(inline) == len(usual) == len(SCRIPT)
    kinds = [json.loads(r)["type"] for r in inline]
    assert kinds.count("observation") > 30 and "error" in kinds and "state" in kinds and "mcp" in kinds
    done_at = [i for i, r in enumerate(inline) if json.loads(r).get("data", {}).get("done") is True]
    assert done_at and done_at[0] < len(inline) - 2, "the episode ran to its end inside the script"
    assert json.loads(inline[done_at[0] + 1])["type"] == "error", "a step after the end is refused"
    for message, mine, reference in zip(SCRIPT, inline, usual):
        if "session/create" in json.dumps(message):
            mine, reference = _without_session_ids(mine), _without_session_ids(reference)
        assert mine == reference, f"reply to {message!r} differs"
    # Every step message was answered inline, and nothing else was.
    answered = [raw for raw, ok in inline_log if ok]
    assert answered == [_text(m) for m in SCRIPT if _is_step(m)]
    assert len(inline_log) == len(SCRIPT), "every message was first offered to the inline handler"


def test_pipelined_mixed_messages_come_back_in_order_as_in_lockstep(inline_log):
    burst: list[Any] = [
        {"type": "step", "data": {"action_type": "do_nothing"}},
        {"type": "step", "data": {"action_type": "archive_email", "email_id": "e03"}},
        {"type": "state"},
        {"type": "step", "data": {"action_type": "teleport"}},
        "{not json",
        {"type": "step", "data": {"action_type": "do_nothing"}},
        {"type": "mcp", "data": {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}},
        {"type": "step", "data": {"action_type": "archive_email", "email_id": "e07"}},
        {"type": "reset", "data": {"task_id": "phase2_core", "seed": 9, "episode_id": "again"}},
        *[{"type": "step", "data": {"action_type": "do_nothing"}}] * 6,
    ]
    reset = {"type": "reset", "data": {"task_id": "phase2_core", "seed": 2, "episode_id": "burst"}}
    with running_server() as base:
        url = base.replace("http://", "ws://") + "/ws"
        with ws_connect(url, max_size=None) as ws:
            pipelined = []
            for _ in range(3):
                ws.send(json.dumps(reset))
                pipelined.append(ws.recv(timeout=30))  # the session now waits, with the offer made
                for message in burst:
                    ws.send(_text(message))
                pipelined += [ws.recv(timeout=30) for _ in burst]
        answered_inline = sum(ok for _, ok in inline_log)
        lockstep = _live_replies(base, [reset, *burst] * 3)
    assert answered_inline >= 3, "the first step of each burst finds the session waiting"
    assert pipelined == lockstep
    steps = [json.loads(r)["data"]["observation"]["step"] for r in pipelined if json.loads(r)["type"] == "observation"]
    assert steps == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 5, 6] * 3


def test_a_step_sent_while_a_slow_message_is_in_progress_waits_for_it(monkeypatch, inline_log):
    """The offer is withdrawn while the session works on a message that suspends (here an mcp
    request made slow): a step that arrives meanwhile is answered after it, not inline before it."""
    original = SessionSocket.mcp

    async def slow_mcp(self: SessionSocket, msg: Any) -> str:
        await asyncio.sleep(0.4)
        return await original(self, msg)

    monkeypatch.setattr(SessionSocket, "mcp", slow_mcp)
    with running_server() as base, ws_connect(base.replace("http://", "ws://") + "/ws", max_size=None) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"task_id": "phase2_core"}}))
        ws.recv(timeout=30)
        ws.send(json.dumps({"type": "mcp", "data": {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}}))
        time.sleep(0.15)  # the mcp request is now being answered
        ws.send(json.dumps({"type": "step", "data": {"action_type": "do_nothing"}}))
        first, second = json.loads(ws.recv(timeout=30)), json.loads(ws.recv(timeout=30))
    assert (first["type"], second["type"]) == ("mcp", "observation")
    assert [ok for _, ok in inline_log] == [False, False], "the step waited for the session (usual path)"


def test_a_message_over_the_payload_limit_is_not_answered_inline_and_gets_the_limit_error(inline_log):
    big = json.dumps({"type": "step", "data": {"action_type": "reply_email", "email_id": "e01", "body": "x" * 2000}})
    with running_server(max_body_bytes=1024) as base, ws_connect(base.replace("http://", "ws://") + "/ws", max_size=None) as ws:
        ws.send(json.dumps({"type": "reset", "data": {"task_id": "phase2_core"}}))
        ws.recv(timeout=30)
        ws.send(big)
        refused = json.loads(ws.recv(timeout=30))
        ws.send(json.dumps({"type": "step", "data": {"action_type": "do_nothing"}}))
        after = json.loads(ws.recv(timeout=30))
    assert refused["type"] == "error" and refused["data"]["code"] == "PAYLOAD_TOO_LARGE"
    assert after["type"] == "observation" and after["data"]["observation"]["step"] == 1, "the session was unchanged"
    assert big not in [raw for raw, _ in inline_log], "the limit's middleware narrowed the offer"
    assert inline_log and all(len(raw.encode()) <= 1024 for raw, _ in inline_log)


def test_a_raising_inline_handler_fails_only_its_connection_and_frees_its_slot(monkeypatch):
    def broken(self: SessionSocket, raw: str) -> str | None:
        if '"step"' in raw:
            raise RuntimeError("handler bug")
        return None

    monkeypatch.setattr(SessionSocket, "answer_inline", broken)
    with running_server() as base:
        url = base.replace("http://", "ws://") + "/ws"
        with ws_connect(url, max_size=None) as other, ws_connect(url, max_size=None) as ws:
            for sock in (other, ws):
                sock.send(json.dumps({"type": "reset", "data": {"task_id": "phase2_core"}}))
                assert json.loads(sock.recv(timeout=30))["type"] == "observation"
            ws.send(json.dumps({"type": "step", "data": {"action_type": "do_nothing"}}))
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
            other.send(json.dumps({"type": "state"}))  # the other session is untouched
            assert json.loads(other.recv(timeout=30))["type"] == "state"
            deadline = time.monotonic() + 10
            while httpx.get(base + "/capacity").json()["sessions"]["active"] != 1:
                assert time.monotonic() < deadline, "the failed connection's slot was not freed"
                time.sleep(0.05)


class _FakeWebSocket:
    def __init__(self, extensions: dict[str, Any] | None) -> None:
        self.scope = {"type": "websocket", "extensions": extensions}


def _offer(env: Any, extensions: dict[str, Any] | None) -> Any:
    socket = SessionSocket(server=None, mcp_handler=None, websocket=_FakeWebSocket(extensions))  # type: ignore[arg-type]
    socket.env = env
    socket.async_step = _overrides(env, "step_async")  # as SessionSocket.run decides it
    return socket.inline_offer()


def test_only_environments_that_declare_inline_steps_and_step_async_are_answered_inline():
    def offer(handler, max_bytes=None):
        return None

    extensions = {INLINE_REPLIES: offer}

    class NotDeclared(GhostexecEnvironment):
        STEPS_INLINE = False

    class Truthy(GhostexecEnvironment):
        STEPS_INLINE = "yes"  # only True itself counts

    class SyncOnly(EchoEnv):
        STEPS_INLINE = True  # but its step runs on its session's thread (no async step): never inline

    assert _offer(GhostexecEnvironment(), extensions) is offer
    assert _offer(GhostexecEnvironment(), {}) is _no_offer  # a server that makes no offer
    assert _offer(GhostexecEnvironment(), None) is _no_offer
    assert _offer(NotDeclared(), extensions) is _no_offer
    assert _offer(Truthy(), extensions) is _no_offer
    assert _offer(SyncOnly(), extensions) is _no_offer
