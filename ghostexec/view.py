"""The office as a person sees it: one JSON-able picture of an episode, for the web page.

    office_view(sim)     -> header, briefing, calendar (with conflicts), inbox, contacts and their
                            moods, tasks with deadlines, stress and reward per step, last changes,
                            and the valid choices for every action form
    action_options(sim)  -> for each action type, the ids (and id pairs, and slots) that the live
                            world accepts right now
    task_catalogue()     -> the shipped tasks, for the task picker

Why here and not in the web adapter: the page must show exactly what the core decides (which
calendar items clash, which ids an action accepts), so it is computed from the live world with the
core's own rules. Valid ids come from `ghostexec.agent`'s `check_*` functions and `free_slots`:
nothing is re-implemented, so an id offered here never makes a step invalid (a test steps every
one of them).

Only visible facts: no email that has not arrived yet, no pending timeline event, and none of the
answer key (reply expectations, delegates' reliability, mood jitter, goodwill owed; see
`Simulation.public_state`).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .actions import (
    ACTION_TYPES,
    ArchiveEmail,
    CancelMeeting,
    CompleteTask,
    DelegateTask,
    ReplyEmail,
    RescheduleMeeting,
    SendMessage,
)
from .agent import (
    check_archive,
    check_cancel,
    check_complete,
    check_delegate,
    check_message,
    check_reply,
    check_reschedule,
    free_slots,
)
from .pressure import overdue_tasks
from .scenario import available_tasks, load_task
from .simulation import DEFAULT_TASK, Simulation
from .state import World
from .trajectory import observation_hash
from .world import MOOD_INDEX, MOOD_LADDER, Channel, MeetingStatus, TaskStatus

SLOTS_PER_MEETING = 6
_PROBE = "-"  # a non-empty text: bodies are checked for emptiness only, so any text stands in


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="minutes") if dt is not None else None


def task_catalogue() -> list[dict[str, Any]]:
    """The shipped tasks with what a picker shows."""
    out = []
    for tid in available_tasks():
        sc = load_task(tid)
        out.append(
            {
                "id": tid,
                "title": sc.title,
                "difficulty": str(sc.difficulty),
                "step_budget": sc.step_budget,
                "minutes_per_step": sc.minutes_per_step,
                "description": sc.description,
                "default": tid == DEFAULT_TASK,
            }
        )
    return out


# --- valid choices ------------------------------------------------------------------------------
def action_options(sim: Simulation) -> dict[str, Any]:
    """What each action form may offer right now. Every id listed passes the core's own check for
    that action (free text is only required to be non-empty). Empty lists mean the action has no
    valid target at the moment; `do_nothing` is always available. After the episode is over
    nothing is offered."""
    w = sim.world
    if w.done:
        return {"done": True, "action_types": [], **{t: [] for t in ACTION_TYPES if t != "do_nothing"}, "do_nothing": False}
    emails = w.visible_emails()
    meetings = sorted(w.meetings.values(), key=lambda m: (m.start, m.id))
    contacts = sorted(w.contacts.values(), key=lambda c: c.id)
    tasks = sorted(w.tasks.values(), key=lambda t: (t.deadline, t.id))
    names = {c.id: c.name for c in contacts}

    reply = [
        {"id": e.id, "label": f"{e.id} · {names.get(e.sender, e.sender)} · {e.subject}"}
        for e in emails
        if check_reply(w, ReplyEmail(email_id=e.id, body=_PROBE)) is None
    ]
    archive = [
        {"id": e.id, "label": f"{e.id} · {names.get(e.sender, e.sender)} · {e.subject}"}
        for e in emails
        if check_archive(w, ArchiveEmail(email_id=e.id)) is None
    ]
    reschedule = []
    for m in meetings:
        slots = [
            _iso(s)
            for s in free_slots(w, m.end - m.start, m.id, count=SLOTS_PER_MEETING)
            if check_reschedule(w, RescheduleMeeting(meeting_id=m.id, new_start=s.isoformat())) is None
        ]
        if slots:
            reschedule.append({"id": m.id, "label": f"{m.id} · {m.start:%H:%M} {m.title}", "slots": slots})
    cancel = [
        {"id": m.id, "label": f"{m.id} · {m.start:%H:%M} {m.title}"}
        for m in meetings
        if check_cancel(w, CancelMeeting(meeting_id=m.id)) is None
    ]
    complete = [
        {"id": t.id, "label": f"{t.id} · {t.title}"} for t in tasks if check_complete(w, CompleteTask(task_id=t.id)) is None
    ]
    delegate = []
    for t in tasks:
        takers = [
            {"id": c.id, "label": f"{c.id} · {c.name}", "good_fit": not t.delegable_to or c.id in t.delegable_to}
            for c in contacts
            if check_delegate(w, DelegateTask(task_id=t.id, contact_id=c.id)) is None
        ]
        if takers:
            delegate.append({"id": t.id, "label": f"{t.id} · {t.title}", "contacts": takers})
    message = [
        {"id": c.id, "label": f"{c.id} · {c.name}", "preferred_channel": str(c.preferred_channel)}
        for c in contacts
        if check_message(w, SendMessage(contact_id=c.id, body=_PROBE)) is None
    ]
    out: dict[str, Any] = {
        "done": False,
        "reply_email": reply,
        "archive_email": archive,
        "reschedule_meeting": reschedule,
        "cancel_meeting": cancel,
        "complete_task": complete,
        "delegate_task": delegate,
        "send_message": message,
        "channels": [str(c) for c in Channel],
        "do_nothing": True,
    }
    out["action_types"] = [t for t in ACTION_TYPES if out.get(t)]
    return out


# --- the picture --------------------------------------------------------------------------------
def _calendar_entry(
    w: World, item, kind: str, movable: bool, status: str, location, people, names: dict, in_conflict: dict
) -> dict[str, Any]:
    """One meeting or personal commitment as the picture's calendar shows it."""
    return {
        "id": item.id,
        "kind": kind,
        "title": item.title,
        "start": _iso(item.start),
        "end": _iso(item.end),
        "importance": str(item.importance),
        "movable": movable,
        "status": status,
        "outcome": str(item.outcome) if item.outcome else None,
        "location": location,
        "with": [names.get(a, a) for a in people],
        "conflicts": in_conflict.get(item.id, []),
        "past": item.end <= w.clock,
    }


def _calendar(w: World) -> dict[str, Any]:
    """Today's calendar: every meeting and personal commitment touching the current day, with its
    status and the conflicts it is part of, plus the window a timeline should draw; `later` lists
    what sits on later days (e.g. a meeting just moved to tomorrow)."""
    day0 = w.clock.replace(hour=0, minute=0, second=0, microsecond=0)
    day1 = day0 + timedelta(days=1)
    wh = w.executive.working_hours
    lo = day0.replace(hour=int(wh.start[:2]), minute=int(wh.start[3:]))
    hi = day0.replace(hour=int(wh.end[:2]), minute=int(wh.end[3:]))
    in_conflict: dict[str, list[str]] = {}
    for c in w.conflicts:
        if c.kind in ("overlap", "personal_clash"):
            for item in c.items:
                in_conflict.setdefault(item, []).append(c.id)
    names = {c.id: c.name for c in w.contacts.values()}
    items = [
        _calendar_entry(w, m, "meeting", m.movable, str(m.status), m.location, m.attendees, names, in_conflict)
        for m in w.meetings.values()
        if m.start < day1 and m.end > day0
    ]
    items += [
        _calendar_entry(w, c, "personal", False, "scheduled", None, c.with_contacts, names, in_conflict)
        for c in w.commitments.values()
        if c.start < day1 and c.end > day0
    ]
    items.sort(key=lambda i: (i["start"], i["id"]))
    live = [i for i in items if i["status"] != str(MeetingStatus.cancelled)]
    for i in live:
        lo = min(lo, max(day0, datetime.fromisoformat(i["start"])))
        hi = max(hi, min(day1, datetime.fromisoformat(i["end"])))
    lo = min(lo, w.clock)
    hi = max(hi, w.clock)
    later = [
        {"id": x.id, "title": x.title, "start": _iso(x.start), "end": _iso(x.end), "conflicts": in_conflict.get(x.id, [])}
        for x in [*w.meetings.values(), *w.commitments.values()]
        if x.start >= day1 and getattr(x, "status", None) is not MeetingStatus.cancelled
    ]
    later.sort(key=lambda i: (i["start"], i["id"]))
    return {"window_start": _iso(lo), "window_end": _iso(hi), "now": _iso(w.clock), "items": items, "later": later}


def _contacts(w: World) -> list[dict[str, Any]]:
    load: dict[str, int] = {}
    for t in w.tasks.values():
        if t.status is TaskStatus.delegated and t.assignee:
            load[t.assignee] = load.get(t.assignee, 0) + 1
    out = []
    for c in w.contact_order:
        out.append(
            {
                "id": c.id,
                "name": c.name,
                "role": c.role,
                "organisation": c.organisation,
                "relationship": str(c.relationship),
                "vip": c.vip,
                "mood": str(c.mood),
                "mood_level": MOOD_INDEX[c.mood],
                "mood_start": str(w.mood_start[c.id]),
                "preferred_channel": str(c.preferred_channel),
                "tone_preference": str(c.tone_preference),
                "capacity": c.capacity,
                "load": load.get(c.id, 0),
            }
        )
    return out


def _tasks(w: World) -> list[dict[str, Any]]:
    overdue = {t.id for t in overdue_tasks(w)}
    names = {c.id: c.name for c in w.contacts.values()}
    return [
        {
            "id": t.id,
            "title": t.title,
            "deadline": _iso(t.deadline),
            "priority": str(t.priority),
            "status": str(t.status),
            "assignee": names.get(t.assignee, t.assignee) if t.assignee else None,
            "progress_minutes": t.progress_minutes,
            "effort_minutes": t.effort_minutes,
            "dependencies": list(t.dependencies),
            "requires_executive": t.requires_executive,
            "overdue": t.id in overdue,
            "minutes_left": int((t.deadline - w.clock).total_seconds() // 60),
        }
        for t in sorted(w.tasks.values(), key=lambda t: (t.deadline, t.id))
    ]


def _inbox(w: World) -> list[dict[str, Any]]:
    names = {c.id: c.name for c in w.contacts.values()}
    emails = sorted(w.visible_emails(), key=lambda e: (e.received_at, e.id), reverse=True)
    return [
        {
            "id": e.id,
            "from": names.get(e.sender, e.sender),
            "sender": e.sender,
            "subject": e.subject,
            "priority": str(e.priority),
            "received_at": _iso(e.received_at),
            "read": e.read,
            "replied": e.replied,
            "archived": e.archived,
        }
        for e in emails
    ]


def _steps(sim: Simulation) -> list[dict[str, Any]]:
    out = []
    for h in sim.history:
        bd = h["breakdown"]
        out.append(
            {
                "step": h["step"],
                "action": h["action"],
                "reward": bd.total,
                "components": {c.name: c.value for c in bd.components},
                "expectations": [{"label": x.label, "met": x.met} for x in bd.expectations],
                "error": h["error"],
                "stress": h.get("stress"),
                "time": h.get("time"),
                "changes": h.get("changes", []),
            }
        )
    return out


def office_view(sim: Simulation) -> dict[str, Any]:
    """Everything the page draws, from the live episode (JSON-able; visible facts only)."""
    w = sim.world
    sc = w.scenario
    obs = sim.observation
    grade = sim.grade()
    steps = _steps(sim)
    stress = [{"step": 0, "stress": sim.start_stress}] + [{"step": s["step"], "stress": s["stress"]} for s in steps]
    return {
        "task": {"id": sc.id, "title": sc.title, "difficulty": str(sc.difficulty), "description": sc.description},
        "episode_id": w.episode_id,
        "seed": w.seed,
        "step": w.step,
        "step_budget": sc.step_budget,
        "steps_remaining": w.steps_remaining,
        "minutes_per_step": sc.minutes_per_step,
        "clock": _iso(w.clock),
        "done": w.done,
        "stress": w.executive.stress,
        "executive": {"name": w.executive.name, "title": w.executive.title, "organisation": w.executive.organisation},
        "briefing": obs.briefing if obs is not None else "",
        "last_error": obs.error if obs is not None else None,
        "return": round(sum(s["reward"] for s in steps), 6),
        "grade": grade.model_dump(mode="json"),
        "state_hash": sim.state_hash(),
        "observation_hash": observation_hash(obs) if obs is not None else None,
        "calendar": _calendar(w),
        "conflicts": [{"id": c.id, "kind": c.kind, "items": list(c.items), "detail": c.detail} for c in w.conflicts],
        "inbox": _inbox(w),
        "contacts": _contacts(w),
        "moods": [str(m) for m in MOOD_LADDER],
        "tasks": _tasks(w),
        "stress_history": stress,
        "steps": steps,
        "last_changes": list(w.last_step_lines),
        "options": action_options(sim),
    }
