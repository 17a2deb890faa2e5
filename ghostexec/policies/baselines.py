"""Baseline policies: the floor, the scripted full-state reference, and two random ones.

- `do_nothing`: always waits (the floor every grader must put near 0).
- `greedy_state`: a strong scripted chief of staff that reads the full state: answers critical mail
  with replies built to meet each expectation, clears the soonest double-booking by moving the less
  important movable meeting to a free slot, does or delegates urgent tasks, apologises where a
  grievance is owed. The rollout policy of the planner and a reference for tests.
- `random_valid`: picks an action type uniformly among those with at least one valid instance now,
  then one instance uniformly (see `ghostexec.policies.menu`). Replies and messages carry a generic
  body: a random agent does not know what each sender asked for.
- `random_any`: any action type with fields drawn from every id the scenario knows (answered,
  archived, done, not yet arrived) and a few that do not exist, times on and off the calendar.
  Always well-formed (a shape error takes no step and would stall an episode), often invalid.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from ..actions import ACTION_TYPES
from ..agent import _load, free_slots
from ..simulation import Simulation
from ..world import MOOD_INDEX, NEUTRAL_INDEX, PRIORITY_RANK, Email, ExpectationKind, MeetingStatus, Priority, TaskStatus, Tone
from .menu import GENERIC_BODIES, apology_text, delegation, valid_actions

CHANNELS = ("email", "slack", "sms", "phone", None)


def do_nothing(sim: Simulation, rng: random.Random | None = None) -> dict[str, Any]:
    return {"action_type": "do_nothing"}


def random_valid(sim: Simulation, rng: random.Random) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = {}
    for act in valid_actions(sim):
        by_type.setdefault(act["action_type"], []).append(act)
    kind = rng.choice(sorted(by_type))
    return rng.choice(by_type[kind])


BOGUS_IDS = ("e99", "m99", "t99", "c99", "x1", "")


def random_any(sim: Simulation, rng: random.Random) -> dict[str, Any]:
    w = sim.world
    sc = w.scenario
    emails = [e.id for e in sc.emails] + list(BOGUS_IDS)
    meetings = [m.id for m in sc.meetings] + [c.id for c in sc.executive.personal_commitments] + list(BOGUS_IDS)
    tasks = [t.id for t in sc.tasks] + list(BOGUS_IDS)
    contacts = [c.id for c in sc.contacts] + list(BOGUS_IDS)
    body = rng.choice((*GENERIC_BODIES, "", "   "))
    kind = rng.choice(ACTION_TYPES)
    if kind == "reply_email":
        return {"action_type": kind, "email_id": rng.choice(emails), "body": body}
    if kind == "archive_email":
        return {"action_type": kind, "email_id": rng.choice(emails)}
    if kind == "reschedule_meeting":
        offset = timedelta(minutes=sc.minutes_per_step * rng.randint(-6, 60))
        start = (w.clock + offset).isoformat(timespec="minutes")
        return {"action_type": kind, "meeting_id": rng.choice(meetings), "new_start": rng.choice((start, start, "soon"))}
    if kind == "cancel_meeting":
        return {"action_type": kind, "meeting_id": rng.choice(meetings), "reason": rng.choice((None, "Something came up."))}
    if kind == "complete_task":
        return {"action_type": kind, "task_id": rng.choice(tasks)}
    if kind == "delegate_task":
        return {"action_type": kind, "task_id": rng.choice(tasks), "contact_id": rng.choice(contacts)}
    if kind == "send_message":
        return {"action_type": kind, "contact_id": rng.choice(contacts), "body": body, "channel": rng.choice(CHANNELS)}
    return {"action_type": "do_nothing"}


def compose_reply(sim: Simulation, email: Email) -> str:
    """A reply meeting every expectation of `email`, in the sender's preferred tone."""
    w = sim.world
    sender = w.contacts[email.sender]
    first = sender.name.split()[0]
    me = w.executive.name.split()[0]
    tone = sender.tone_preference
    formal = tone is Tone.formal or any(x.kind is ExpectationKind.formal_tone for x in email.expectations)
    warm = tone is Tone.casual or any(x.kind is ExpectationKind.warm_tone for x in email.expectations)
    forbidden = {t.lower() for x in email.expectations if x.kind is ExpectationKind.no_confidential for t in x.terms}
    lines = [f"Dear {first}," if formal else f"Hi {first},"]
    for x in email.expectations:
        k = x.kind
        if k is ExpectationKind.propose_time:
            lines.append("Could we speak tomorrow at 10:30, or Thursday at 3pm if that suits you better?")
        elif k is ExpectationKind.confirm:
            lines.append("I confirm: we will deliver this as you asked and I will send it over today.")
        elif k is ExpectationKind.decline:
            lines.append("I am afraid I cannot take this on right now, so I have to decline.")
        elif k is ExpectationKind.apologize:
            lines.append("I am sorry for the delay and for the trouble this has caused.")
        elif k is ExpectationKind.mention:
            term = next((t for t in x.terms if t.lower() not in forbidden), x.terms[0])
            lines.append(f"On {term}: it has my full attention and I will follow up personally.")
    if warm and not formal:
        lines.append("Thank you, and sorry it has been such a day.")
    lines.append("Kind regards," if formal else "Thanks,")
    lines.append(me)
    return "\n".join(lines)


def _reply(sim: Simulation, email: Email) -> dict[str, Any]:
    return {"action_type": "reply_email", "email_id": email.id, "body": compose_reply(sim, email)}


def _open_mail(sim: Simulation, priorities: set[Priority]) -> list[Email]:
    w = sim.world
    mail = [e for e in w.visible_emails() if not e.replied and not e.archived and e.priority in priorities]
    mail.sort(key=lambda e: (-PRIORITY_RANK[e.priority], not w.contacts[e.sender].vip, e.received_at, e.id))
    return mail


def _fix_calendar(sim: Simulation) -> dict[str, Any] | None:
    w = sim.world
    conflicts = [c for c in w.conflicts if c.kind != "critical_unanswered"]
    if not conflicts:
        return None

    def first_start(c):
        return min((w.meetings.get(i) or w.commitments[i]).start for i in c.items)

    for c in sorted(conflicts, key=lambda c: (first_start(c), c.id)):
        movable = [w.meetings[i] for i in c.items if i in w.meetings]
        movable = [m for m in movable if m.movable and m.start > w.clock and m.status is not MeetingStatus.cancelled]
        movable.sort(key=lambda m: (PRIORITY_RANK[m.importance], -m.start.timestamp(), m.id))
        for m in movable:
            slots = free_slots(w, m.end - m.start, m.id, count=3)
            same_day = [s for s in slots if s.date() == m.start.date() and s - w.clock >= timedelta(hours=2)]
            choice = (same_day or slots or [None])[0]
            if choice is not None:
                return {
                    "action_type": "reschedule_meeting",
                    "meeting_id": m.id,
                    "new_start": choice.isoformat(timespec="minutes"),
                }
        for m in movable:
            if m.importance is not Priority.critical:
                return {
                    "action_type": "cancel_meeting",
                    "meeting_id": m.id,
                    "reason": "A clash I cannot move around today; I will rebook.",
                }
    return None


def _task_action(sim: Simulation, horizon: timedelta) -> dict[str, Any] | None:
    w = sim.world
    limit = w.clock + horizon
    todo = [
        t
        for t in w.tasks.values()
        if t.status in (TaskStatus.todo, TaskStatus.in_progress, TaskStatus.failed) and t.deadline <= limit
    ]
    todo = [t for t in todo if all(w.tasks[d].status is TaskStatus.done for d in t.dependencies)]
    todo.sort(key=lambda t: (t.deadline, -PRIORITY_RANK[t.priority], t.id))
    for t in todo:
        if not t.requires_executive and t.status is not TaskStatus.in_progress:
            fits = [w.contacts[c] for c in t.delegable_to if _load(w, c) < w.contacts[c].capacity]
            fits.sort(key=lambda c: (-c.reliability, c.id))
            if fits and fits[0].reliability >= 0.7 and t.failures == 0:
                return delegation(t.id, fits[0].id)
        return {"action_type": "complete_task", "task_id": t.id}
    return None


def _soothe(sim: Simulation) -> dict[str, Any] | None:
    w = sim.world
    owed = [c for c in w.contacts.values() if c.goodwill_owed > 0 and MOOD_INDEX[c.mood] <= NEUTRAL_INDEX]
    owed.sort(key=lambda c: (not c.vip, MOOD_INDEX[c.mood], c.id))
    for c in owed:
        recent = [t for t in c.recent_messages if w.clock - t < timedelta(minutes=60)]
        if recent:
            continue
        body = apology_text(c.name, c.tone_preference is Tone.formal)
        return {"action_type": "send_message", "contact_id": c.id, "body": body, "channel": c.preferred_channel.value}
    return None


def greedy_state(sim: Simulation, rng: random.Random | None = None) -> dict[str, Any]:
    w = sim.world
    critical = _open_mail(sim, {Priority.critical})
    if critical:
        return _reply(sim, critical[0])
    soon = [c for c in w.conflicts if c.kind != "critical_unanswered"]
    if soon:
        first = min(min((w.meetings.get(i) or w.commitments[i]).start for i in c.items) for c in soon)
        if first - w.clock <= timedelta(hours=3):
            act = _fix_calendar(sim)
            if act:
                return act
    act = _task_action(sim, timedelta(hours=3))
    if act:
        return act
    high = _open_mail(sim, {Priority.high})
    if high:
        return _reply(sim, high[0])
    act = _fix_calendar(sim) or _soothe(sim) or _task_action(sim, timedelta(hours=30))
    if act:
        return act
    normal = _open_mail(sim, {Priority.normal})
    if normal:
        return _reply(sim, normal[0])
    low = _open_mail(sim, {Priority.low})
    if low:
        return {"action_type": "archive_email", "email_id": low[0].id}
    return {"action_type": "do_nothing"}
