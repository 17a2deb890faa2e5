"""The WebSocket side against a real uvicorn server on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import textwrap
import time
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

import ghostexec
from openenv_server.client import GhostexecEnv
from openenv_server.environment import GhostexecEnvironment
from openenv_server.models import GhostexecAction
from openenv_server.testing import running_server

PING = 0.4  # ws ping interval in these tests
PONG = 1.0  # ws ping timeout: a dead peer is dropped within PING + PONG; generous for a loaded host


@pytest.fixture(scope="module")
def server():
    with running_server(ws_ping_interval_s=PING, ws_ping_timeout_s=PONG) as url:  # default capacity (64)
        yield url


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


def active_sessions(base: str) -> int:
    return httpx.get(base + "/capacity").json()["sessions"]["active"]


def wait_until(pred, timeout_s: float, what: str) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - t0


# --- a deterministic action script per (task, seed): valid, invalid and idle actions ----------
def _ids(task_id: str, seed: int) -> dict[str, list[str]]:
    sim = ghostexec.Simulation()
    sim.reset(task_id=task_id, seed=seed)
    world = sim.state().model_dump(mode="json")
    return {kind: [x["id"] for x in world[kind]] for kind in ("emails", "meetings", "contacts", "tasks")}


def script(task_id: str, seed: int, n: int) -> list[dict[str, Any]]:
    ids = _ids(task_id, seed)
    rng = random.Random(f"{task_id}/{seed}")
    out: list[dict[str, Any]] = []
    for i in range(n):
        kind = rng.randrange(9)
        e, m, c, t = (rng.choice(ids[k]) if ids[k] else "none" for k in ("emails", "meetings", "contacts", "tasks"))
        out.append(
            [
                {"action_type": "reply_email", "email_id": e, "body": f"Thanks, on it; I'll confirm by 3pm today (step {i})."},
                {"action_type": "archive_email", "email_id": e},
                {"action_type": "complete_task", "task_id": t},
                {"action_type": "delegate_task", "task_id": t, "contact_id": c, "note": "please take this"},
                {"action_type": "reschedule_meeting", "meeting_id": m, "new_start": "2026-03-10T16:00"},
                {"action_type": "send_message", "contact_id": c, "body": "Sorry for the change today."},
                {"action_type": "do_nothing"},
                {"action_type": "cancel_meeting", "meeting_id": m, "reason": "clash"},
                {"action_type": "archive_email", "email_id": "no-such-email"},
            ][kind]
        )
    return out


def fingerprint(obs: Any, reward: Any) -> tuple:
    return (obs.step, reward, obs.step_ok, obs.error, obs.done, hashlib.sha256(obs.briefing.encode()).hexdigest()[:16])


def run_alone(task_id: str, seed: int) -> tuple[list[tuple], str]:
    env = GhostexecEnvironment()
    obs = env.reset(task_id=task_id, seed=seed)
    trace = [fingerprint(obs, obs.reward)]
    for raw in script(task_id, seed, obs.steps_remaining):
        obs = env.step(GhostexecAction.model_validate(raw))
        trace.append(fingerprint(obs, obs.reward))
    return trace, env.state.state_hash


# --- full episodes -------------------------------------------------------------------------
@pytest.mark.parametrize("task_id", ghostexec.available_tasks())
def test_full_episode_over_ws_with_the_typed_client(server, task_id):
    budget = ghostexec.load_task(task_id).step_budget
    with GhostexecEnv(base_url=server).sync() as env:
        result = env.reset(task_id=task_id, seed=1, episode_id=f"full-{task_id}")
        obs = result.observation
        assert (obs.task_id, obs.episode_id, obs.step, obs.steps_remaining) == (task_id, f"full-{task_id}", 0, budget)
        assert obs.briefing and obs.step_ok and not result.done
        steps = 0
        for raw in script(task_id, 1, budget):
            result = env.step(raw)  # plain dicts are validated locally, then sent
            steps += 1
            obs = result.observation
            assert obs.breakdown is not None and obs.breakdown.total == pytest.approx(result.reward)
            assert obs.steps_remaining == budget - steps
            assert obs.step_ok == (obs.error is None)
        assert result.done and steps == budget
        assert 0.01 < obs.grade["score"] < 0.99 and obs.grade["final"] is True
        state = env.state()
        assert state.done and state.step_count == budget and state.task_id == task_id
        assert {"emails", "meetings", "contacts", "tasks", "clock", "executive", "conflicts"} <= set(state.world)
        with pytest.raises(RuntimeError, match="episode is over"):
            env.step({"action_type": "do_nothing"})
        assert env.reset(task_id=task_id, seed=1).observation.step == 0  # same socket, new episode


def test_reset_honours_seed_and_episode_id(server):
    with GhostexecEnv(base_url=server).sync() as env:
        hashes = {}
        for seed in (0, 1, 0):
            obs = env.reset(task_id="monday_morning", seed=seed, episode_id=f"s{seed}").observation
            assert obs.episode_id == f"s{seed}"
            state = env.state()
            hashes.setdefault(seed, set()).add(state.state_hash)
            sim = ghostexec.Simulation()
            sim.reset(task_id="monday_morning", seed=seed, episode_id=f"s{seed}")
            assert state.state_hash == sim.state_hash()
        assert len(hashes[0]) == 1 and hashes[0] != hashes[1]


def test_custom_scenario_reset_over_ws(server):
    scenario = ghostexec.load_task("phase2_core").model_dump(mode="json", by_alias=True, exclude_none=True)
    scenario["id"] = "my_custom_day"
    scenario["title"] = "A custom day"
    scenario["description"] = "phase2_core under another name, sent whole over the wire."
    with GhostexecEnv(base_url=server).sync() as env:
        obs = env.reset(scenario=scenario, seed=2).observation
        assert obs.task_id == "my_custom_day" and obs.steps_remaining == scenario["step_budget"]
        broken = dict(scenario, step_budget=0, contacts="nobody")
        with pytest.raises(RuntimeError, match=r"invalid scenario: .*step_budget"):
            env.reset(scenario=broken)
        assert env.state().task_id == "my_custom_day", "a refused reset keeps the running episode"
        assert env.step({"action_type": "do_nothing"}).observation.step == 1


# --- isolation under concurrency -----------------------------------------------------------
def test_32_interleaved_sessions_match_each_session_run_alone(server):
    tasks = ghostexec.available_tasks()
    plans = [(tasks[i % len(tasks)], i // len(tasks)) for i in range(32)]
    expected = {i: run_alone(t, s) for i, (t, s) in enumerate(plans)}

    async def one(i: int, task_id: str, seed: int) -> tuple[list[tuple], str]:
        rng = random.Random(i)
        async with GhostexecEnv(base_url=server) as env:
            result = await env.reset(task_id=task_id, seed=seed)
            trace = [fingerprint(result.observation, result.reward)]
            for raw in script(task_id, seed, result.observation.steps_remaining):
                await asyncio.sleep(rng.random() * 0.002)  # shuffle the interleaving
                result = await env.step(raw)
                trace.append(fingerprint(result.observation, result.reward))
            return trace, (await env.state()).state_hash

    async def all_sessions():
        return await asyncio.gather(*(one(i, t, s) for i, (t, s) in enumerate(plans)))

    got = asyncio.run(all_sessions())
    for i, (trace, state_hash) in enumerate(got):
        want_trace, want_hash = expected[i]
        assert state_hash == want_hash, f"session {i} {plans[i]}: world differs from running alone"
        assert trace == want_trace, f"session {i} {plans[i]}: step results differ from running alone"
    assert len({h for _, h in got}) > 1


# --- bad input over WS ----------------------------------------------------------------------
def _ask(ws, message: Any) -> dict[str, Any]:
    ws.send(message if isinstance(message, str | bytes) else json.dumps(message))
    return json.loads(ws.recv(timeout=10))


def test_bad_ws_input_gets_an_error_message_and_the_session_stays_usable(server):
    with ws_connect(ws_url(server), max_size=None) as ws:
        err = _ask(ws, {"type": "step", "data": {"action_type": "do_nothing"}})
        assert err["type"] == "error" and "reset first" in err["data"]["message"]
        assert _ask(ws, {"type": "reset", "data": {"task_id": "phase2_core"}})["type"] == "observation"

        cases = [
            ("{not json", "INVALID_JSON"),
            ({"type": "dance"}, "UNKNOWN_TYPE"),
            ({"type": "step", "data": {"action_type": "teleport"}}, "VALIDATION_ERROR"),
            ({"type": "step", "data": {}}, "VALIDATION_ERROR"),
            ({"type": "step", "data": {"action_type": "reply_email", "email_id": "e01"}}, "VALIDATION_ERROR"),
            ({"type": "step", "data": {"action_type": "reply_email", "email_id": 1, "body": "x"}}, "VALIDATION_ERROR"),
            ({"type": "step", "data": {"action_type": "do_nothing", "sneaky": True}}, "VALIDATION_ERROR"),
            ({"type": "step", "data": "do_nothing"}, "VALIDATION_ERROR"),
            ({"type": "step"}, "VALIDATION_ERROR"),
            ('{"type": "step", "data": {"action_type": "complete_task", "task_id": 1e999}}', "VALIDATION_ERROR"),
            ('{"type": "step", "data": {"action_type": "complete_task", "task_id": NaN}}', "VALIDATION_ERROR"),
            ({"type": "reset", "data": {"task_id": "no_such_task"}}, "EXECUTION_ERROR"),
            ({"type": "reset", "data": {"task": "phase2_core"}}, "EXECUTION_ERROR"),
            ({"type": "reset", "data": {"seed": "seven"}}, "EXECUTION_ERROR"),
            ({"type": "reset", "data": {"scenario": {"id": "half"}}}, "EXECUTION_ERROR"),
            (
                json.dumps({"type": "step", "data": {"action_type": "reply_email", "email_id": "e01", "body": "x" * 300_000}}),
                "PAYLOAD_TOO_LARGE",
            ),
            (b"\x00\x01binary", "BINARY_FRAME"),
        ]
        for message, code in cases:
            reply = _ask(ws, message)
            assert reply["type"] == "error", (message, reply)
            assert reply["data"]["code"] == code, (message, reply)
            assert reply["data"]["message"]
        unknown = _ask(ws, {"type": "reset", "data": {"task_id": "no_such_task"}})["data"]["message"]
        assert "available:" in unknown and "phase2_core" in unknown

        state = _ask(ws, {"type": "state"})
        assert state["type"] == "state" and state["data"]["step_count"] == 0, "no rejected input took a step"
        ok = _ask(ws, {"type": "step", "data": {"action_type": "archive_email", "email_id": "no-such"}})
        assert ok["type"] == "observation"
        obs = ok["data"]["observation"]
        assert obs["step"] == 1 and obs["step_ok"] is False and "no-such" in obs["error"], "a meaning error is a normal step"
        assert ok["data"]["reward"] == pytest.approx(obs["breakdown"]["total"])


# --- slots: idle vs dropped connections -------------------------------------------------------
def test_an_idle_connected_client_is_never_closed(server):
    base = active_sessions(server)
    with GhostexecEnv(base_url=server).sync() as env:
        env.reset(task_id="phase2_core")
        time.sleep(3 * (PING + PONG))  # several ping periods, far beyond interval + timeout
        assert active_sessions(server) == base + 1
        result = env.step({"action_type": "do_nothing"})
        assert result.observation.step == 1
    wait_until(lambda: active_sessions(server) == base, 5, "slot freed after a clean close")


def test_default_capacity_is_64_sessions_and_the_65th_is_refused(server):
    wait_until(lambda: active_sessions(server) == 0, 5, "no leftover sessions")
    with contextlib.ExitStack() as stack:
        conns = [stack.enter_context(ws_connect(ws_url(server))) for _ in range(64)]
        for ws in conns:
            assert _ask(ws, {"type": "reset", "data": {"task_id": "travel_day"}})["type"] == "observation"
        assert active_sessions(server) == 64
        with ws_connect(ws_url(server)) as extra:
            assert json.loads(extra.recv(timeout=10))["data"]["code"] == "CAPACITY_REACHED"
        assert _ask(conns[0], {"type": "step", "data": {"action_type": "do_nothing"}})["type"] == "observation"
    wait_until(lambda: active_sessions(server) == 0, 5, "all 64 slots freed")


def _raw_ws_handshake(host: str, port: int) -> socket.socket:
    sock = socket.create_connection((host, port))
    sock.sendall(
        (
            "GET /ws HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert b" 101 " in head.split(b"\r\n")[0], head
    payload = json.dumps({"type": "reset", "data": {}}).encode()
    mask = b"\x01\x02\x03\x04"
    assert len(payload) < 126
    frame = bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    sock.sendall(frame)
    return sock  # from here on: never read, never answer a ping (a half-open peer)


def test_dropped_connections_free_their_slots_and_capacity_is_enforced():
    with running_server(max_sessions=2, ws_ping_interval_s=PING, ws_ping_timeout_s=PONG) as url:
        host, port = url.removeprefix("http://").split(":")
        # 1. a client process killed mid-episode (no close frame: the kernel resets the socket)
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import json, sys, time
                    from websockets.sync.client import connect
                    ws = connect({ws_url(url)!r})
                    ws.send(json.dumps({{"type": "reset", "data": {{}}}})); ws.recv()
                    ws.send(json.dumps({{"type": "step", "data": {{"action_type": "do_nothing"}}}})); ws.recv()
                    print("ready", flush=True)
                    time.sleep(600)
                    """
                ),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        dead = None
        try:
            assert child.stdout.readline().strip() == "ready"
            with GhostexecEnv(base_url=url).sync() as live:
                live.reset()
                assert active_sessions(url) == 2
                # 2. full: the next client is refused
                with ws_connect(ws_url(url)) as extra:
                    refused = json.loads(extra.recv(timeout=10))
                    assert refused["data"]["code"] == "CAPACITY_REACHED"
            wait_until(lambda: active_sessions(url) == 1, 5, "cleanly closed client's slot freed")
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            wait_until(lambda: active_sessions(url) == 0, 5, "killed client's slot freed")
            # 3. a peer that goes silent (half-open: never reads, never answers a ping)
            t0 = time.monotonic()
            dead = _raw_ws_handshake(host, int(port))
            wait_until(lambda: active_sessions(url) == 1, 5, "raw client admitted")
            wait_until(lambda: active_sessions(url) == 0, PING + PONG + 5, "half-open client's slot freed by ping timeout")
            assert time.monotonic() - t0 >= PING + PONG - 0.2, "freed by the keepalive, not by something else"
            # the freed slots are usable again
            with GhostexecEnv(base_url=url).sync() as a, GhostexecEnv(base_url=url).sync() as b:
                assert a.reset().observation.step == 0 and b.reset().observation.step == 0
        finally:
            if dead is not None:
                dead.close()
            if child.poll() is None:
                child.kill()
                child.wait()


def test_openenvs_generic_client_works_with_plain_dicts(server):
    from openenv.core import GenericEnvClient

    with GenericEnvClient(base_url=server).sync() as env:
        first = env.reset(task_id="phase2_core", seed=5)
        assert first.observation["steps_remaining"] == ghostexec.load_task("phase2_core").step_budget
        result = env.step({"action_type": "do_nothing"})
        assert result.observation["step"] == 1 and result.reward == pytest.approx(result.observation["breakdown"]["total"])
