"""Parity, the point of the design: one scripted episode per scenario (every action type, >= 15
steps, invalid actions of both kinds) through

  (a) the in-process core,
  (b) OpenEnv's WebSocket client (`openenv_server.client.GhostexecEnv`),
  (c) an MCP client over Streamable HTTP (same app and port as (b); 2026-07-28, episode URL),
  (d) an MCP client over stdio (`python -m mcp_server`, handshake era),

must give identical briefings, rewards, breakdowns and final state hash.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from mcp import Client

import ghostexec
from mcp_server import BRIEFING_URI, CONTROL_URI
from mcp_server.testing import scripted_actions, serve_in_thread, stdio_params

SEED = 11
TASKS = ghostexec.available_tasks()


def episode_id(task: str) -> str:
    return f"parity-{task}"


def script_for(task: str) -> list[dict[str, Any]]:
    sim = ghostexec.Simulation()
    sim.reset(task_id=task, seed=SEED, episode_id=episode_id(task))
    return scripted_actions(sim)


def run_in_process(task: str) -> dict[str, Any]:
    sim = ghostexec.Simulation()
    obs = sim.reset(task_id=task, seed=SEED, episode_id=episode_id(task))
    steps = []
    for action in script_for(task):
        res = sim.step(action)
        if res.info.get("rejected"):
            steps.append({"rejected": True})
            continue
        steps.append(
            {
                "rejected": False,
                "briefing": res.observation.briefing,
                "reward": res.reward,
                "breakdown": res.breakdown.model_dump(mode="json"),
            }
        )
    return {"initial": obs.briefing, "steps": steps, "state_hash": sim.state_hash()}


def run_openenv_ws(base_url: str, task: str) -> dict[str, Any]:
    from pydantic import ValidationError

    from openenv_server.client import GhostexecEnv

    steps = []
    with GhostexecEnv(base_url=base_url).sync() as env:
        initial = env.reset(task_id=task, seed=SEED, episode_id=episode_id(task)).observation.briefing
        for action in script_for(task):
            try:
                r = env.step(action)
            except ValidationError:  # shape error: refused before the step, like every transport
                steps.append({"rejected": True})
                continue
            steps.append(
                {
                    "rejected": False,
                    "briefing": r.observation.briefing,
                    "reward": r.reward,
                    "breakdown": r.observation.breakdown.model_dump(mode="json"),
                }
            )
        state_hash = env.state().state_hash
    return {"initial": initial, "steps": steps, "state_hash": state_hash}


async def run_mcp(client: Client, task: str) -> dict[str, Any]:
    initial = (await client.read_resource(BRIEFING_URI)).contents[0].text
    steps = []
    for action in script_for(task):
        args = {k: v for k, v in action.items() if k != "action_type"}
        res = await client.call_tool(action["action_type"], args)
        if res.is_error and res.structured_content is None:  # invalid arguments: no step taken
            steps.append({"rejected": True})
            continue
        steps.append({"rejected": False, "briefing": (await client.read_resource(BRIEFING_URI)).contents[0].text})
    control = json.loads((await client.read_resource(CONTROL_URI)).contents[0].text)
    taken = iter(control["history"])
    for step in steps:
        if not step["rejected"]:
            h = next(taken)
            step["reward"], step["breakdown"] = h["reward"], h["breakdown"]
    assert next(taken, None) is None
    return {"initial": initial, "steps": steps, "state_hash": control["state_hash"]}


def run_mcp_http(base_url: str, task: str) -> dict[str, Any]:
    created = httpx.post(
        base_url + "/mcp-std/episodes", json={"task_id": task, "seed": SEED, "episode_id": episode_id(task)}
    ).json()

    async def go():
        async with Client(created["url"], mode="auto") as c:
            assert c.protocol_version == "2026-07-28"
            return await run_mcp(c, task)

    return anyio.run(go)


def run_mcp_stdio(task: str) -> dict[str, Any]:
    async def go():
        async with Client(stdio_params(task, SEED, episode_id(task)), mode="legacy") as c:
            assert c.protocol_version == "2025-11-25"
            return await run_mcp(c, task)

    return anyio.run(go)


@pytest.fixture(scope="module")
def server_url():
    from ghostexec.cli import create_app  # OpenEnv + MCP, one app, one port

    with serve_in_thread(create_app()) as url:
        yield url


_REFERENCE: dict[str, dict[str, Any]] = {}


def reference(task: str) -> dict[str, Any]:
    if task not in _REFERENCE:
        _REFERENCE[task] = run_in_process(task)
    return _REFERENCE[task]


@pytest.mark.parametrize("transport", ["openenv_ws", "mcp_http", "mcp_stdio"])
@pytest.mark.parametrize("task", TASKS)
def test_same_episode_on_every_transport(task, transport, server_url):
    script = script_for(task)
    assert len(script) >= 15
    assert {a["action_type"] for a in script} == set(ghostexec.ACTION_TYPES)
    ref = reference(task)
    taken = [s for s in ref["steps"] if not s["rejected"]]
    assert len(taken) >= 15
    assert len(taken) < len(ref["steps"])  # some shape errors (refused, no step)
    assert any(s["reward"] < 0 and "invalid" in json.dumps(s["breakdown"]) for s in taken)  # meaning errors

    if transport == "openenv_ws":
        run = run_openenv_ws(server_url, task)
    elif transport == "mcp_http":
        run = run_mcp_http(server_url, task)
    else:
        run = run_mcp_stdio(task)
    assert run["initial"] == ref["initial"]
    assert len(run["steps"]) == len(ref["steps"])
    for i, (got, want) in enumerate(zip(run["steps"], ref["steps"], strict=True)):
        assert got == want, f"step {i} ({script[i]['action_type']}) differs"
    assert run["state_hash"] == ref["state_hash"]
