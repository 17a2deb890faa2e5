"""Every limit answers with a clear error, never a crash or a silent drop (issue #6). Limits already
covered elsewhere: WS sessions (`CAPACITY_REACHED`, test_openenv_ws), /episodes bound and idle
expiry (test_openenv_http), WS message size (test_openenv_ws), MCP URL-episode expiry
(test_mcp_server). Here: body size on every kind of route, MCP sessions, MCP episodes, briefing
size; and nothing is left live afterwards."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import httpx
from reliability import live_app_fixtures

from mcp_server.testing import INIT, MCP_ACCEPT, sse_json
from openenv_server.testing import running_server

ROOT = Path(__file__).resolve().parent.parent


small, _no_leaks = live_app_fixtures("small", max_mcp_sessions=2, max_episodes=2, max_body_bytes=4096)


def test_body_size_limit_is_a_413_with_a_json_reason_on_every_kind_of_route(small):
    url, _app = small
    big = {"task_id": "phase2_core", "episode_id": "x" * 5000}
    with httpx.Client(base_url=url) as http:
        for path, headers in (
            ("/episodes", {}),
            ("/reset", {}),
            ("/mcp", {}),  # OpenEnv's JSON-RPC side of the shared path
            ("/mcp", MCP_ACCEPT),  # the MCP side
            ("/mcp-std/", MCP_ACCEPT),
            ("/mcp-std/episodes", {}),
        ):
            r = http.post(path, content=json.dumps(big), headers={"Content-Type": "application/json", **headers})
            assert r.status_code == 413, (path, r.status_code, r.text[:200])
            detail = r.json()["detail"]
            assert detail["error"] == "payload_too_large" and "4096" in detail["message"], path
        # chunked bodies (no Content-Length) are caught too
        r = http.post("/episodes", content=iter([b'{"episode_id": "', b"y" * 5000, b'"}']))
        assert r.status_code == 413
        assert http.get("/capacity").json()["episodes"]["live"] == 0  # nothing was created


def test_mcp_session_limit_is_a_503_and_frees_when_a_session_ends(small):
    url, _app = small
    with httpx.Client(base_url=url) as http:
        sids = []
        for _ in range(2):
            r = http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT)
            assert r.status_code == 200
            sids.append(r.headers["mcp-session-id"])
        refused = http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT)
        assert refused.status_code == 503
        assert refused.json()["error"]["message"] == "Too many open sessions"
        assert http.get("/capacity").json()["mcp"]["sessions"] == {"active": 2, "max": 2, "idle_ttl_s": 7200}
        http.delete("/mcp-std/", headers={**MCP_ACCEPT, "mcp-session-id": sids.pop()})
        r = http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT)
        assert r.status_code == 200
        sids.append(r.headers["mcp-session-id"])
        for sid in sids:
            http.delete("/mcp-std/", headers={**MCP_ACCEPT, "mcp-session-id": sid})


def _tool_call(name: str, sid: str | None = None) -> tuple[dict, dict]:
    headers = {**MCP_ACCEPT, "mcp-protocol-version": "2025-11-25"}
    if sid:
        headers["mcp-session-id"] = sid
    body = {"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": {"name": name, "arguments": {}}}
    return body, headers


def test_mcp_episode_limit_refuses_new_episodes_and_evicts_nobody(small):
    url, app = small
    with httpx.Client(base_url=url) as http:
        made = [http.post("/mcp-std/episodes", json={"task_id": "phase2_core"}) for _ in range(2)]
        assert [r.status_code for r in made] == [201, 201]
        handles = [r.json()["episode"] for r in made]
        full = http.post("/mcp-std/episodes", json={})
        assert full.status_code == 503 and "GHOSTEXEC_MAX_EPISODES" in full.json()["error"]
        named = http.post("/mcp-std/episodes/new-day/", json=INIT, headers=MCP_ACCEPT)
        assert named.status_code == 503 and "limit" in named.json()["error"]["message"]
        # a session's first action needs an episode: refused with an explanation, as a tool error
        sid = http.post("/mcp-std/", json=INIT, headers=MCP_ACCEPT).headers["mcp-session-id"]
        body, headers = _tool_call("do_nothing", sid)
        result = sse_json(http.post("/mcp-std/", json=body, headers=headers).text)["result"]
        assert result["isError"] is True and "GHOSTEXEC_MAX_EPISODES" in result["content"][0]["text"]
        # nobody's episode was evicted to make room
        assert all(app.state.mcp.registry.get(h) is not None for h in handles)
        http.delete("/mcp-std/", headers={**MCP_ACCEPT, "mcp-session-id": sid})
    for h in handles:
        app.state.mcp.registry.drop(h)


def test_briefing_size_is_capped_with_a_visible_marker(small):
    _url, _app = small
    scenario = json.loads((ROOT / "scenarios" / "phase2_core.json").read_text())
    template = scenario["emails"][0]
    for i in range(60):
        extra = copy.deepcopy(template)
        extra.update(id=f"ex{i}", subject="S" * 150, body="B" * 100)
        scenario["emails"].append(extra)
    # a roomier server for this large custom world (the small one above refuses it with 413)
    with running_server() as big_url, httpx.Client(base_url=big_url) as http:
        r = http.post("/episodes", json={"scenario": scenario})
        assert r.status_code == 201, r.text[:300]
        briefing = r.json()["observation"]["briefing"]
        assert len(briefing) <= 12_000 and briefing.endswith("[briefing truncated at limit]")
        http.delete(f"/episodes/{r.json()['id']}")
