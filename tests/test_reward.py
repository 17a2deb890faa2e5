"""The reward's required properties: cycles earn ≤ 0, nothing finished is re-earned, spam is bounded,
outside shocks are neither charged nor paid, and the breakdown always adds up."""

from __future__ import annotations

import math
import random

from core_world import GOOD_REPLY_E1, comp, scenario, sim_for

from ghostexec.world import MOOD_INDEX


def calm(**changes):
    """The tiny world without waiting mail or deadlines, so time alone moves nothing."""
    data = scenario(emails=[], tasks=[], grading={}, **changes)
    data["executive"]["personal_commitments"] = []
    return data


def fingerprint(sim):
    """The world minus the clock and the log: what 'returns to the same state' compares."""
    w = sim.world
    return (
        tuple((m.id, m.start, m.end, m.outcome) for m in w.meetings.values()),
        tuple((c.id, c.mood, c.goodwill_owed) for c in w.contacts.values()),
        tuple((t.id, t.status, t.progress_minutes) for t in w.tasks.values()),
        tuple((e.id, e.replied, e.archived) for e in w.emails.values()),
        tuple(c.id for c in w.conflicts),
    )


def test_reschedule_cycles_return_to_same_state_and_earn_at_most_zero():
    rng = random.Random(7)
    slots = ["2026-03-10T16:00", "2026-03-10T16:40", "2026-03-10T17:20"]
    for trial in range(20):
        sim = sim_for(calm())
        sim.step({"action_type": "do_nothing"})
        sim.step({"action_type": "do_nothing"})  # the 08:10 stand-up is over: only the cycle changes things now
        start = fingerprint(sim)
        original = sim.world.meetings["m4"].start.isoformat(timespec="minutes")
        path = [*rng.sample(slots, k=rng.randint(1, 3)), original]
        results = [sim.step({"action_type": "reschedule_meeting", "meeting_id": "m4", "new_start": s}) for s in path]
        assert all(r.observation.step_ok for r in results), [r.observation.error for r in results]
        total = sum(r.reward for r in results)
        # moved status is bookkeeping: compare times, outcomes, moods, conflicts
        assert fingerprint(sim) == start, trial
        assert total <= 1e-12, (trial, path, total)


def test_cycle_with_short_notice_moves_costs_goodwill_net_negative():
    sim = sim_for(calm())
    for _ in range(6):
        sim.step({"action_type": "do_nothing"})  # 10:00: m1 (11:00) is now short notice
    total = 0.0
    total += sim.step({"action_type": "reschedule_meeting", "meeting_id": "m1", "new_start": "2026-03-10T16:00"}).reward
    total += sim.step({"action_type": "reschedule_meeting", "meeting_id": "m1", "new_start": "2026-03-10T11:00"}).reward
    assert total < 0


def test_re_replying_earns_nothing():
    a, b = sim_for(), sim_for()
    first = a.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    b.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    assert first.reward > 0
    again = a.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    idle = b.step({"action_type": "do_nothing"})
    assert again.reward <= 0
    # apart from the invalid-step penalty, the re-reply changed exactly what waiting changed
    for name in ("conflict", "task", "relationship", "shaping"):
        assert math.isclose(comp(again, name), comp(idle, name), abs_tol=1e-12), name
    assert again.reward <= idle.reward - 0.2


def test_message_spam_cannot_raise_moods_without_limit():
    sim = sim_for(calm(step_budget=40))
    start = MOOD_INDEX[sim.world.contacts["c1"].mood]
    rel = 0.0
    for i in range(30):
        res = sim.step({"action_type": "send_message", "contact_id": "c1", "body": f"Dear Margaret, update number {i}. Regards"})
        rel += comp(res, "relationship")
        assert MOOD_INDEX[sim.world.contacts["c1"].mood] <= start  # no grievance, so never above the start
    assert rel < 0  # spam annoys
    assert sim.world.counters["spam"] > 0


def test_apologies_are_bounded_by_grievances():
    sim = sim_for(calm())
    sim.step({"action_type": "cancel_meeting", "meeting_id": "m4", "reason": "Family pickup"})  # c3 -1, owes 1
    lifted = 0
    for _ in range(6):
        before = MOOD_INDEX[sim.world.contacts["c3"].mood]
        sim.step({"action_type": "send_message", "contact_id": "c3", "body": "sorry again about the sync"})
        lifted += max(0, MOOD_INDEX[sim.world.contacts["c3"].mood] - before)
    assert lifted == 1


def test_complete_delegate_complete_cannot_re_earn_task_credit():
    sim = sim_for()
    done = sim.step({"action_type": "complete_task", "task_id": "t1"})
    assert comp(done, "task") > 0
    later = [
        sim.step({"action_type": "delegate_task", "task_id": "t1", "contact_id": "c2"}),
        sim.step({"action_type": "complete_task", "task_id": "t1"}),
        sim.step({"action_type": "delegate_task", "task_id": "t1", "contact_id": "c2"}),
        sim.step({"action_type": "complete_task", "task_id": "t1"}),
    ]
    assert all(not r.observation.step_ok for r in later)
    # any task credit after the first completion comes only from the clock (t4 going overdue), never from t1
    assert all(comp(r, "task") <= 0 for r in later)


def test_outside_shocks_are_not_charged_but_repair_is_paid_once():
    data = calm()
    data["events"] = [{"id": "ev1", "kind": "mood_shock", "after_step": 1, "contact_id": "c2", "delta": -2, "reason": "Bad quarter"}]
    sim = sim_for(data)
    shock_step = sim.step({"action_type": "do_nothing"})
    assert sim.world.contacts["c2"].mood == "angry"
    assert comp(shock_step, "relationship") == 0.0  # fired after the reward was measured
    repair = sim.step({"action_type": "send_message", "contact_id": "c2", "body": "Rough news; I am with you on this"})
    assert comp(repair, "relationship") > 0
    again = sim.step({"action_type": "send_message", "contact_id": "c2", "body": "Still with you"})
    assert comp(again, "relationship") <= 0  # one grievance, one repair


def test_breakdown_sums_exactly_and_names_components():
    sim = sim_for()
    res = sim.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1})
    names = [c.name for c in res.breakdown.components]
    assert names == ["conflict", "task", "relationship", "shaping", "invalid_penalty", "idle_penalty"]
    assert sum(c.value for c in res.breakdown.components) == res.reward == res.breakdown.total
    weights = {c.name: c.weight for c in res.breakdown.components}
    assert (weights["conflict"], weights["task"], weights["relationship"]) == (0.35, 0.30, 0.35)
    for c in res.breakdown.components:
        assert math.isclose(c.value, c.weight * c.raw)
    assert abs(comp(res, "shaping")) <= 0.2


def test_waiting_costs_more_than_answering():
    idle = sim_for()
    busy = sim_for()
    r_idle = sum(idle.step({"action_type": "do_nothing"}).reward for _ in range(6))
    r_busy = busy.step({"action_type": "reply_email", "email_id": "e1", "body": GOOD_REPLY_E1}).reward
    r_busy += sum(busy.step({"action_type": "do_nothing"}).reward for _ in range(5))
    assert r_busy > r_idle


def test_missing_a_double_booked_meeting_is_never_rewarded():
    sim = sim_for(calm())
    rewards = []
    for _ in range(11):  # through 11:00–11:15: m1/m2 overlap resolves by one side being missed
        rewards.append(sim.step({"action_type": "do_nothing"}))
    assert sim.world.meetings["m2"].outcome == "missed"
    assert all(comp(r, "conflict") <= 1e-12 for r in rewards)
