"""Faults (issue #6): a client that dies mid-request, a slow client, a server restart during a run.
Each time the other clients are unaffected, nothing is corrupted, the client gets a clear error,
and afterwards nothing is left live. (A WS client killed mid-episode and a half-open WS peer are
in test_openenv_ws.py.)"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time

import httpx
import pytest
from reliability import assert_back_to_zero
from websockets.sync.client import connect as ws_connect

from ghostexec.cli import create_app
from mcp_server.http import mount
from mcp_server.testing import INIT, MCP_ACCEPT
from openenv_server.app import create_app as create_openenv_app
from openenv_server.app import install_guards
from openenv_server.client import GhostexecEnv
from openenv_server.testing import free_port, running_server

STEP = {"action": {"action_type": "do_nothing"}}


@pytest.fixture(scope="module")
def live():
    app = create_app()
    with running_server(app=app) as url:
        yield url, app


def test_http_client_dying_mid_request_leaves_the_episode_intact(live):
    url, app = live
    host, port = url.removeprefix("http://").split(":")
    with httpx.Client(base_url=url) as http:
        eid = http.post("/episodes", json={"task_id": "phase2_core"}).json()["id"]
        body = json.dumps(STEP).encode()
        for cut in (len(body) // 2, 0):  # body half sent / headers only, then the socket is reset
            s = socket.create_connection((host, int(port)))
            s.sendall(
                f"POST /episodes/{eid}/step HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body[:cut]
            )
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
            s.close()
        time.sleep(0.2)
        view = http.get(f"/episodes/{eid}").json()
        assert view["step"] == 0, "a half-received request never steps the world"
        assert http.post(f"/episodes/{eid}/step", json=STEP).json()["observation"]["step"] == 1
        http.delete(f"/episodes/{eid}")
    assert_back_to_zero(app)


def test_slow_clients_do_not_hold_up_others(live):
    url, app = live
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"task_id": "phase2_core"}).encode()
    finished: dict[str, float] = {}
    slow_reply: list[bytes] = []

    def trickle() -> None:  # one byte every 50 ms: ~1.5 s for the whole request
        s = socket.create_connection((host, int(port)))
        s.sendall(
            f"POST /episodes HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        )
        for i in range(len(body)):
            s.sendall(body[i : i + 1])
            time.sleep(0.05)
        slow_reply.append(s.recv(65536))
        s.close()
        finished["slow"] = time.monotonic()

    slow = threading.Thread(target=trickle)
    slow.start()
    ws = url.replace("http://", "ws://") + "/ws"
    # a slow *reader* too: sends 40 steps and reads nothing until the end
    with ws_connect(ws) as lazy, GhostexecEnv(base_url=url).sync() as env:
        lazy.send(json.dumps({"type": "reset", "data": {}}))
        for _ in range(40):
            lazy.send(json.dumps({"type": "step", "data": {"action_type": "do_nothing"}}))
        env.reset(task_id="phase2_core")
        for _ in range(20):
            env.step({"action_type": "do_nothing"})
        finished["fast"] = time.monotonic()
        replies = [json.loads(lazy.recv(timeout=30)) for _ in range(41)]
        assert [r["data"]["observation"]["step"] for r in replies[:40]] == list(range(40))
        assert replies[40]["type"] in ("observation", "error")  # the step past the budget (40) is refused
    slow.join(timeout=30)
    assert finished["fast"] < finished["slow"], "the fast client finished while the slow one was still sending"
    assert slow_reply and slow_reply[0].startswith(b"HTTP/1.1 201")
    eid = json.loads(slow_reply[0].split(b"\r\n\r\n", 1)[1])["id"]
    httpx.delete(f"{url}/episodes/{eid}")
    assert_back_to_zero(app)


def test_killed_mcp_client_session_is_reclaimed_by_idle_expiry():
    app = create_openenv_app()
    app.state.mcp = mount(app, session_idle_timeout=1.0)
    install_guards(app)
    with running_server(app=app) as url:
        child = subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(
                    f"""
                    import httpx, json, time
                    h = {MCP_ACCEPT!r}
                    r = httpx.post({url + "/mcp"!r}, json={INIT!r}, headers=h)
                    h = {{**h, "mcp-session-id": r.headers["mcp-session-id"], "mcp-protocol-version": "2025-11-25"}}
                    httpx.post({url + "/mcp"!r}, json={{"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                               "params": {{"name": "do_nothing", "arguments": {{}}}}}}, headers=h)
                    print("ready", flush=True)
                    time.sleep(600)
                    """
                ),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert child.stdout.readline().strip() == "ready"
            cap = app.state.mcp.capacity()
            assert cap["sessions"]["active"] == 1 and cap["episodes"]["live"] == 1
            os.kill(child.pid, signal.SIGKILL)
            child.wait(timeout=10)
            assert_back_to_zero(app, timeout_s=10)  # session and its episode gone after the idle timeout
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


def test_server_restart_during_a_run_gives_each_client_a_clear_error():
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = running_server(app=create_app(), port=port)  # a restart: a new app (empty) on the same port
    first.__enter__()
    env = GhostexecEnv(base_url=url).sync()
    http = httpx.Client(base_url=url)
    try:
        env.connect()
        env.reset(task_id="phase2_core")
        env.step({"action_type": "do_nothing"})
        eid = http.post("/episodes", json={}).json()["id"]
        sid = http.post("/mcp", json=INIT, headers=MCP_ACCEPT).headers["mcp-session-id"]
        first.__exit__(None, None, None)
        first = None
        with running_server(app=create_app(), port=port):
            with pytest.raises(ConnectionError, match=r"lost the connection.*call reset"):
                env.step({"action_type": "do_nothing"})
            assert env.reset(task_id="phase2_core").observation.step == 0  # reconnects to a new session
            env.close()
            gone = http.get(f"/episodes/{eid}")
            assert gone.status_code == 404 and "Start one with POST /episodes" in gone.json()["detail"]["message"]
            ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
            stale = http.post("/mcp", json=ping, headers={**MCP_ACCEPT, "mcp-session-id": sid})
            assert stale.status_code == 404 and stale.json()["error"]["message"] == "Session not found"
            cap = http.get("/capacity").json()
            assert cap["sessions"]["active"] == 0 and cap["episodes"]["live"] == 0 and cap["mcp"]["sessions"]["active"] == 0
    finally:
        http.close()
        if first is not None:
            first.__exit__(None, None, None)
