"""Checks on the shipped scenario *data* (scenarios/*.json), not on the engine.

Each scenario must load, tell a story consistent with its own calendar (weekday, clashes where the
story says there are clashes), give every critical email something a reply can be judged on, and
never schedule anything the episode can't reach: no task due before the start, no event after the end.
These are the flaws the old public scenarios had (see docs / baseline), so they are pinned here.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

import pytest

from ghostexec.scenario import available_tasks, load_task

REQUIRED = ("phase2_core", "monday_morning", "dinner_disaster")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
SCENARIOS = available_tasks()


def _events(s, kind):
    return [e for e in s.events if e.kind == kind]


def _fire_time(s, ev) -> datetime:
    """Latest time an event can fire, jitter included."""
    if ev.at is not None:
        return ev.at + timedelta(minutes=s.minutes_per_step * ev.jitter_steps)
    return s.start + timedelta(minutes=s.minutes_per_step * (ev.after_step + ev.jitter_steps))


def _all_emails(s):
    return list(s.emails) + [e.email for e in _events(s, "new_email")]


def _all_tasks(s):
    """(task, earliest time it exists) for starting tasks and tasks created by events."""
    out = [(t, s.start) for t in s.tasks]
    for ev in _events(s, "new_task"):
        out.append((ev.task, _fire_time(s, ev)))
    return out


def _overlaps(a_start, a_end, b_start, b_end) -> bool:
    return a_start < b_end and b_start < a_end


def _meeting_overlaps_at_start(s):
    ms = sorted(s.meetings, key=lambda m: m.start)
    return [
        (a.id, b.id)
        for i, a in enumerate(ms)
        for b in ms[i + 1 :]
        if a.status.value != "cancelled" and b.status.value != "cancelled" and _overlaps(a.start, a.end, b.start, b.end)
    ]


def _personal_clashes_at_start(s):
    return [
        (m.id, p.id)
        for m in s.meetings
        for p in s.executive.personal_commitments
        if _overlaps(m.start, m.end, p.start, p.end)
    ]


def test_enough_scenarios_ship():
    assert len(SCENARIOS) >= 5, SCENARIOS
    for name in REQUIRED:
        assert name in SCENARIOS


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_loads_and_id_matches_file(task_id):
    s = load_task(task_id)
    assert s.id == task_id
    assert s.contacts and s.emails and s.meetings and s.tasks and s.events
    assert len(s.description) >= 120, "the description tells the story in a few sentences"


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_named_weekday_matches_start(task_id):
    """The first weekday named in the title (else the description) is the day the episode starts."""
    s = load_task(task_id)
    start_day = WEEKDAYS[s.start.weekday()]
    for text in (s.title, s.description):
        named = re.findall(r"\b(" + "|".join(WEEKDAYS) + r")\b", text.lower())
        if named:
            assert named[0] == start_day, f"{task_id}: story says {named[0]}, start {s.start} is a {start_day}"
            break
    assert s.start.weekday() < 5, "every shipped story is a working day"


def test_monday_morning_is_a_monday():
    s = load_task("monday_morning")
    assert s.start.weekday() == 0
    assert s.start.hour < 9


@pytest.mark.parametrize("task_id", ["phase2_core", "monday_morning"])
def test_double_bookings_exist_at_start(task_id):
    s = load_task(task_id)
    pairs = _meeting_overlaps_at_start(s)
    assert pairs, f"{task_id} should open with at least one double-booking"
    # every clash is fixable: at least one side of each pair can be moved
    by_id = {m.id: m for m in s.meetings}
    for a, b in pairs:
        assert by_id[a].movable or by_id[b].movable, (a, b)


def test_dinner_disaster_work_clashes_with_personal_commitment():
    s = load_task("dinner_disaster")
    assert s.executive.personal_commitments
    assert _personal_clashes_at_start(s), "an evening work call must collide with the family commitment"
    assert s.difficulty == "hard"
    kinds = {c.kind for c in s.grading.catastrophes}
    assert {"commitment_missed", "confidential_leak", "meeting_cancelled"} <= kinds


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_critical_emails_have_expectations(task_id):
    s = load_task(task_id)
    for e in _all_emails(s):
        if e.priority.value == "critical":
            assert e.expectations, f"{task_id}: critical email {e.id} has no expectations"


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_no_task_due_before_it_can_be_done(task_id):
    s = load_task(task_id)
    for t, exists_from in _all_tasks(s):
        assert t.deadline > s.start, f"{task_id}: {t.id} is due before the start"
        assert t.deadline > exists_from, f"{task_id}: {t.id} is due before it appears"
        # doable by the executive alone in time, ignoring everything else
        steps = math.ceil(t.effort_minutes / s.minutes_per_step)
        assert t.deadline >= exists_from + timedelta(minutes=steps * s.minutes_per_step) or t.dependencies, (
            f"{task_id}: {t.id} cannot be finished before its deadline even if started at once"
        )


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_every_event_fires_within_the_episode(task_id):
    s = load_task(task_id)
    for ev in s.events:
        assert ev.note, f"{task_id}: event {ev.id} has no note for the executive"
        if ev.at is not None:
            assert s.start < ev.at <= s.end, ev.id
        else:
            assert 1 <= ev.after_step <= s.step_budget, ev.id
        assert _fire_time(s, ev) <= s.end, f"{task_id}: event {ev.id} can jitter past the end"
        new_start = getattr(ev, "new_start", None)
        if new_start is not None:
            assert new_start >= _fire_time(s, ev), f"{task_id}: {ev.id} moves a meeting into the past"


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_story_is_not_cloned_filler(task_id):
    """No placeholder meetings or copy-pasted mail: titles, subjects and bodies are distinct."""
    s = load_task(task_id)
    titles = [(m.title, m.start) for m in s.meetings]
    assert len(set(titles)) == len(titles)
    subjects = [e.subject for e in _all_emails(s)]
    assert len(set(subjects)) == len(subjects)
    bodies = [e.body for e in _all_emails(s)]
    assert len(set(bodies)) == len(bodies)
    for m in s.meetings:
        # a block with nobody else in it (a flight) is fine only if it is fixed in time
        assert m.attendees or not m.movable, f"{task_id}: movable meeting {m.id} has nobody in it"


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_mail_and_secrets_are_coherent(task_id):
    s = load_task(task_id)
    contacts = {c.id: c for c in s.contacts}
    emails = _all_emails(s)
    for e in emails:
        for x in e.expectations:
            if x.kind.value == "no_confidential":
                # guarding a secret only makes sense when the person answered is outside the company
                assert not contacts[e.sender].internal, f"{task_id}: {e.id} guards secrets from an insider"
    # each confidential email's secret is something a reply could leak somewhere
    if any(e.confidential for e in emails):
        assert any(x.kind.value == "no_confidential" for e in emails for x in e.expectations), task_id
    # ...and every guarded secret is really in the executive's confidential mail
    secret_text = " ".join(f"{e.subject} {e.body}" for e in emails if e.confidential).lower()
    for e in emails:
        for x in e.expectations:
            if x.kind.value == "no_confidential":
                assert any(t.lower() in secret_text for t in x.terms), f"{task_id}: {e.id} guards a secret no email holds"
    # at least one real choice of delegate exists
    assert any(t.delegable_to for t, _ in _all_tasks(s)), task_id
    assert s.executive.personal_commitments, f"{task_id}: the executive has a life outside work"


@pytest.mark.parametrize("task_id", SCENARIOS)
def test_meetings_moved_by_events_change_something(task_id):
    s = load_task(task_id)
    by_id = {m.id: m for m in s.meetings}
    by_id.update({e.meeting.id: e.meeting for e in _events(s, "new_meeting")})
    for ev in _events(s, "move_meeting"):
        assert ev.new_start != by_id[ev.meeting_id].start, ev.id


def _minimum_demand(s) -> int:
    """A floor on the steps a perfect agent needs: one reply per critical/high email, one move per
    clash (at start, or created by an event's new meeting), and per task either one delegation or
    the steps to do it personally."""
    replies = sum(e.priority.value in ("critical", "high") for e in _all_emails(s))
    clashes = len(_meeting_overlaps_at_start(s)) + len(_personal_clashes_at_start(s))
    clashes += len(_events(s, "new_meeting")) + len(_events(s, "move_meeting"))
    work = 0
    for t, _ in _all_tasks(s):
        work += 1 if t.delegable_to else math.ceil(t.effort_minutes / s.minutes_per_step)
    return replies + clashes + work


def test_slack_matches_difficulty():
    """The easy day leaves room to spare; the hard evening cannot be finished, so choices are graded."""
    load = {t: _minimum_demand(load_task(t)) / load_task(t).step_budget for t in SCENARIOS}
    assert load_task("phase2_core").difficulty == "easy" and load["phase2_core"] <= 0.8
    assert load_task("dinner_disaster").difficulty == "hard" and load["dinner_disaster"] > 1.0
    for t in SCENARIOS:
        difficulty = load_task(t).difficulty
        if difficulty != "easy":
            assert load[t] > load["phase2_core"], f"{t} ({difficulty}) has more slack than the easy scenario"
