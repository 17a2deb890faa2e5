"""Scheduled events fire through the same path as actions and show up in the next briefing;
delegation outcomes are seeded; identical runs give identical hashes; grades are bounded and mean
something."""

from __future__ import annotations

from core_world import GOOD_REPLY_E1, scenario, sim_for

from ghostexec import Simulation, available_tasks
from ghostexec.graders import graders
from ghostexec.policies import do_nothing, greedy_state, run_episode
from ghostexec.world import TaskStatus

EVENTS = [
    {"id": "ev-mail", "kind": "new_email", "after_step": 1, "note": "Margaret writes again.", "email": {
        "id": "e9", "sender": "c1", "subject": "One more thing", "body": "Please confirm the agenda.", "priority": "critical"}},
    {"id": "ev-move", "kind": "move_meeting", "after_step": 1, "meeting_id": "m4", "new_start": "2026-03-10T13:30:00", "by": "c3"},
    {"id": "ev-deadline", "kind": "move_deadline", "after_step": 1, "task_id": "t2", "new_deadline": "2026-03-10T09:00:00"},
    {"id": "ev-channel", "kind": "set_channel", "after_step": 1, "contact_id": "c2", "channel": "sms"},
    {"id": "ev-tone", "kind": "set_tone", "after_step": 1, "contact_id": "c2", "tone": "formal"},
    {"id": "ev-shock", "kind": "mood_shock", "at": "2026-03-10T08:20:00", "contact_id": "c4", "delta": -1, "reason": "Price rise rejected"},
    {"id": "ev-mute", "kind": "suppress_reply_credit", "after_step": 1, "contact_id": "c1", "reason": "boarding a flight"},
    {"id": "ev-meeting", "kind": "new_meeting", "after_step": 1, "meeting": {
        "id": "m9", "title": "Crisis call", "start": "2026-03-10T16:00:00", "end": "2026-03-10T16:30:00", "attendees": ["c2"], "importance": "high"}},
    {"id": "ev-task", "kind": "new_task", "after_step": 1, "task": {
        "id": "t9", "title": "Sign NDA", "deadline": "2026-03-10T17:00:00", "priority": "high", "requires_executive": True}},
    {"id": "ev-unmute", "kind": "restore_reply_credit", "after_step": 3, "contact_id": "c1"},
]


def test_every_event_kind_fires_logs_and_is_briefed():
    sim = sim_for(scenario(events=EVENTS))
    res = sim.step({"action_type": "do_nothing"})
    w = sim.world
    assert set(res.info["events"]) == {e["id"] for e in EVENTS if e["id"] != "ev-unmute"}
    assert "e9" in w.emails and w.emails["e9"].received_at == w.clock
    assert w.meetings["m4"].start.hour == 13 and w.meetings["m4"].status == "moved"
    assert w.tasks["t2"].deadline.hour == 9
    assert w.contacts["c2"].preferred_channel == "sms" and w.contacts["c2"].tone_preference == "formal"
    assert w.contacts["c4"].mood == "annoyed" and w.contacts["c4"].goodwill_owed == 1
    assert w.contacts["c1"].email_unreachable_reason == "boarding a flight"
    assert "m9" in w.meetings and "t9" in w.tasks
    # the world's changes are logged with the same record type as the agent's, under actor 'world' or the mover
    actors = {c.actor for c in w.last_step_changes}
    assert {"world", "c3"} <= actors
    text = res.observation.briefing
    for fragment in ("Margaret writes again.", "new critical email e9", "moved by Tom Lind", "deadline of t2 moved earlier",
                     "now prefers sms", "EMAIL NOT READ: boarding a flight", "new meeting m9", "new task t9", "m4 13:30"):
        assert fragment in text, fragment
    # m4 now overlaps the fixed board check-in: the new clash is visible
    assert "overlap:m3+m4" in {c.id for c in w.conflicts}


def test_suppressed_reply_path_pays_through_the_right_channel():
    sim = sim_for(scenario(events=EVENTS))
    sim.step({"action_type": "do_nothing"})
    before = sim.world.contacts["c1"].mood
    sim.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    assert sim.world.contacts["c1"].mood == before  # the reply did not reach her
    assert sim.world.emails["e1"].replied
    sim.step({"action_type": "send_message", "contact_id": "c1", "body": "Dear Margaret, I replied by email about Thursday. Regards"})
    assert sim.world.contacts["c1"].mood != before


def test_event_jitter_and_delegation_outcomes_follow_the_seed():
    data = scenario(events=[{"id": "ev", "kind": "mood_shock", "after_step": 2, "jitter_steps": 3, "contact_id": "c4", "delta": -1, "reason": "x"}])
    for t in data["tasks"]:
        t["delegable_to"] = []
    data["contacts"][2]["reliability"] = 0.5
    fire_times, outcomes = set(), set()
    for seed in range(12):
        sim = sim_for(data, seed=seed)
        sim.step({"action_type": "delegate_task", "task_id": "t2", "contact_id": "c3"})
        while not sim.done:
            sim.step({"action_type": "do_nothing"})
        fire_times.add(next(c.time for c in sim.world.log if c.target == "c4"))
        outcomes.add(sim.world.tasks["t2"].status)
        again = sim_for(data, seed=seed)
        again.step({"action_type": "delegate_task", "task_id": "t2", "contact_id": "c3"})
        while not again.done:
            again.step({"action_type": "do_nothing"})
        assert again.state_hash() == sim.state_hash()
    assert len(fire_times) > 1  # jitter varies with the seed
    assert outcomes == {TaskStatus.done, TaskStatus.failed}  # reliability 0.5: both happen across seeds


def test_same_scenario_seed_actions_give_identical_results():
    for task in available_tasks():
        runs = []
        for _ in range(2):
            sim, results = run_episode(task, 3, greedy_state)
            runs.append(([r.observation.briefing for r in results], [r.reward for r in results], sim.state_hash()))
        assert runs[0] == runs[1], task


def test_state_json_has_entity_lists_with_ids():
    sim = Simulation()
    sim.reset(task_id="phase2_core", seed=0)
    data = sim.state().model_dump(mode="json")
    for key in ("emails", "meetings", "contacts", "tasks"):
        assert data[key] and all("id" in item for item in data[key])
    assert sim.entity("email", "e01")["id"] == "e01"


def test_future_events_are_not_in_state_but_are_in_the_hash():
    sim = sim_for(scenario(events=EVENTS))
    dump = sim.state().model_dump_json()
    assert "e9" not in dump and "Crisis call" not in dump
    other = sim_for(scenario(events=[]))
    assert sim.state_hash() != other.state_hash()


def test_one_grader_per_task_and_scores_strictly_inside_bounds():
    table = graders()
    assert set(table) == set(available_tasks())
    for task, grade in table.items():
        assert grade.__name__ == f"{task}_grader"
        for policy in (do_nothing, greedy_state):
            sim, _ = run_episode(task, 0, policy)
            g = grade(sim.world)
            assert 0.01 < g.score < 0.99 and g.final


def test_do_nothing_near_floor_and_strong_play_far_above():
    for task in available_tasks():
        idle, _ = run_episode(task, 1, do_nothing)
        strong, _ = run_episode(task, 1, greedy_state)
        assert idle.grade().score <= 0.1, task
        assert strong.grade().score >= idle.grade().score + 0.25, task


def test_catastrophes_cap_the_grade():
    sim = sim_for()
    sim.world.meetings["m3"].movable = True
    sim.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    uncapped = sim.grade()
    sim.step({"action_type": "cancel_meeting", "meeting_id": "m3", "reason": "No time"})
    capped = sim.grade()
    assert [c.label for c in capped.caps_applied] == ["Cancelled the board check-in"]
    assert capped.raw <= 0.2 and capped.score <= 0.015 + 0.97 * 0.2 + 1e-9
    assert uncapped.caps_applied == []


def test_missing_the_family_commitment_caps_dinner_disaster():
    sim, _ = run_episode("dinner_disaster", 0, do_nothing)
    labels = [c.label for c in sim.grade().caps_applied]
    assert any("dinner" in label.lower() for label in labels)


def test_conditional_events_skip_when_their_reason_is_gone():
    chaser = {"id": "ev-chase", "kind": "new_email", "after_step": 2, "unless_replied": ["e1"], "note": "Margaret chases.", "email": {
        "id": "e8", "sender": "c1", "subject": "Chasing", "body": "Any news?", "priority": "critical"}}
    nudge = {"id": "ev-nudge", "kind": "mood_shock", "after_step": 2, "unless_done": ["t1"], "contact_id": "c2", "delta": -1, "reason": "Payroll still waiting"}
    answered = sim_for(scenario(events=[chaser, nudge]))
    answered.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    answered.step({"action_type": "complete_task", "task_id": "t1"})
    assert "e8" not in answered.world.emails and answered.world.skipped == ["ev-chase", "ev-nudge"]
    assert answered.world.contacts["c2"].mood == "neutral"
    ignored = sim_for(scenario(events=[chaser, nudge]))
    ignored.step({"action_type": "do_nothing"})
    ignored.step({"action_type": "do_nothing"})
    assert "e8" in ignored.world.emails and ignored.world.skipped == []
    assert answered.state_hash() != ignored.state_hash()


def test_conditional_event_references_are_validated():
    import pytest

    from ghostexec.scenario import ScenarioError, parse_scenario

    bad = scenario(events=[{"id": "ev", "kind": "mood_shock", "after_step": 1, "unless_replied": ["e77"], "unless_done": ["t77"],
                            "contact_id": "c1", "delta": -1, "reason": "x"}])
    with pytest.raises(ScenarioError) as info:
        parse_scenario(bad)
    paths = {p.path for p in info.value.problems}
    assert paths == {"$.events[0].unless_replied[0]", "$.events[0].unless_done[0]"}


def test_public_state_hides_the_answer_key():
    sim = sim_for()
    full = sim.state().model_dump(mode="json")
    public = sim.public_state()
    assert any(e["expectations"] for e in full["emails"])
    assert all("expectations" not in e for e in public["emails"])
    assert all(k not in c for c in public["contacts"] for k in ("reliability", "mood_jitter", "goodwill_owed"))
    assert {e["id"] for e in public["emails"]} == {e["id"] for e in full["emails"]}
    assert "expectations" not in sim.entity("email", "e1") and "reliability" not in sim.entity("contact", "c2")
