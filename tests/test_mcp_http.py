"""Streamable HTTP in the same app and port as OpenEnv: path sharing, episode isolation in both
eras, new episodes without a restart, notifications in both eras, DNS-rebinding protection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from contextlib import asynccontextmanager

import anyio
import httpx
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.shared.subscriptions import ResourceUpdated

import ghostexec
from mcp_server import BRIEFING_URI, CONTROL_URI, EpisodeRegistry
from mcp_server.http import mount
from mcp_server.testing import INIT, MCP_ACCEPT, serve_in_thread


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="module")
def app_url():
    """The real composed app (OpenEnv + MCP on one port), as `ghostexec serve` builds it."""
    from ghostexec.cli import create_app

    app = create_app()
    with serve_in_thread(app) as url:
        yield url, app.state.mcp


@pytest.fixture(scope="module")
def fake_openenv():
    """A stand-in OpenEnv app with its own lifespan and its own POST /mcp, to prove the dispatch and
    lifespan chaining independently of the OpenEnv package."""
    events = []

    @asynccontextmanager
    async def lifespan(app):
        events.append("openenv-startup")
        yield
        events.append("openenv-shutdown")

    app = FastAPI(lifespan=lifespan)

    @app.post("/mcp")
    async def openenv_mcp(body: dict):
        return {"jsonrpc": "2.0", "id": body.get("id"), "result": {"served_by": "openenv", "method": body.get("method")}}

    m = mount(app, registry=EpisodeRegistry(default_task="phase2_core"))
    with serve_in_thread(app) as url:
        yield url, m, events
    assert events[-1] == "openenv-shutdown"


def test_shared_mcp_path_dispatch_and_lifespan_chain(fake_openenv):
    url, _m, events = fake_openenv
    assert events == ["openenv-startup"]  # the original lifespan still runs
    # openenv validate's probe and OpenEnv's own JSON-RPC reach OpenEnv's handler.
    assert httpx.post(url + "/mcp", json={}).json()["result"]["served_by"] == "openenv"
    r = httpx.post(url + "/mcp", json={"jsonrpc": "2.0", "id": 3, "method": "tools/list"})
    assert r.json()["result"] == {"served_by": "openenv", "method": "tools/list"}
    # Standard MCP (initialize with the Streamable HTTP Accept header) reaches the MCP server.
    r = httpx.post(url + "/mcp", json=INIT, headers=MCP_ACCEPT)
    assert r.status_code == 200 and r.headers.get("mcp-session-id")
    assert "serverInfo" in r.text and "ghostexec" in r.text

    async def both_eras():
        for path in ("/mcp", "/mcp-std/"):
            for mode in ("legacy", "auto"):
                async with Client(url + path, mode=mode) as c:
                    names = [t.name for t in (await c.list_tools()).tools]
                    assert names[0] == "reply_email" and "start_episode" in names

    anyio.run(both_eras)


def test_openenv_validate_still_passes(app_url):
    url, _ = app_url
    exe = os.path.join(os.path.dirname(sys.executable), "openenv")
    out = subprocess.run([exe, "validate", "--url", url], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout[out.stdout.index("{") :])
    assert report["passed"] is True
    assert {c["id"]: c["passed"] for c in report["criteria"]}["mcp_endpoint"] is True


def test_openenv_ws_and_mcp_on_one_port(app_url):
    url, _ = app_url
    from openenv_server.client import GhostexecEnv

    with GhostexecEnv(base_url=url).sync() as env:
        r = env.reset(task_id="phase2_core", seed=1)
        assert "GHOSTEXEC BRIEFING" in r.observation.briefing

    async def mcp():
        async with Client(url + "/mcp", mode="legacy") as c:
            res = await c.call_tool("do_nothing", {})
            assert res.structured_content["step"] == 1

    anyio.run(mcp)


@pytest.mark.anyio
async def test_legacy_sessions_each_get_their_own_episode(app_url):
    url, m = app_url
    before = len(m.registry)
    async with Client(url + "/mcp-std/", mode="legacy") as a, Client(url + "/mcp-std/", mode="legacy") as b:
        for _ in range(3):
            await a.call_tool("do_nothing", {})
        await b.call_tool("do_nothing", {})
        ca = json.loads((await a.read_resource(CONTROL_URI)).contents[0].text)
        cb = json.loads((await b.read_resource(CONTROL_URI)).contents[0].text)
        assert (ca["step"], cb["step"]) == (3, 1) and ca["episode"] != cb["episode"]
        assert len(m.registry) == before + 2
        # New episode without a server restart, for this session only.
        res = await b.call_tool("start_episode", {"task_id": "monday_morning", "seed": 4})
        assert res.structured_content["episode"] == cb["episode"]  # same session, same handle
        assert json.loads((await b.read_resource(CONTROL_URI)).contents[0].text)["task_id"] == "monday_morning"
        assert json.loads((await a.read_resource(CONTROL_URI)).contents[0].text)["step"] == 3
    # Ending the session (the client's DELETE) drops its episode; the server handles that
    # asynchronously, so wait for it (a fixed 0.2 s sleep failed once on a loaded host).
    with anyio.move_on_after(10):
        while len(m.registry) != before:
            await anyio.sleep(0.05)
    assert len(m.registry) == before


@pytest.mark.anyio
async def test_stateless_clients_address_episodes_by_url(app_url):
    url, _ = app_url
    async with Client(url + "/mcp-std/", mode="auto") as lobby:
        assert lobby.protocol_version == "2026-07-28"
        refused = await lobby.call_tool("do_nothing", {})
        assert refused.is_error and "start_episode" in refused.content[0].text
        # Listed resources stay readable at the lobby: they explain how to get an episode.
        assert "start_episode" in (await lobby.read_resource(BRIEFING_URI)).contents[0].text
        assert json.loads((await lobby.read_resource(CONTROL_URI)).contents[0].text)["episode"] is None
        async with lobby.listen(resource_subscriptions=[BRIEFING_URI]) as sub:  # acknowledged, then quiet
            assert sub is not None
        one = (await lobby.call_tool("start_episode", {"task_id": "phase2_core", "seed": 2})).structured_content
        two = (await lobby.call_tool("start_episode", {"task_id": "monday_morning", "seed": 5})).structured_content
    assert one["url"] == f"{url}/mcp-std/episodes/{one['episode']}/" and one["episode"] != two["episode"]
    async with Client(one["url"], mode="auto") as c1, Client(two["url"], mode="auto") as c2:
        for _ in range(2):
            await c1.call_tool("do_nothing", {})
        briefing1 = (await c1.read_resource(BRIEFING_URI)).contents[0].text
        sim = ghostexec.Simulation()
        sim.reset(task_id="phase2_core", seed=2)
        sim.step({"action_type": "do_nothing"})
        assert briefing1 == sim.step({"action_type": "do_nothing"}).observation.briefing
        c2state = json.loads((await c2.read_resource(CONTROL_URI)).contents[0].text)
        assert (c2state["task_id"], c2state["step"]) == ("monday_morning", 0)
        # Restart in place: same URL, new episode.
        again = (await c1.call_tool("start_episode", {"task_id": "phase2_core", "seed": 9})).structured_content
        assert again["url"] == one["url"]
        assert json.loads((await c1.read_resource(CONTROL_URI)).contents[0].text)["step"] == 0
    # A handshake-era client may join the same episode by URL (e.g. a harness watching an agent).
    async with Client(two["url"], mode="legacy") as watcher:
        await watcher.call_tool("do_nothing", {})
        assert json.loads((await watcher.read_resource(CONTROL_URI)).contents[0].text)["step"] == 1


def test_rest_episode_creation_and_unknown_episode(app_url):
    url, _ = app_url
    r = httpx.post(url + "/mcp-std/episodes", json={"task_id": "monday_morning", "seed": 3, "episode_id": "rest-1"})
    assert r.status_code == 201
    body = r.json()
    assert body["task_id"] == "monday_morning" and body["episode_id"] == "rest-1" and body["url"].endswith(f"/{body['episode']}/")
    assert httpx.post(url + "/mcp-std/episodes", json={"task_id": "nope"}).status_code == 404
    r = httpx.post(url + "/mcp-std/episodes/not%20a%20name/", json=INIT, headers=MCP_ACCEPT)
    assert r.status_code == 404 and r.json()["error"]["code"] == -32600
    r = httpx.post(url + "/mcp-std/episodes/fresh-name/?task=no_such_task", json=INIT, headers=MCP_ACCEPT)
    assert r.status_code == 404 and "no_such_task" in r.json()["error"]["message"]


@pytest.mark.anyio
async def test_episode_urls_are_created_on_first_use_by_name(app_url):
    """A host whose configuration holds one fixed URL can play in either era without a setup call."""
    url, m = app_url
    name = "demo-run.1"
    ep_url = f"{url}/mcp-std/episodes/{name}/?task=monday_morning&seed=7"
    async with Client(ep_url, mode="auto") as stateless, Client(ep_url, mode="legacy") as session:
        await stateless.call_tool("do_nothing", {})
        control = json.loads((await session.read_resource(CONTROL_URI)).contents[0].text)
        assert (control["episode"], control["task_id"], control["seed"], control["step"]) == (name, "monday_morning", 7, 1)
    assert m.registry.get(name) is not None


def test_dns_rebinding_protection_stays_on(app_url):
    url, _ = app_url
    for path in ("/mcp-std/", "/mcp", "/mcp-std/episodes"):
        r = httpx.post(url + path, json=INIT, headers={**MCP_ACCEPT, "Host": "evil.example"})
        assert r.status_code == 421, path
    r = httpx.post(url + "/mcp-std/", json=INIT, headers={**MCP_ACCEPT, "Origin": "http://evil.example"})
    assert r.status_code == 403
    assert httpx.post(url + "/mcp-std/", json=INIT, headers={**MCP_ACCEPT, "Origin": url}).status_code == 200


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore:resources/subscribe is removed")
async def test_resource_updated_notifications_legacy_era(app_url):
    url, _ = app_url
    got: list[str] = []

    async def on_message(message):
        root = getattr(message, "root", message)
        if getattr(root, "method", None) == "notifications/resources/updated":
            got.append(str(root.params.uri))

    async with Client(url + "/mcp-std/", mode="legacy", message_handler=on_message) as c:
        assert c.server_capabilities.resources.subscribe is True
        await c.session.subscribe_resource(BRIEFING_URI)
        await c.session.subscribe_resource(CONTROL_URI)
        await c.call_tool("do_nothing", {})
        with anyio.fail_after(5):
            while len(got) < 2:
                await anyio.sleep(0.02)
    assert sorted(got) == [BRIEFING_URI, CONTROL_URI]


@pytest.mark.anyio
async def test_resource_updated_notifications_2026_era(app_url):
    url, _ = app_url
    ep = httpx.post(url + "/mcp-std/episodes", json={"task_id": "phase2_core"}).json()
    other = httpx.post(url + "/mcp-std/episodes", json={"task_id": "phase2_core"}).json()
    async with Client(ep["url"], mode="auto") as listener, Client(ep["url"], mode="auto") as actor:
        assert listener.server_capabilities.resources.subscribe is True
        async with listener.listen(resource_subscriptions=[BRIEFING_URI]) as sub:
            # A step in another episode must not reach this stream.
            async with Client(other["url"], mode="auto") as stranger:
                await stranger.call_tool("do_nothing", {})
            leaked = None
            with anyio.move_on_after(0.5):
                leaked = await sub.__anext__()
            assert leaked is None
            await actor.call_tool("do_nothing", {})
            with anyio.fail_after(5):
                event = await sub.__anext__()
            assert event == ResourceUpdated(uri=BRIEFING_URI)
            control = json.loads((await listener.read_resource(CONTROL_URI)).contents[0].text)
            assert control["step"] == 1


def test_allowed_hosts_from_environment(monkeypatch):
    from mcp_server.http import security_settings

    monkeypatch.setenv("GHOSTEXEC_ALLOWED_HOSTS", "ghostexec.example.org")
    monkeypatch.setenv("SPACE_HOST", "someone-ghostexec.hf.space")
    s = security_settings()
    assert s.enable_dns_rebinding_protection is True
    for host in ("ghostexec.example.org", "ghostexec.example.org:*", "someone-ghostexec.hf.space", "127.0.0.1:*"):
        assert host in s.allowed_hosts
    assert "https://someone-ghostexec.hf.space" in s.allowed_origins
    assert "evil.example" not in s.allowed_hosts


@pytest.mark.anyio
async def test_tool_schemas_equal_the_served_openenv_action_schema(app_url):
    """Type by type, against what OpenEnv actually serves on GET /schema of the same app."""
    url, _ = app_url
    async with httpx.AsyncClient() as http:
        served = (await http.get(url + "/schema")).json()["action"]
    variants = {}
    for variant in served.get("$defs", {}).values():
        at = variant.get("properties", {}).get("action_type", {})
        name = at.get("const") or (at.get("enum") or [None])[0] or at.get("default")
        if name:
            variants[name] = variant
    async with Client(url + "/mcp", mode="auto") as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
    assert set(variants) == set(ghostexec.ACTION_TYPES)
    for action_type, variant in variants.items():
        schema = tools[action_type].input_schema
        assert schema["properties"] == {k: v for k, v in variant["properties"].items() if k not in ("action_type", "metadata")}
        assert set(schema.get("required", [])) == set(variant.get("required", [])) - {"action_type"}


@pytest.mark.anyio
async def test_concurrent_clients_on_one_episode_are_serialised(app_url):
    url, _ = app_url
    ep = httpx.post(url + "/mcp-std/episodes", json={"task_id": "phase2_core"}).json()

    async def agent(n: int) -> None:
        async with Client(ep["url"], mode="auto") as c:
            for _ in range(n):
                res = await c.call_tool("do_nothing", {})
                assert res.is_error is False

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(agent, 5)
    async with Client(ep["url"], mode="auto") as c:
        control = json.loads((await c.read_resource(CONTROL_URI)).contents[0].text)
    assert control["step"] == 20 and len(control["history"]) == 20
    assert [h["step"] for h in control["history"]] == list(range(1, 21))
