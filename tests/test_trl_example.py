"""examples/trl_grpo.py: the TRL environment wrapper, driven through whole episodes of every scenario
against a real server by a scripted policy (the wrapper logic is real; only generation is absent).
Needs neither trl nor torch: the example imports them only inside main()."""

from __future__ import annotations

import importlib.util
import inspect
import math
import random
import sys
from pathlib import Path

import pytest

import ghostexec
from ghostexec.policies import POLICIES

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "trl_grpo.py"


@pytest.fixture(scope="module")
def example():
    spec = importlib.util.spec_from_file_location("trl_grpo_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert "trl" not in sys.modules and "torch" not in sys.modules
    return module


@pytest.fixture(scope="module")
def server(example):
    from ghostexec.cli import create_app
    from openenv_server.testing import running_server

    with running_server(app=create_app()) as url:
        example.ENV_URL = url
        yield url


def test_public_methods_are_exactly_the_action_tools(example):
    cls = example.GhostexecToolEnv
    public = {name for name, _ in inspect.getmembers(cls, inspect.isfunction) if not name.startswith("_")}
    assert public == {"reset", *ghostexec.ACTION_TYPES}
    for name in ghostexec.ACTION_TYPES:
        method = getattr(cls, name)
        doc = inspect.getdoc(method) or ""
        params = [p for p in inspect.signature(method).parameters if p != "self"]
        assert doc and "Returns:" in doc
        for p in params:  # TRL builds each tool's JSON schema from typed arguments described under Args:
            assert f"{p}:" in doc.split("Args:", 1)[1], (name, p)
            assert inspect.signature(method).parameters[p].annotation is not inspect.Parameter.empty
        model = ghostexec.actions.MODEL_BY_TYPE[name]
        assert set(params) == set(model.model_fields) - {"action_type"}


@pytest.mark.parametrize("task", ghostexec.available_tasks())
def test_full_episode_through_the_wrapper(example, server, task):
    env = example.GhostexecToolEnv()
    mirror = ghostexec.Simulation()
    seed = 5
    try:
        briefing = env.reset(task_id=task, seed=seed, prompt=[{"role": "user", "content": "ignored column"}])
        assert briefing == mirror.reset(task_id=task, seed=seed).briefing
        rng = random.Random(seed)
        total = 0.0
        invalid_sent = False
        while not mirror.done:
            if not invalid_sent and mirror.world.step == 3:
                action, invalid_sent = {"action_type": "complete_task", "task_id": "t-nope"}, True
            else:
                action = POLICIES["greedy_state"](mirror, rng)
            expected = mirror.step(action)
            total += expected.reward
            args = {k: v for k, v in action.items() if k != "action_type"}
            text = getattr(env, action["action_type"])(**args)  # what TRL does with a parsed tool call
            if expected.observation.step_ok:
                assert text.startswith("OK (step ")
            else:
                assert text.startswith("INVALID: ") and "t-nope" in text
            assert math.isclose(env.total_return, total, abs_tol=1e-9)
            assert env.done == expected.done
        assert env.reward == mirror.grade().score and env.grade["score"] == env.reward
        assert 0.01 < env.reward < 0.99 and "The workday is over" in text
        with pytest.raises(ValueError, match="workday is over"):
            env.do_nothing()
        assert example.grade_reward(environments=[env]) == [env.reward]
        assert example.return_reward(environments=[env]) == [env.total_return]
    finally:
        env._close()


def test_malformed_call_is_reported_to_the_model_and_costs_nothing(example, server):
    env = example.GhostexecToolEnv()
    try:
        env.reset(task_id="phase2_core", seed=0)
        with pytest.raises(ValueError, match="Not a valid send_message call"):
            env.send_message(contact_id="c01", body="hi", channel="pigeon")
        assert env.steps == 0 and not env.done
        text = env.do_nothing()
        assert "(step 1," in text
        assert 0.0 < env.reward < 1.0  # the grade so far, before the day is over
    finally:
        env._close()


def test_dataset_rows_carry_reset_columns(example):
    rows = example.make_rows(["phase2_core", "travel_day"], range(3))
    assert len(rows) == 6 and rows[4]["task_id"] == "travel_day" and rows[4]["seed"] == 1
    assert rows[0]["prompt"][0]["role"] == "system"
