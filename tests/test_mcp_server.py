"""The MCP server in memory, in both protocol eras: tools, schemas, results, errors, resources, prompt.

Every test runs twice: Client(mode="legacy") speaks 2025-11-25 with the initialize handshake,
Client(mode="auto") speaks 2026-07-28 (stateless, server/discover).
"""

from __future__ import annotations

import json

import pytest
from mcp import Client, MCPError
from mcp_types import EmbeddedResource, PromptReference

import ghostexec
from ghostexec.actions import ACTION_MODELS, ACTION_TYPES, MODEL_BY_TYPE, action_json_schema, tool_input_schema
from mcp_server import BRIEFING_URI, CONTROL_URI, EpisodeRegistry, build_server
from mcp_server.episodes import RegistryFull

TASK, SEED, EPISODE = "phase2_core", 3, "mcp-test"


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture(params=["legacy", "auto"])
def era(request):
    return request.param


@pytest.fixture
async def client(era):
    mcp = build_server(EpisodeRegistry.single(TASK, SEED, EPISODE))
    async with Client(mcp, mode=era, raise_exceptions=True) as c:
        yield c


def reference_sim():
    sim = ghostexec.Simulation()
    sim.reset(task_id=TASK, seed=SEED, episode_id=EPISODE)
    return sim


def openenv_action_schema() -> dict:
    """The action schema OpenEnv serves on /schema (falls back to the core's union if the OpenEnv
    package is absent: it is derived from the same models)."""
    try:
        from openenv_server.models import GhostexecAction
    except ImportError:  # pragma: no cover
        return action_json_schema()
    return GhostexecAction.model_json_schema()


def _variant(schema: dict, action_type: str) -> dict:
    for variant in schema.get("$defs", {}).values():
        at = variant.get("properties", {}).get("action_type", {})
        if at.get("const") == action_type or at.get("enum") == [action_type] or at.get("default") == action_type:
            return variant
    raise AssertionError(f"{action_type} not in the OpenEnv action schema")


pytestmark = pytest.mark.anyio


async def test_one_tool_per_action_type_with_the_openenv_schema(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    assert list(tools) == [*ACTION_TYPES, "start_episode"]  # deterministic order
    union = openenv_action_schema()
    for action_type in ACTION_TYPES:
        tool = tools[action_type]
        assert tool.input_schema == tool_input_schema(MODEL_BY_TYPE[action_type])
        variant = _variant(union, action_type)
        # Type by type: the same fields with the same JSON Schema, minus the discriminator (the tool
        # name) and OpenEnv's transport-level `metadata`.
        expected = {k: v for k, v in variant["properties"].items() if k not in ("action_type", "metadata")}
        assert tool.input_schema["properties"] == expected, action_type
        assert set(tool.input_schema.get("required", [])) == set(variant.get("required", [])) - {"action_type"}
        assert tool.input_schema.get("additionalProperties") is False
        assert tool.input_schema["type"] == "object"


async def test_titles_annotations_and_descriptions(client):
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for model in ACTION_MODELS:
        tool = tools[model.model_fields["action_type"].default]
        assert tool.title == model.title
        a = tool.annotations
        assert a.read_only_hint is False
        assert a.destructive_hint is bool(model.destructive)
        assert a.idempotent_hint is bool(model.idempotent)
        assert a.open_world_hint is False
        # Written for an LLM: what it does and what it costs.
        assert len(tool.description) > 120 and "step" in tool.description
        assert tool.output_schema["type"] == "object"
        assert {"ok", "error", "changes", "steps_remaining", "done"} <= set(tool.output_schema["properties"])
        assert "reward" not in tool.output_schema["properties"]  # hidden from the agent (docs/mcp.md)
    assert tools["cancel_meeting"].annotations.destructive_hint is True
    assert tools["archive_email"].annotations.destructive_hint is True
    assert not any(
        t.annotations.destructive_hint for n, t in tools.items() if n not in ("cancel_meeting", "archive_email", "start_episode")
    )
    assert not any(t.annotations.idempotent_hint for t in tools.values())  # every step advances time
    assert tools["start_episode"].output_schema["properties"].keys() >= {"episode", "url", "task_id", "seed"}


async def test_valid_action_matches_the_core(client):
    sim = reference_sim()
    email = sim.state().emails[0].id
    action = {"email_id": email, "body": "Thank you, I'll send the answers by noon."}
    res = await client.call_tool("reply_email", action)
    ref = sim.step({"action_type": "reply_email", **action})
    assert res.is_error is False
    sc = res.structured_content
    assert sc == {
        "ok": True,
        "error": None,
        "changes": ref.info["changes"],
        "step": 1,
        "steps_remaining": ref.observation.steps_remaining,
        "time": ref.observation.time,
        "done": False,
    }
    assert json.loads(res.content[0].text) == sc  # structured content repeated as text
    embedded = [c for c in res.content if isinstance(c, EmbeddedResource)]
    assert embedded[0].resource.uri == BRIEFING_URI and embedded[0].resource.text == ref.observation.briefing
    briefing = (await client.read_resource(BRIEFING_URI)).contents[0]
    assert briefing.mime_type == "text/plain" and briefing.text == ref.observation.briefing


async def test_invalid_action_is_an_error_result_and_the_episode_goes_on(client):
    sim = reference_sim()
    res = await client.call_tool("reply_email", {"email_id": "e-nope", "body": "Hello"})
    ref = sim.step({"action_type": "reply_email", "email_id": "e-nope", "body": "Hello"})
    assert res.is_error is True
    assert ref.observation.error in res.content[0].text  # the core's precise message, first
    assert res.structured_content["ok"] is False and res.structured_content["error"] == ref.observation.error
    assert res.structured_content["step"] == 1  # meaning error: the step is spent (core rule)
    # Episode intact: the next action works and matches the core.
    res2 = await client.call_tool("do_nothing", {})
    ref2 = sim.step({"action_type": "do_nothing"})
    assert res2.is_error is False and res2.structured_content["step"] == 2
    assert (await client.read_resource(BRIEFING_URI)).contents[0].text == ref2.observation.briefing


async def test_shape_error_is_invalid_arguments_and_takes_no_step(client):
    for name, args, needle in [
        ("reply_email", {"email_id": "e01"}, "body: Field required"),
        ("send_message", {"contact_id": "c01", "body": "hi", "channel": "pigeon"}, "channel"),
        ("archive_email", {"email_id": "e01", "extra": 1}, "extra"),
        ("do_nothing", {"action_type": "cancel_meeting"}, "action_type"),
    ]:
        res = await client.call_tool(name, args)
        assert res.is_error is True and needle in res.content[0].text, (name, res.content[0].text)
    control = json.loads((await client.read_resource(CONTROL_URI)).contents[0].text)
    assert control["step"] == 0 and control["history"] == []


async def test_unknown_tool_and_bad_resource_uri_are_protocol_errors(client):
    with pytest.raises(MCPError) as e:
        await client.call_tool("fly_to_the_moon", {})
    assert e.value.error.code == -32602
    for uri in ("ghostexec://nothing-here", "ghostexec://email/e-nope", "other://x"):
        with pytest.raises(MCPError) as e:
            await client.read_resource(uri)
        assert e.value.error.code == -32602, uri
        assert e.value.error.data == {"uri": uri}


async def test_resources_templates_and_entities(client):
    resources = {str(r.uri): r for r in (await client.list_resources()).resources}
    assert resources[BRIEFING_URI].mime_type == "text/plain"
    assert resources[CONTROL_URI].mime_type == "application/json"
    assert resources[CONTROL_URI].annotations.audience == ["user"]  # for the harness, not the model
    templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
    assert templates == {f"ghostexec://{k}/{{entity_id}}" for k in ("email", "meeting", "contact", "task")}
    sim = reference_sim()
    st = sim.state()
    for kind, ident in [
        ("email", st.emails[0].id),
        ("meeting", st.meetings[0].id),
        ("contact", st.contacts[0].id),
        ("task", st.tasks[0].id),
    ]:
        content = (await client.read_resource(f"ghostexec://{kind}/{ident}")).contents[0]
        assert content.mime_type == "application/json"
        assert json.loads(content.text) == sim.entity(kind, ident)


async def test_control_resource_has_rewards_breakdown_and_grade(client):
    sim = reference_sim()
    script = [{"action_type": "do_nothing"}, {"action_type": "complete_task", "task_id": sim.state().tasks[0].id}]
    for action in script:
        await client.call_tool(action["action_type"], {k: v for k, v in action.items() if k != "action_type"})
        sim.step(action)
    control = json.loads((await client.read_resource(CONTROL_URI)).contents[0].text)
    assert control["task_id"] == TASK and control["seed"] == SEED and control["episode_id"] == EPISODE
    assert control["rewards"] == [h["reward"] for h in sim.history]
    assert control["last_breakdown"] == sim.history[-1]["breakdown"].model_dump(mode="json")
    assert control["state_hash"] == sim.state_hash()
    assert control["grade"] == sim.grade().model_dump(mode="json")


async def test_start_episode_restarts_without_a_server_restart(client):
    await client.call_tool("do_nothing", {})
    res = await client.call_tool("start_episode", {"task_id": "monday_morning", "seed": 7, "episode_id": "again"})
    assert res.is_error is False
    sc = res.structured_content
    assert sc["task_id"] == "monday_morning" and sc["seed"] == 7 and sc["episode_id"] == "again"
    assert sc["episode"] is None and sc["url"] is None  # stdio-like: the process is the episode
    sim = ghostexec.Simulation()
    obs = sim.reset(task_id="monday_morning", seed=7, episode_id="again")
    assert (await client.read_resource(BRIEFING_URI)).contents[0].text == obs.briefing
    bad = await client.call_tool("start_episode", {"task_id": "no_such_task"})
    assert bad.is_error is True and "no_such_task" in bad.content[0].text
    assert (await client.read_resource(BRIEFING_URI)).contents[0].text == obs.briefing  # untouched


async def test_chief_of_staff_prompt_is_parameterised_by_scenario(client):
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert [a.name for a in prompts["chief_of_staff"].arguments] == ["task_id"]
    for task in ghostexec.available_tasks():
        sc = ghostexec.load_task(task)
        text = (await client.get_prompt("chief_of_staff", {"task_id": task})).messages[0].content.text
        assert sc.title in text and str(sc.step_budget) in text and "ghostexec://briefing" in text
    with pytest.raises(MCPError):
        await client.get_prompt("chief_of_staff", {"task_id": "no_such_task"})
    done = await client.complete(PromptReference(type="ref/prompt", name="chief_of_staff"), {"name": "task_id", "value": ""})
    assert done.completion.values == ghostexec.available_tasks()


async def test_episode_end_is_reported_and_further_actions_refused(client):
    budget = ghostexec.load_task(TASK).step_budget
    last = None
    for _ in range(budget):
        last = await client.call_tool("do_nothing", {})
    assert last.structured_content["done"] is True and last.structured_content["steps_remaining"] == 0
    after = await client.call_tool("do_nothing", {})
    assert after.is_error is True and "over" in after.content[0].text


def test_episode_registry_expiry_and_limits():
    import time

    reg = EpisodeRegistry(idle_ttl_s=0.05, max_episodes=4)
    url_ep = reg.create("phase2_core")
    session_ep = reg.create("phase2_core")
    session_ep.session_bound = True  # lives as long as its MCP session, whatever the TTL
    time.sleep(0.1)
    reg.create("phase2_core")
    assert reg.get(url_ep.handle) is None and reg.get(session_ep.handle) is session_ep
    named = reg.create("monday_morning", 3, handle="my-day")
    live = [session_ep, named, reg.create("phase2_core")]
    assert len(reg) == 4
    # Full: a new episode is refused with a message naming the limit; nobody's episode is evicted.
    with pytest.raises(RegistryFull, match="GHOSTEXEC_MAX_EPISODES"):
        reg.create("phase2_core")
    with pytest.raises(RegistryFull):
        reg.create("phase2_core", handle="another-day")
    assert len(reg) == 4 and all(reg.get(ep.handle) is ep for ep in live)
    assert reg.create("phase2_core", handle="my-day") is named  # a name is created once (even when full)
    with pytest.raises(KeyError):
        reg.create("no_such_task")
