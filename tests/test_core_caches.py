"""The core caches a lot between steps (briefing sections and lines, conflicts, urgencies, stress
inputs, next deadline / start / mood drop). Caches must never change behaviour: an episode whose
caches are thrown away before every step must match, step for step, the same episode run normally."""

from __future__ import annotations

import random

import pytest

from ghostexec import Simulation, available_tasks
from ghostexec.agent import free_slots
from ghostexec.graders import grade_world
from ghostexec.policies import greedy_state


def _action(sim: Simulation, rng: random.Random) -> dict:
    """A mix of valid and invalid moves of every kind, so every cache sees every kind of change."""
    w = sim.world
    if rng.random() < 0.4:
        return greedy_state(sim, rng)  # purposeful moves: clashes resolved, overdue work done
    kind = rng.choice(["reply", "archive", "complete", "delegate", "move", "cancel", "message", "wait", "wait", "bad"])
    if kind == "reply":
        body = "Hi, I confirm and I am sorry for the delay; could we speak tomorrow at 10:30?"
        return {"action_type": "reply_email", "email_id": rng.choice(sorted(w.emails)), "body": body}
    if kind == "archive":
        return {"action_type": "archive_email", "email_id": rng.choice(sorted(w.emails))}
    if kind == "complete":
        return {"action_type": "complete_task", "task_id": rng.choice(sorted(w.tasks))}
    if kind == "delegate":
        return {
            "action_type": "delegate_task",
            "task_id": rng.choice(sorted(w.tasks)),
            "contact_id": rng.choice(sorted(w.contacts)),
        }
    if kind == "move":
        m = w.meetings[rng.choice(sorted(w.meetings))]
        slots = free_slots(w, m.end - m.start, m.id, count=3)
        if slots:
            return {
                "action_type": "reschedule_meeting",
                "meeting_id": m.id,
                "new_start": rng.choice(slots).isoformat(timespec="minutes"),
            }
    if kind == "cancel":
        return {"action_type": "cancel_meeting", "meeting_id": rng.choice(sorted(w.meetings)), "reason": "a clash"}
    if kind == "message":
        return {
            "action_type": "send_message",
            "contact_id": rng.choice(sorted(w.contacts)),
            "body": "Sorry about today, thank you.",
        }
    if kind == "bad":
        return {"action_type": "complete_task", "task_id": "t999"}
    return {"action_type": "do_nothing"}


def _forget(sim: Simulation) -> None:
    w = sim.world
    w.section_cache = {}
    w.line_cache = {}
    w.conflict_cache = {}


@pytest.mark.parametrize("task", sorted(available_tasks()))
def test_caches_never_change_an_episode(task):
    for seed in range(5):
        cached, fresh = Simulation(), Simulation()
        a, b = cached.reset(task_id=task, seed=seed), fresh.reset(task_id=task, seed=seed)
        assert a.briefing == b.briefing
        rng = random.Random(seed)
        while not cached.done:
            action = _action(cached, rng)
            _forget(fresh)
            x, y = cached.step(action), fresh.step(action)
            step = cached.world.step
            assert x.observation.briefing == y.observation.briefing, f"{task} seed {seed} step {step}"
            assert x.breakdown == y.breakdown, f"{task} seed {seed} step {step}"
            assert x.info["changes"] == y.info["changes"] and x.info["events"] == y.info["events"]
            assert cached.state_hash() == fresh.state_hash(), f"{task} seed {seed} step {step}"
            # Simulation.grade() is cached until the world moves: asked every step, never stale.
            assert cached.grade() == grade_world(cached.world), f"{task} seed {seed} step {step}"
        assert fresh.done and cached.grade() == fresh.grade()


def test_an_episode_never_touches_the_scenarios_entities_or_another_episodes():
    """Reset copies each entity into a live record (ghostexec.live); an assignment in one episode
    must not reach the scenario's entity, a second episode's copy or a planner's fork."""
    from ghostexec.policies.planner import fork_world

    a, b = Simulation(), Simulation()
    a.reset(task_id="phase2_core", seed=0)
    b.reset(task_id="phase2_core", seed=1)
    fork = fork_world(b.world)
    template = a.world.scenario.contacts[0]
    watched = (template, b.world.contacts[template.id], fork.contacts[template.id])
    before = [(c.mood, c.goodwill_owed) for c in watched]
    contact = a.world.contacts[template.id]
    assert contact is not template and all(contact is not c for c in watched)
    contact.mood = "furious" if contact.mood != "furious" else "neutral"
    contact.goodwill_owed = 3
    fork.contacts[template.id].goodwill_owed = 2
    assert [(c.mood, c.goodwill_owed) for c in watched[:2]] == before[:2]
    assert fork.contacts[template.id].goodwill_owed == 2 and b.world.contacts[template.id].goodwill_owed == before[1][1]


def test_a_clamped_mood_is_logged_without_invalidating_the_contacts_caches():
    """A mood pushed past the end of the ladder stays where it is: the change is logged (the agent
    sees that it landed) but the contact did not change, so the contacts version, which keys the
    contacts section and the relationship potential, must not move."""
    sim = Simulation()
    sim.reset(task_id="phase2_core", seed=0)
    w = sim.world
    contact = next(iter(w.contacts.values()))
    ops = w.ops("world")
    while ops.shift_mood(contact, -1, "test") != 0:
        pass  # now at the bottom of the ladder
    version, logged = w.versions["contacts"], len(w.log)
    assert ops.shift_mood(contact, -1, "test") == 0
    assert len(w.log) == logged + 1 and "stays" in w.log[-1].text
    assert w.versions["contacts"] == version
    assert ops.shift_mood(contact, +1, "test") == 1
    assert w.versions["contacts"] == version + 1, "a mood that moves still bumps the version"
