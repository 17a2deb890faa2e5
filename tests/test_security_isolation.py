"""Isolation (issue #6): ids are unguessable and never listed; one client cannot read or step
another's episode through any route (OpenEnv /ws, /episodes, POST /step, OpenEnv's /mcp JSON-RPC,
MCP over HTTP). Real server, real clients; nothing left live afterwards."""

from __future__ import annotations

import json
import re

import httpx
from reliability import live_app_fixtures
from websockets.sync.client import connect as ws_connect

from mcp_server.testing import INIT, MCP_ACCEPT, sse_json

live, _no_leaks = live_app_fixtures()


def _ask(ws, message: dict) -> dict:
    ws.send(json.dumps(message))
    return json.loads(ws.recv(timeout=30))


def test_ids_are_unguessable_and_never_listed(live):
    url, app = live
    with httpx.Client(base_url=url) as http:
        episode_ids = [http.post("/episodes", json={}).json()["id"] for _ in range(40)]
        handles = [http.post("/mcp-std/episodes", json={}).json()["episode"] for _ in range(20)]
        sessions = [http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT).headers["mcp-session-id"] for _ in range(20)]
        # 24 random bytes, 12 random bytes, uuid4 (122 random bits); all distinct
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", e) for e in episode_ids) and len(set(episode_ids)) == 40
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", h) for h in handles) and len(set(handles)) == 20
        assert all(re.fullmatch(r"[0-9a-f]{32}", s) for s in sessions) and len(set(sessions)) == 20
        # no route lists them
        assert http.get("/episodes").status_code in (404, 405)
        assert http.get("/mcp-std/episodes").status_code in (404, 405)
        public = http.get("/capacity").text + http.get("/openapi.json").text + http.get("/metadata").text
        assert not any(i in public for i in episode_ids + handles + sessions)
        # near misses of a real id are just unknown ids
        eid = episode_ids[0]
        for guess in (eid[:-1], eid[:-1] + ("A" if eid[-1] != "A" else "B"), eid.upper(), eid + "x"):
            r = http.get(f"/episodes/{guess}")
            assert r.status_code == 404 and r.json()["detail"]["error"] == "unknown_episode"
        for e in episode_ids:
            http.delete(f"/episodes/{e}")
        for s in sessions:
            http.delete("/mcp-std/", headers={**MCP_ACCEPT, "mcp-session-id": s})
    for h in handles:
        app.state.mcp.registry.drop(h)


def test_a_ws_episode_is_reachable_from_its_own_connection_only(live):
    url, _app = live
    ws = url.replace("http://", "ws://") + "/ws"
    with ws_connect(ws) as a, ws_connect(ws) as b:
        _ask(a, {"type": "reset", "data": {"task_id": "phase2_core", "seed": 3, "episode_id": "alpha"}})
        for _ in range(3):
            _ask(a, {"type": "step", "data": {"action_type": "do_nothing"}})
        before = _ask(a, {"type": "state"})["data"]
        assert before["step_count"] == 3
        # B uses A's label: B gets its own fresh world; A's is untouched
        got = _ask(b, {"type": "reset", "data": {"task_id": "phase2_core", "seed": 3, "episode_id": "alpha"}})
        assert got["data"]["observation"]["step"] == 0
        _ask(b, {"type": "step", "data": {"action_type": "do_nothing"}})
        assert _ask(b, {"type": "state"})["data"]["step_count"] == 1
        # no WS message addresses another session's episode: extra fields are refused or ignored
        r = _ask(b, {"type": "state", "data": {"episode_id": "alpha"}})
        assert r["type"] == "error" or r["data"]["step_count"] == 1
        # HTTP routes do not know WS episodes
        with httpx.Client(base_url=url) as http:
            assert http.get("/episodes/alpha").status_code == 404
            step = http.post("/step", json={"action": {"action_type": "do_nothing"}, "episode_id": "alpha"})
            assert step.status_code == 404
            # OpenEnv's JSON-RPC on /mcp acts on a fresh environment, never on a live one
            http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "do_nothing", "arguments": {}}},
            )
        after = _ask(a, {"type": "state"})["data"]
        assert after == before


def test_http_and_mcp_episodes_are_separate_namespaces(live):
    url, app = live
    with httpx.Client(base_url=url) as http:
        eid = http.post("/episodes", json={"task_id": "phase2_core"}).json()["id"]
        http.post(f"/episodes/{eid}/step", json={"action": {"action_type": "do_nothing"}})
        # the OpenEnv episode id used as an MCP episode URL makes a new, separate MCP episode
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "do_nothing", "arguments": {}}}
        headers = {**MCP_ACCEPT, "mcp-protocol-version": "2025-11-25"}
        opened = http.post(f"/mcp-std/episodes/{eid}/", json=INIT, headers=MCP_ACCEPT)
        sid = opened.headers["mcp-session-id"]
        result = sse_json(http.post(f"/mcp-std/episodes/{eid}/", json=call, headers={**headers, "mcp-session-id": sid}).text)
        assert result["result"]["structuredContent"]["step"] == 1  # its own first step
        assert http.get(f"/episodes/{eid}").json()["step"] == 1  # the HTTP episode did not move
        http.delete(f"/mcp-std/episodes/{eid}/", headers={**MCP_ACCEPT, "mcp-session-id": sid})
        http.delete(f"/episodes/{eid}")
    app.state.mcp.registry.drop(eid)


def test_mcp_sessions_each_see_only_their_own_episode(live):
    url, _app = live
    headers = {**MCP_ACCEPT, "mcp-protocol-version": "2025-11-25"}
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "do_nothing", "arguments": {}}}
    read = {"jsonrpc": "2.0", "id": 3, "method": "resources/read", "params": {"uri": "ghostexec://control"}}
    with httpx.Client(base_url=url) as http:
        a = http.post("/mcp", json=INIT, headers=MCP_ACCEPT).headers["mcp-session-id"]
        b = http.post("/mcp", json=INIT, headers=MCP_ACCEPT).headers["mcp-session-id"]
        for _ in range(4):
            http.post("/mcp", json=call, headers={**headers, "mcp-session-id": a})
        control_b = sse_json(http.post("/mcp", json=read, headers={**headers, "mcp-session-id": b}).text)
        assert json.loads(control_b["result"]["contents"][0]["text"])["step"] == 0
        control_a = sse_json(http.post("/mcp", json=read, headers={**headers, "mcp-session-id": a}).text)
        assert json.loads(control_a["result"]["contents"][0]["text"])["step"] == 4
        # a made-up or ended session id is not a way in
        fake = http.post("/mcp", json=read, headers={**headers, "mcp-session-id": "0" * 32})
        assert fake.status_code == 404
        http.delete("/mcp", headers={**MCP_ACCEPT, "mcp-session-id": a})
        gone = http.post("/mcp", json=read, headers={**headers, "mcp-session-id": a})
        assert gone.status_code == 404
        http.delete("/mcp", headers={**MCP_ACCEPT, "mcp-session-id": b})
