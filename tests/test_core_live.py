"""Live entities (ghostexec.live): an episode's slotted copies of the scenario's pydantic entities.

They must hold exactly the model's fields, turn back into equal models, stay independent of what
they were copied from, and never leak into what callers get as models (state, one entity's view)."""

from __future__ import annotations

import random

import pytest

from ghostexec import Simulation, available_tasks
from ghostexec.live import LIVE_CLASS, LiveRecord, live
from ghostexec.policies import POLICIES
from ghostexec.scenario import load_task
from ghostexec.state import WorldState
from ghostexec.world import Commitment, Contact, Email, Executive, Meeting, Task


def _entities(task: str) -> list:
    sc = load_task(task)
    return [*sc.contacts, *sc.emails, *sc.meetings, *sc.tasks, *sc.executive.personal_commitments, sc.executive]


def test_each_live_class_has_exactly_its_models_fields_and_no_dict():
    for model in (Contact, Email, Meeting, Commitment, Task, Executive):
        cls = LIVE_CLASS[model]
        assert cls.__slots__ == tuple(model.model_fields) == cls.field_names
        record = live(_entities("phase2_core")[0]) if model is Contact else None
        if record is not None:
            assert not hasattr(record, "__dict__")
            with pytest.raises(AttributeError):
                record.moood = "furious"  # a misspelt field is an error, not a new attribute


@pytest.mark.parametrize("task", available_tasks())
def test_a_live_copy_turns_back_into_an_equal_model(task):
    for entity in _entities(task):
        record = live(entity)
        assert isinstance(record, LiveRecord) and type(record).model is type(entity)
        back = record.to_model()
        assert type(back) is type(entity)
        assert back.model_dump() == entity.model_dump()
        assert back.model_dump(mode="json") == entity.model_dump(mode="json")
        # the model it came from is valid, so the one it turns back into validates too
        assert type(entity).model_validate(back.model_dump()) == back


def test_copies_are_independent_of_their_source_and_of_each_other():
    email = load_task("phase2_core").emails[0]
    first = live(email)
    second = first.copy()
    third = second.copy()
    original = (email.replied, email.decay_ticks, email.priority)
    assert original[:2] == (False, 0) and original[2] != "low"
    first.replied, second.decay_ticks, third.priority = True, 3, "low"
    assert (email.replied, email.decay_ticks, email.priority) == original
    assert (first.replied, first.decay_ticks, first.priority) == (True, 0, original[2])
    assert (second.replied, second.decay_ticks, second.priority) == (False, 3, original[2])
    assert (third.replied, third.decay_ticks, third.priority) == (False, 0, "low")


def test_state_and_entity_views_are_models_with_the_live_values():
    sim = Simulation()
    sim.reset(task_id="phase2_core", seed=3)
    rng = random.Random(3)
    for _ in range(12):
        sim.step(POLICIES["greedy_state"](sim, rng))
    st = sim.state()
    assert isinstance(st.executive, Executive) and all(isinstance(c, Commitment) for c in st.executive.personal_commitments)
    for items, model in ((st.contacts, Contact), (st.emails, Email), (st.meetings, Meeting), (st.tasks, Task)):
        assert items and all(type(i) is model for i in items)
    # the snapshot carries the live values, and it survives a JSON round trip through validation
    w = sim.world
    assert [c.mood for c in st.contacts] == [c.mood for c in w.contacts.values()]
    assert [e.replied for e in st.emails] == [e.replied for e in w.visible_emails()]
    assert WorldState.model_validate_json(st.model_dump_json()) == st
    some = next(iter(w.contacts.values()))
    assert sim.entity("contact", some.id)["mood"] == some.mood
    assert "reliability" not in sim.entity("contact", some.id)
