"""Wire models, settings and the manifest: no server needed."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml
from openenv.core.env_server.serialization import deserialize_action
from openenv.core.env_server.types import Action as OpenEnvAction
from pydantic import ValidationError

import ghostexec
from ghostexec import actions as core_actions
from openenv_server.app import Settings, add_serve_arguments, settings_from_args
from openenv_server.environment import GhostexecEnvironment, ResetError, StepRefused
from openenv_server.models import (
    WIRE_ACTION_MODELS,
    WIRE_BY_TYPE,
    GhostexecAction,
    GhostexecObservation,
    ReplyEmailAction,
)

ROOT = Path(__file__).resolve().parent.parent


def _core_required(model) -> set[str]:
    return {name for name, info in model.model_fields.items() if info.is_required()}


def test_schema_is_the_discriminated_union_with_each_types_required_fields():
    schema = GhostexecAction.model_json_schema()
    assert schema["discriminator"]["propertyName"] == "action_type"
    mapping = schema["discriminator"]["mapping"]
    assert set(mapping) == set(core_actions.ACTION_TYPES)
    assert len(schema["oneOf"]) == len(core_actions.ACTION_MODELS)
    for action_type, core_model in core_actions.MODEL_BY_TYPE.items():
        variant = schema["$defs"][mapping[action_type].split("/")[-1]]
        assert set(variant["required"]) == _core_required(core_model) | {"action_type"}, action_type
        assert set(variant["properties"]) == set(core_model.model_fields) | {"metadata"}, action_type
        assert variant["properties"]["action_type"]["const"] == action_type
        assert variant["additionalProperties"] is False


def test_wire_actions_derive_from_openenv_action_and_the_core_models():
    for wire, core in zip(WIRE_ACTION_MODELS, core_actions.ACTION_MODELS, strict=True):
        assert issubclass(wire, OpenEnvAction) and issubclass(wire, GhostexecAction) and issubclass(wire, core)
        assert wire.model_config["extra"] == "forbid"
        assert "metadata" in wire.model_fields


def test_openenv_deserialisation_dispatches_on_action_type():
    a = deserialize_action({"action_type": "reply_email", "email_id": "e01", "body": "hi"}, GhostexecAction)
    assert type(a) is ReplyEmailAction and a.email_id == "e01"
    core = a.to_core()
    assert type(core) is core_actions.ReplyEmail and core.model_dump() == {
        "action_type": "reply_email",
        "email_id": "e01",
        "body": "hi",
    }
    assert core_actions.parse_action(core) is core
    for t in core_actions.ACTION_TYPES:
        assert isinstance(
            WIRE_BY_TYPE[t](**{f: "x" for f in _core_required(core_actions.MODEL_BY_TYPE[t]) if f != "action_type"}),
            GhostexecAction,
        )


@pytest.mark.parametrize(
    "raw, error_type",
    [
        ({"action_type": "teleport"}, "union_tag_invalid"),
        ({}, "union_tag_not_found"),
        ({"action_type": "reply_email", "email_id": "e01"}, "missing"),
        ({"action_type": "reply_email", "email_id": 7, "body": "x"}, "string_type"),
        ({"action_type": "do_nothing", "extra": 1}, "extra_forbidden"),
        ({"action_type": "send_message", "contact_id": "c1", "body": "x", "channel": "pigeon"}, "literal_error"),
        ({"action_type": "reply_email", "email_id": "e01", "body": "x" * (core_actions.BODY_MAX + 1)}, "string_too_long"),
    ],
)
def test_shape_errors_are_validation_errors(raw, error_type):
    with pytest.raises(ValidationError) as info:
        GhostexecAction.model_validate(raw)
    assert info.value.errors()[0]["type"] == error_type


def test_observation_carries_the_core_fields_in_typed_form():
    fields = set(GhostexecObservation.model_fields)
    assert set(ghostexec.Observation.model_fields) <= fields
    assert {"briefing", "step_ok", "error", "breakdown", "steps_remaining", "done", "grade"} <= fields


def test_environment_translates_the_core_without_computing():
    env = GhostexecEnvironment()
    with pytest.raises(StepRefused):
        env.step(GhostexecAction.of("do_nothing"))
    obs = env.reset(task_id="phase2_core", seed=3)
    sim = ghostexec.Simulation()
    ref = sim.reset(task_id="phase2_core", seed=3)
    assert obs.briefing == ref.briefing and obs.steps_remaining == ref.steps_remaining
    for raw in ({"action_type": "do_nothing"}, {"action_type": "archive_email", "email_id": "nope"}):
        got = env.step(GhostexecAction.model_validate(raw))
        want = sim.step(raw)
        assert got.reward == want.reward and got.step_ok == want.observation.step_ok and got.error == want.observation.error
        assert got.breakdown == want.breakdown
    assert env.state.state_hash == sim.state_hash()
    assert env.state.world == sim.public_state()  # agents reading state never see the answer key
    for bad, code in (
        ({"task_id": "nope"}, "unknown_task"),
        ({"bogus": 1}, "invalid_reset_option"),
        ({"seed": -1}, "invalid_reset_option"),
        ({"scenario": {"id": "x"}}, "invalid_scenario"),
    ):
        with pytest.raises(ResetError) as info:
            env.reset(**bad)
        assert info.value.code == code
    assert env.state.state_hash == sim.state_hash(), "a refused reset leaves the running episode alone"


@pytest.mark.parametrize("policy", ["greedy_state", "random"])
def test_the_default_scenarios_wire_messages_are_ascii(policy):
    """Every step message of the default scenario is pure ASCII JSON: the simulation's wording is
    ASCII and so is this scenario's text, so the ~10 KB observation is built, encoded and sent
    without UTF-8 conversions (docs/openenv.md, "ASCII on the wire")."""
    import random

    from openenv.core.env_server.serialization import serialize_observation
    from openenv.core.env_server.types import WSObservationResponse

    from ghostexec.policies import POLICIES

    env = GhostexecEnvironment()
    messages = [env.reset(task_id="phase2_core", seed=1)]
    rng = random.Random(1)
    while not messages[-1].done:
        raw = POLICIES[policy](env.simulation, rng)
        try:
            messages.append(env.step(GhostexecAction.model_validate(raw)))
        except ValidationError:  # the random policy also sends malformed actions: a WS error frame
            messages.append(env.step({"action_type": "do_nothing"}))
    assert len(messages) == 41
    for obs in messages:
        wire = WSObservationResponse(data=serialize_observation(obs)).model_dump_json()
        assert wire.isascii(), sorted({ch for ch in wire if ord(ch) > 127})


def test_serving_makes_no_reference_cycles_so_the_collector_can_wait():
    """`tune_runtime` lets 100,000 container objects build up before a young collection because
    the server's own work frees everything by reference counting: steps (valid, invalid and
    refused), episodes ending, resets replacing worlds and building every wire message leave no
    reference cycles. If that stops being true, garbage piles up between collections: this fails
    first, naming what leaked."""
    import gc
    import random

    from openenv.core.env_server.serialization import serialize_observation
    from openenv.core.env_server.types import WSObservationResponse

    from ghostexec.policies import POLICIES

    envs = [GhostexecEnvironment() for _ in range(3)]
    gc.collect()
    gc.disable()
    try:
        for n, env in enumerate(envs):
            for seed in range(2):
                obs = env.reset(task_id=["phase2_core", "dinner_disaster", "monday_morning"][n], seed=seed)
                rng = random.Random(seed)
                while not obs.done:
                    raw = POLICIES["random"](env.simulation, rng)
                    try:
                        obs = env.step(GhostexecAction.model_validate(raw))
                    except (ValidationError, StepRefused):
                        obs = env.step(GhostexecAction.model_validate({"action_type": "do_nothing"}))
                    WSObservationResponse(data=serialize_observation(obs)).model_dump_json()
                with pytest.raises(StepRefused):
                    env.step(GhostexecAction.model_validate({"action_type": "do_nothing"}))  # episode over
                env.state  # noqa: B018 - the state message builds the world's public view
        with pytest.raises(ResetError):
            envs[0].reset(task_id="no_such_task")
        envs.clear()
        gc.set_debug(gc.DEBUG_SAVEALL)  # keep what the collector finds, to name it
        found = gc.collect()
        leaked = sorted({type(o).__name__ for o in gc.garbage})
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert found == 0, f"{found} objects were only reclaimable by the cycle collector ({leaked})"


def test_serving_sets_the_young_collection_threshold():
    """`tune_runtime` (run by `serve`) sets GC_YOUNG_THRESHOLD; run in a child process, since it
    freezes and retunes the collector of whatever process calls it."""
    import subprocess
    import sys

    code = "import gc; from openenv_server.app import GC_YOUNG_THRESHOLD as T, tune_runtime as t; t(); print(gc.get_threshold()[0] == T >= 10_000)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def test_settings_from_env_flags_and_defaults():
    s = Settings.from_env({})
    assert (s.host, s.max_sessions, s.max_body_bytes) == ("127.0.0.1", 64, 262144)
    s = Settings.from_env({"GHOSTEXEC_MAX_SESSIONS": "128", "GHOSTEXEC_EPISODE_TTL_S": "5.5"})
    assert s.max_sessions == 128 and s.episode_ttl_s == 5.5
    parser = add_serve_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--max-sessions", "9", "--port", "7860", "--host", "0.0.0.0"])
    s = settings_from_args(args, {"GHOSTEXEC_MAX_SESSIONS": "128", "GHOSTEXEC_MAX_EPISODES": "3"})
    assert (s.max_sessions, s.port, s.host, s.max_episodes) == (9, 7860, "0.0.0.0", 3)  # flag beats env beats default
    assert Settings.from_env({}).ws_compression is False
    assert Settings.from_env({"GHOSTEXEC_WS_COMPRESSION": "yes"}).ws_compression is True
    assert (
        settings_from_args(parser.parse_args(["--no-ws-compression"]), {"GHOSTEXEC_WS_COMPRESSION": "1"}).ws_compression is False
    )
    with pytest.raises(ValueError, match="boolean"):
        Settings.from_env({"GHOSTEXEC_WS_COMPRESSION": "maybe"})
    with pytest.raises(ValueError, match="max_sessions"):
        Settings.from_env({"GHOSTEXEC_MAX_SESSIONS": "0"})
    with pytest.raises(ValueError, match="GHOSTEXEC_PORT"):
        Settings.from_env({"GHOSTEXEC_PORT": "eighty"})


def test_every_setting_is_in_the_documented_options_table_with_its_flag_and_variable():
    import dataclasses

    table = (ROOT / "docs" / "openenv.md").read_text().split("## Limits and configuration", 1)[1].split("\n\n**", 1)[0]
    rows = {line.split("|")[2].strip(" `"): line for line in table.splitlines() if line.startswith("| `--")}
    for f in dataclasses.fields(Settings):
        variable = "GHOSTEXEC_" + f.name.upper()
        assert variable in rows, f"docs/openenv.md has no row for {variable}"
        assert f"`--{f.name.replace('_', '-')}`" in rows[variable]
    assert len(rows) == len(dataclasses.fields(Settings))


def test_manifest_matches_the_scenario_files():
    manifest = yaml.safe_load((ROOT / "openenv.yaml").read_text())
    assert manifest["name"] == "ghostexec"
    assert manifest["spec_version"] == 1 and manifest["runtime"] == "fastapi"
    assert manifest["app"] == "ghostexec.cli:app"
    assert manifest["port"] == 7860
    listed = {t["id"]: t for t in manifest["tasks"]}
    assert sorted(listed) == ghostexec.available_tasks()
    for task_id, entry in listed.items():
        scenario = ghostexec.load_task(task_id)
        assert entry["difficulty"] == scenario.difficulty, task_id
        assert entry["step_budget"] == scenario.step_budget, task_id
        assert entry["title"] == scenario.title, task_id


def test_module_level_app_is_built_lazily_for_uvicorn_import_strings():
    import openenv_server.app as app_module

    app = app_module.app  # what `uvicorn openenv_server.app:app` (and openenv.yaml's `app:`) loads
    assert "/ws" in {getattr(r, "path", None) for r in app.routes}
    assert {"/episodes", "/episodes/{episode_id}", "/episodes/{episode_id}/step", "/reset", "/step", "/schema"} <= set(
        app.openapi()["paths"]
    )
    assert app_module.app is app


def test_manifest_app_is_the_whole_server():
    import ghostexec.cli as cli

    app = cli.app  # what openenv.yaml's `app:` loads: OpenEnv routes and the MCP endpoint together
    paths = set(app.openapi()["paths"])
    assert {"/episodes", "/reset", "/step", "/schema", "/health"} <= paths
    assert "/ws" in {getattr(r, "path", None) for r in app.routes}
    assert getattr(app.state, "mcp", None) is not None
    assert cli.app is app
