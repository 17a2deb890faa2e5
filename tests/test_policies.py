"""Policies: the registry's contract, what each reads, and the planner's forks."""

from __future__ import annotations

import random

import pytest

from ghostexec.actions import parse_action
from ghostexec.policies import POLICIES, POLICY_INFO, run_episode
from ghostexec.policies.heuristic import heuristic_text
from ghostexec.policies.menu import is_valid, valid_actions
from ghostexec.policies.planner import PlannerConfig, fork, make_planner
from ghostexec.scenario import available_tasks
from ghostexec.simulation import Simulation

NAMES = {
    "do_nothing",
    "random_valid",
    "random",
    "reply_spam",
    "message_spam_vip",
    "archive_all",
    "cancel_all",
    "task_churn",
    "heuristic_text",
    "greedy_state",
    "planner",
}


def test_registry_names_and_metadata():
    assert set(POLICIES) == NAMES
    assert set(POLICY_INFO) == NAMES
    assert not POLICY_INFO["heuristic_text"].reads_state and POLICY_INFO["planner"].reads_state


@pytest.mark.parametrize("name", sorted(NAMES - {"planner"}))
def test_every_policy_returns_well_formed_actions(name):
    sim = Simulation()
    sim.reset(task_id="phase2_core", seed=3)
    rng = random.Random(3)
    for _ in range(12):
        act = POLICIES[name](sim, rng)
        parse_action(act)  # raises on a shape error: policies never stall an episode
        res = sim.step(act)
        assert not res.info["rejected"]


class ObservationOnly:
    """Exposes `observation` and nothing else: any other attribute access fails the test."""

    def __init__(self, sim):
        object.__setattr__(self, "_sim", sim)

    def __getattribute__(self, name):
        if name == "observation":
            return object.__getattribute__(self, "_sim").observation
        raise AssertionError(f"heuristic_text read sim.{name}")


@pytest.mark.parametrize("task", available_tasks())
def test_heuristic_text_reads_only_the_observation(task):
    sim = Simulation()
    sim.reset(task_id=task, seed=1)
    proxied = []
    while not sim.done:
        act = heuristic_text(ObservationOnly(sim), None)
        proxied.append(act)
        sim.step(act)
    direct, _ = run_episode(task, 1, POLICIES["heuristic_text"])
    assert [h["action"] for h in direct.history] == [h["action"] for h in sim.history]
    assert sim.grade().score > 0.4  # it really plays from the text


def test_random_valid_only_takes_valid_steps():
    for task in available_tasks():
        _, results = run_episode(task, 2, POLICIES["random_valid"])
        assert all(r.observation.error is None for r in results), task


def test_valid_actions_are_exactly_what_the_core_accepts():
    sim = Simulation()
    sim.reset(task_id="board_prep_crunch", seed=0)
    for act in valid_actions(sim)[:40]:
        f = fork(sim)
        assert f.step(act).observation.error is None, act
    assert not is_valid(sim, {"action_type": "complete_task", "task_id": "nope"})


@pytest.mark.parametrize("task", available_tasks())
def test_a_fork_steps_exactly_like_the_original_and_leaves_it_alone(task):
    sim = Simulation()
    sim.reset(task_id=task, seed=4)
    rng = random.Random(4)
    while not sim.done:
        before = sim.state_hash()
        act = POLICIES["random_valid"](sim, rng) if sim.world.step % 3 else POLICIES["greedy_state"](sim, rng)
        twin = fork(sim, render=True)
        f = fork(sim)
        rf = f.step(act)
        assert sim.state_hash() == before  # stepping a fork never touches the original
        rt = twin.step(act)
        rs = sim.step(act)
        assert rf.reward == rs.reward and rt.observation.briefing == rs.observation.briefing
        assert f.state_hash() == twin.state_hash() == sim.state_hash()
    assert fork(sim).grade() == sim.grade()


def test_planner_is_deterministic_and_never_touches_the_live_episode():
    cheap = make_planner(PlannerConfig(mail=1, tasks=1, finalists=2))
    a, _ = run_episode("dinner_disaster", 0, cheap, max_steps=6)
    b, _ = run_episode("dinner_disaster", 0, cheap, max_steps=6)
    assert [h["action"] for h in a.history] == [h["action"] for h in b.history]
    replay = Simulation()
    replay.reset(task_id="dinner_disaster", seed=0)
    for h in a.history:
        replay.step(h["action"])
    assert replay.state_hash() == a.state_hash()
