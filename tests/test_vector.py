"""VectorSimulation: each slot is exactly the episode a single Simulation plays; lazy briefings are
the same text, rendered later; auto-reset moves a finished slot to its next seed."""

from __future__ import annotations

import random

import pytest

from ghostexec import Simulation
from ghostexec.policies import POLICIES
from ghostexec.vector import VectorSimulation

TASKS = ["phase2_core", "dinner_disaster", "travel_day"]


def mixed(sim, rng):
    """greedy moves, waits and invalid targets, so slots diverge and hit every path."""
    r = rng.random()
    if r < 0.6:
        return POLICIES["greedy_state"](sim, rng)
    if r < 0.8:
        return {"action_type": "do_nothing"}
    return {"action_type": "complete_task", "task_id": rng.choice(["t01", "t99"])}


@pytest.mark.parametrize("lazy", [False, True])
def test_slots_equal_single_simulations(lazy):
    seeds = [0, 1, 2, 3, 4, 5]
    tasks = TASKS * 2
    vec = VectorSimulation(tasks, n=6, seeds=seeds, lazy_briefing=lazy)
    vobs = vec.reset()
    singles = [Simulation() for _ in seeds]
    sobs = [s.reset(task_id=t, seed=seed) for s, t, seed in zip(singles, tasks, seeds)]
    rngs = [random.Random(seed) for seed in seeds]
    twins = [random.Random(seed) for seed in seeds]
    for i in range(6):
        assert vec.briefing(i) == sobs[i].briefing
        assert vobs[i].model_dump(exclude={"briefing"}) == sobs[i].model_dump(exclude={"briefing"})
    steps = 0
    while not all(vec.dones):
        actions = [mixed(sim, rng) if not sim.done else {"action_type": "do_nothing"} for sim, rng in zip(vec.sims, rngs)]
        out = vec.step(actions)
        for i, (single, twin) in enumerate(zip(singles, twins)):
            if single.done:
                assert out.infos[i]["rejected"] and out.rewards[i] == 0.0
                continue
            want = single.step(mixed(single, twin))
            assert actions[i] == want.info["action"] or actions[i] == dict(want.info["action"])
            assert out.rewards[i] == want.reward and out.dones[i] == want.done
            got = out.observations[i]
            assert got.model_dump(exclude={"briefing"}) == want.observation.model_dump(exclude={"briefing"})
            assert got.briefing == ("" if lazy else want.observation.briefing)
            assert vec.briefing(i) == want.observation.briefing
        steps += 1
    assert steps == 40  # the longest task's budget
    assert vec.state_hashes() == [s.state_hash() for s in singles]
    assert [s.grade().score for s in vec.sims] == [s.grade().score for s in singles]


def test_auto_reset_moves_to_the_next_seed():
    vec = VectorSimulation("dinner_disaster", n=2, seeds=[0, 1], auto_reset=True)
    vec.reset()
    for _ in range(23):
        out = vec.step([{"action_type": "do_nothing"}] * 2)
        assert not any(out.dones)
    out = vec.step([{"action_type": "do_nothing"}] * 2)
    assert out.dones == [True, True] and all("grade" in info for info in out.infos)
    assert out.observations[0].step == 24  # the finishing step is reported as it happened
    # ...and the slots already play their next episodes: seeds 0 + 2 and 1 + 2
    fresh = Simulation()
    fresh.reset(task_id="dinner_disaster", seed=2)
    assert vec.sims[0].world.step == 0 and vec.sims[0].state_hash() == fresh.state_hash()
    assert vec.sims[0].episode_id == "dinner_disaster:2" and vec.sims[1].episode_id == "dinner_disaster:3"


def test_bad_shapes_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="one task per slot"):
        VectorSimulation(["phase2_core", "travel_day"], n=3)
    with pytest.raises(ValueError, match="need 2 seeds"):
        VectorSimulation("phase2_core", n=2, seeds=[1])
    vec = VectorSimulation("phase2_core", n=2)
    vec.reset()
    with pytest.raises(ValueError, match="need 2 actions"):
        vec.step([{"action_type": "do_nothing"}])
