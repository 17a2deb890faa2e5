"""Every action's success path and each invalid form: precise errors, world unchanged but for time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from core_world import GOOD_REPLY_E1, comp, mood, scenario, sim_for

from ghostexec import Simulation
from ghostexec.actions import ACTION_MODELS, ACTION_TYPES, action_json_schema, parse_action
from ghostexec.world import MeetingStatus, TaskStatus


def world_fingerprint(sim: Simulation) -> dict:
    """Everything an invalid action must leave untouched (time-driven fields excluded)."""
    w = sim.world
    return {
        "emails": {e.id: (e.replied, e.archived, e.reply_quality) for e in w.emails.values()},
        "meetings": {m.id: (m.start, m.end, m.status) for m in w.meetings.values()},
        "tasks": {t.id: (t.status, t.assignee, t.progress_minutes) for t in w.tasks.values()},
        "messages": {c.id: (c.recent_messages, c.goodwill_owed) for c in w.contacts.values()},
    }


# --- success paths ------------------------------------------------------------------------------
def test_reply_good_raises_mood_and_clears_critical_conflict():
    sim = sim_for()
    assert "mail:e1" in {c.id for c in sim.world.conflicts}
    res = sim.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    assert res.observation.step_ok and res.observation.error is None
    assert sim.world.emails["e1"].replied and sim.world.emails["e1"].reply_quality == 1.0
    assert mood(sim, "c1") == "pleased"
    assert "mail:e1" not in {c.id for c in sim.world.conflicts}
    assert comp(res, "conflict") > 0 and comp(res, "relationship") > 0
    assert [(x.label, x.met) for x in res.breakdown.expectations] == [("proposes a time", True), ("formal tone with the chair", True)]


def test_reply_wrong_tone_lowers_mood_and_reports_unmet_expectation():
    sim = sim_for()
    res = sim.step({"action_type": "reply_email", "email_id": "e1", "body": "hey lol sure, tomorrow at 3pm"})
    assert res.observation.step_ok
    assert mood(sim, "c1") == "annoyed"
    met = dict((x.label, x.met) for x in res.breakdown.expectations)
    assert met == {"proposes a time": True, "formal tone with the chair": False}


def test_reply_word_boundaries_they_is_not_hey():
    sim = sim_for()
    sim.step({"action_type": "reply_email", "email_id": "e1", "body": "Dear Margaret, They asked; shall we meet Thursday at 10:30? Regards"})
    assert mood(sim, "c1") == "pleased"


def test_reply_leaking_confidential_terms_to_outsider_is_a_leak():
    sim = sim_for()
    res = sim.step({"action_type": "reply_email", "email_id": "e2", "body": "Confirmed. Our walk-away is $310k, between us."})
    assert res.observation.step_ok
    assert sim.world.emails["e2"].leaked and sim.world.emails["e2"].reply_quality == 0.0
    assert comp(res, "conflict") < 0  # a leak is a standing penalty in the conflict potential
    assert sim.grade().caps_applied and sim.grade().caps_applied[0].label == "Leaked the budget"


def test_archive_marks_archived_and_low_mail_costs_nothing():
    sim = sim_for()
    res = sim.step({"action_type": "archive_email", "email_id": "e3"})
    assert res.observation.step_ok and sim.world.emails["e3"].archived
    assert comp(res, "relationship") == 0.0


def test_archiving_critical_mail_does_not_answer_it():
    sim = sim_for()
    sim.step({"action_type": "archive_email", "email_id": "e1"})
    assert "mail:e1" in {c.id for c in sim.world.conflicts}
    assert any("still unanswered" in c for c in sim.observation.briefing.splitlines() if "archived e1" in c)


def test_reschedule_resolves_overlap_and_keeps_duration():
    sim = sim_for()
    assert "overlap:m1+m2" in {c.id for c in sim.world.conflicts}
    res = sim.step({"action_type": "reschedule_meeting", "meeting_id": "m2", "new_start": "2026-03-10T16:00"})
    assert res.observation.step_ok, res.observation.error
    m2 = sim.world.meetings["m2"]
    assert m2.status is MeetingStatus.moved and m2.end - m2.start == timedelta(minutes=45)
    assert "overlap:m1+m2" not in {c.id for c in sim.world.conflicts}
    assert comp(res, "conflict") > 0
    assert mood(sim, "c4") == "neutral"  # more than two hours' notice: nobody minds


def test_reschedule_with_explicit_end():
    sim = sim_for()
    res = sim.step({"action_type": "reschedule_meeting", "meeting_id": "m2", "new_start": "2026-03-10T16:00:00", "new_end": "2026-03-10T16:20:00"})
    assert res.observation.step_ok and sim.world.meetings["m2"].end.minute == 20


def test_short_notice_move_annoys_attendees_and_owes_goodwill():
    sim = sim_for()
    sim.step({"action_type": "do_nothing"})  # 08:20 → m1 at 11:00 still > 2h; use m5? it started. Move to 09:20:
    sim.step({"action_type": "do_nothing"})
    sim.step({"action_type": "do_nothing"})
    sim.step({"action_type": "do_nothing"})
    sim.step({"action_type": "do_nothing"})
    sim.step({"action_type": "do_nothing"})  # 10:00; m1 starts 11:00 (< 2h notice)
    res = sim.step({"action_type": "reschedule_meeting", "meeting_id": "m1", "new_start": "2026-03-10T16:30"})
    assert res.observation.step_ok, res.observation.error
    assert mood(sim, "c2") == "annoyed" and sim.world.contacts["c2"].goodwill_owed == 1


def test_cancel_upsets_attendees_more_without_reason_for_vips():
    sim = sim_for()
    sim.step({"action_type": "cancel_meeting", "meeting_id": "m2", "reason": "Clash with the forecast review"})
    assert sim.world.meetings["m2"].status is MeetingStatus.cancelled
    assert mood(sim, "c4") == "annoyed" and mood(sim, "c2") == "annoyed"
    sim2 = sim_for()
    sim2.world.meetings["m3"].movable = True
    sim2.step({"action_type": "cancel_meeting", "meeting_id": "m3"})
    assert mood(sim2, "c1") == "angry"  # VIP, no reason: two steps down
    assert sim2.grade().caps_applied[0].label == "Cancelled the board check-in"


def test_complete_task_takes_effort_and_finishes():
    sim = sim_for()
    res = sim.step({"action_type": "complete_task", "task_id": "t2"})
    assert res.observation.step_ok and sim.world.tasks["t2"].status is TaskStatus.in_progress
    assert sim.world.tasks["t2"].progress_minutes == 20 and comp(res, "task") > 0
    res = sim.step({"action_type": "complete_task", "task_id": "t2"})
    assert sim.world.tasks["t2"].status is TaskStatus.done and sim.world.tasks["t2"].completed_by == "exec"


def test_delegate_to_reliable_fit_reports_done_later():
    sim = sim_for()
    res = sim.step({"action_type": "delegate_task", "task_id": "t2", "contact_id": "c2", "note": "thanks"})
    assert res.observation.step_ok and sim.world.tasks["t2"].status is TaskStatus.delegated
    for _ in range(8):
        if sim.world.tasks["t2"].status is TaskStatus.done:
            break
        sim.step({"action_type": "do_nothing"})
    t2 = sim.world.tasks["t2"]
    assert t2.status is TaskStatus.done and t2.completed_by == "c2"
    assert any("reports t2" in line for line in (c.text for c in sim.world.log))


def test_delegate_to_unreliable_poor_fit_fails_and_costs_mood():
    sim = sim_for()
    res = sim.step({"action_type": "delegate_task", "task_id": "t2", "contact_id": "c3"})
    assert res.observation.step_ok
    assert mood(sim, "c3") == "annoyed"  # outside their area
    for _ in range(10):
        if sim.world.tasks["t2"].status is not TaskStatus.delegated:
            break
        sim.step({"action_type": "do_nothing"})
    t2 = sim.world.tasks["t2"]
    assert t2.status is TaskStatus.failed and t2.assignee is None and t2.failures == 1
    # a failed task can be taken back and done personally
    assert sim.step({"action_type": "complete_task", "task_id": "t2"}).observation.step_ok


def test_send_message_soothes_one_grievance_on_preferred_channel():
    sim = sim_for(scenario(emails=[]))  # no waiting mail, so only the message moves moods
    sim.step({"action_type": "cancel_meeting", "meeting_id": "m4", "reason": "Pickup"})
    assert mood(sim, "c3") == "annoyed"
    res = sim.step({"action_type": "send_message", "contact_id": "c3", "body": "sorry about the sync, thanks for being flexible", "channel": "email"})
    assert res.observation.step_ok and mood(sim, "c3") == "annoyed"  # wrong channel: did not land
    res = sim.step({"action_type": "send_message", "contact_id": "c3", "body": "sorry about the sync, thanks for being flexible"})
    assert mood(sim, "c3") == "neutral" and comp(res, "relationship") > 0


def test_do_nothing_with_urgent_work_is_penalised_and_without_is_not():
    sim = sim_for()
    res = sim.step({"action_type": "do_nothing"})
    assert comp(res, "idle_penalty") < 0 and "e1" in res.breakdown.components[-1].detail
    calm = scenario(emails=[], meetings=[], tasks=[], executive={**scenario()["executive"], "personal_commitments": []}, grading={})
    sim2 = sim_for(calm)
    res2 = sim2.step({"action_type": "do_nothing"})
    assert comp(res2, "idle_penalty") == 0.0 and res2.reward == 0.0


# --- invalid forms: (action, field named in the error, fragment) -------------------------------
INVALID = [
    ({"action_type": "reply_email", "email_id": "e99", "body": "hi"}, "email_id", "no email 'e99'"),
    ({"action_type": "reply_email", "email_id": "e1", "body": "   "}, "body", "empty"),
    ({"action_type": "archive_email", "email_id": "nope"}, "email_id", "no email 'nope'"),
    ({"action_type": "reschedule_meeting", "meeting_id": "m9", "new_start": "2026-03-10T16:00"}, "meeting_id", "no meeting 'm9'"),
    ({"action_type": "reschedule_meeting", "meeting_id": "m2", "new_start": "tomorrow-ish"}, "new_start", "not an ISO 8601"),
    ({"action_type": "reschedule_meeting", "meeting_id": "m2", "new_start": "2026-03-10T07:00"}, "new_start", "not in the future"),
    ({"action_type": "reschedule_meeting", "meeting_id": "m2", "new_start": "2026-03-10T16:00", "new_end": "2026-03-10T15:00"}, "new_end", "not after"),
    ({"action_type": "reschedule_meeting", "meeting_id": "m2", "new_start": "2026-03-10T13:15"}, "new_start", "clashes with m3"),
    ({"action_type": "reschedule_meeting", "meeting_id": "m3", "new_start": "2026-03-10T16:00"}, "meeting_id", "cannot be moved"),
    ({"action_type": "reschedule_meeting", "meeting_id": "p1", "new_start": "2026-03-10T16:00"}, "meeting_id", "personal commitment"),
    ({"action_type": "cancel_meeting", "meeting_id": "m9"}, "meeting_id", "no meeting 'm9'"),
    ({"action_type": "complete_task", "task_id": "t9"}, "task_id", "no task 't9'"),
    ({"action_type": "complete_task", "task_id": "t3"}, "task_id", "depends on unfinished task(s) t2"),
    ({"action_type": "delegate_task", "task_id": "t1", "contact_id": "c2"}, "task_id", "needs the executive personally"),
    ({"action_type": "delegate_task", "task_id": "t2", "contact_id": "c1"}, "contact_id", "cannot take work"),
    ({"action_type": "delegate_task", "task_id": "t2", "contact_id": "c9"}, "contact_id", "no contact 'c9'"),
    ({"action_type": "send_message", "contact_id": "c9", "body": "hi"}, "contact_id", "no contact 'c9'"),
    ({"action_type": "send_message", "contact_id": "c1", "body": ""}, "body", "empty"),
]


@pytest.mark.parametrize("action,field,fragment", INVALID, ids=[f"{a['action_type']}-{f}-{i}" for i, (a, f, _) in enumerate(INVALID)])
def test_invalid_action_is_an_invalid_step_with_precise_error(action, field, fragment):
    sim = sim_for()
    before = world_fingerprint(sim)
    clock = sim.world.clock
    res = sim.step(action)
    assert not res.observation.step_ok and not res.info["rejected"]
    assert res.observation.error.startswith(f"{field}:"), res.observation.error
    assert fragment in res.observation.error, res.observation.error
    assert comp(res, "invalid_penalty") == -0.30
    assert sim.world.clock == clock + timedelta(minutes=20)  # time passes
    assert world_fingerprint(sim) == before  # nothing else changed
    assert "INVALID" in res.observation.briefing and fragment.split("'")[0] in res.observation.briefing


def test_stale_targets_are_invalid():
    sim = sim_for()
    sim.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    res = sim.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    assert "already answered" in res.observation.error
    sim.step({"action_type": "archive_email", "email_id": "e3"})
    assert "already archived" in sim.step({"action_type": "archive_email", "email_id": "e3"}).observation.error
    sim.step({"action_type": "cancel_meeting", "meeting_id": "m2", "reason": "clash"})
    assert "already cancelled" in sim.step({"action_type": "cancel_meeting", "meeting_id": "m2"}).observation.error
    sim.step({"action_type": "complete_task", "task_id": "t1"})
    assert "already done" in sim.step({"action_type": "complete_task", "task_id": "t1"}).observation.error
    assert "already done" in sim.step({"action_type": "delegate_task", "task_id": "t1", "contact_id": "c2"}).observation.error


def test_meeting_in_progress_cannot_change():
    sim = sim_for()
    sim.step({"action_type": "do_nothing"})  # 08:20: m5 (08:10–08:30) is under way
    res = sim.step({"action_type": "cancel_meeting", "meeting_id": "m5"})
    assert "has already started" in res.observation.error


def test_delegate_at_capacity_names_people_with_room():
    data = scenario()
    data["tasks"].append({"id": "t5", "title": "Another", "deadline": "2026-03-10T17:00:00", "priority": "normal"})
    sim = sim_for(data)
    sim.step({"action_type": "delegate_task", "task_id": "t5", "contact_id": "c3"})
    res = sim.step({"action_type": "delegate_task", "task_id": "t2", "contact_id": "c3"})
    assert "at capacity (1/1" in res.observation.error and "c2" in res.observation.error


# --- shape errors: rejected before the step ---------------------------------------------------
@pytest.mark.parametrize(
    "raw,fragment",
    [
        ({"action_type": "fly_to_moon"}, "not one of"),
        ({}, "missing"),
        ({"action_type": "reply_email", "email_id": "e1"}, "body: Field required"),
        ({"action_type": "reply_email", "email_id": 7, "body": "x"}, "email_id"),
        ({"action_type": "do_nothing", "extra": 1}, "extra"),
        ("do_nothing", "JSON object"),
        (None, "JSON object"),
    ],
)
def test_shape_errors_are_rejected_without_a_step(raw, fragment):
    sim = sim_for()
    clock, step = sim.world.clock, sim.world.step
    res = sim.step(raw)
    assert res.info["rejected"] is True and res.reward == 0.0 and res.breakdown is None
    assert fragment in res.observation.error
    assert sim.world.clock == clock and sim.world.step == step


def test_step_before_reset_and_after_done_never_raise():
    sim = Simulation()
    res = sim.step({"action_type": "do_nothing"})
    assert res.info["rejected"] and "reset" in res.observation.error
    sim = sim_for(scenario(step_budget=1))
    assert sim.step({"action_type": "do_nothing"}).done
    res = sim.step({"action_type": "do_nothing"})
    assert res.done and res.info["rejected"] and "episode is over" in res.observation.error


def test_models_and_dicts_are_equivalent():
    a, b = sim_for(), sim_for()
    model = parse_action({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    assert a.step(model).reward == b.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1}).reward


def test_action_union_schema_lists_exact_required_fields():
    schema = action_json_schema()
    assert set(schema["discriminator"]["mapping"]) == set(ACTION_TYPES)
    required = {m.model_fields["action_type"].default: set(m.model_json_schema().get("required", [])) - {"action_type"} for m in ACTION_MODELS}
    assert required == {
        "reply_email": {"email_id", "body"},
        "archive_email": {"email_id"},
        "reschedule_meeting": {"meeting_id", "new_start"},
        "cancel_meeting": {"meeting_id"},
        "complete_task": {"task_id"},
        "delegate_task": {"task_id", "contact_id"},
        "send_message": {"contact_id", "body"},
        "do_nothing": set(),
    }
