"""The core builds its step results without re-validation (model_construct, for speed); these
tests hold it to the same contract validation would: every observation and step result it returns
re-validates to an equal object, with the declared types."""

from __future__ import annotations

import pytest

from ghostexec import Simulation, available_tasks
from ghostexec.policies import greedy_state
from ghostexec.results import Observation, RewardBreakdown, StepResult


@pytest.mark.parametrize("task", sorted(available_tasks()))
def test_constructed_results_match_validated_ones(task):
    sim = Simulation()
    obs = sim.reset(task_id=task, seed=3)
    assert Observation.model_validate(obs.model_dump()) == obs
    actions = [{"action_type": "do_nothing"}, {"action_type": "complete_task", "task_id": "t999"}]
    n = 0
    while not sim.done:
        action = actions[n % 2] if n % 3 == 2 else greedy_state(sim)
        res = sim.step(action)
        n += 1
        again = StepResult.model_validate(res.model_dump())
        assert again == res
        assert isinstance(res.observation, Observation) and isinstance(res.breakdown, RewardBreakdown)
        assert type(res.reward) is float and type(res.done) is bool
        assert type(res.observation.step) is int and type(res.observation.stress) is int
        assert res.observation == sim.observation
        assert Observation.model_validate_json(res.observation.model_dump_json()) == res.observation


def test_build_refuses_missing_or_unknown_fields():
    from ghostexec.results import build

    with pytest.raises(TypeError, match=r"missing \['total'\]"):
        build(RewardBreakdown, components=[], expectations=[])
    with pytest.raises(TypeError, match=r"unknown \['bogus'\]"):
        build(RewardBreakdown, components=[], total=0.0, expectations=[], bogus=1)
    bd = build(RewardBreakdown, components=[], total=0.5, expectations=[])
    assert bd == RewardBreakdown(components=[], total=0.5, expectations=[])


def test_built_models_share_a_complete_fields_set_that_copies_and_assignments_cannot_change():
    from ghostexec.results import build

    a = build(Observation, **Observation(task_id="t", episode_id="e", briefing="b", step=0, steps_remaining=1, time="", stress=0).__dict__)
    b = build(Observation, **{**a.__dict__, "briefing": "other"})
    assert a.model_fields_set == set(Observation.model_fields) and a.model_fields_set is b.model_fields_set
    before = set(a.model_fields_set)
    c = a.model_copy(update={"error": "x"})
    c.step = 5  # pydantic records the assignment in c's own set
    c.model_fields_set.discard("time")
    assert c.model_fields_set is not a.model_fields_set
    a.stress = 3  # an assignment to a built model names a field the shared set already holds
    assert a.model_fields_set == b.model_fields_set == before
    assert b.model_dump(exclude_unset=True) == b.model_dump()
