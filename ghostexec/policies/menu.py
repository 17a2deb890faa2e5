"""The menu of valid actions right now: what random_valid samples from and what the planner searches.

Candidates are enumerated per action type (every open email, every future meeting into the next
free slots, every open task, every delegate with room, every contact on their preferred channel)
and then filtered through the core's own meaning checks (`ghostexec.agent.CHECKS`), so "valid"
means exactly what the simulation means by it. Text fields come from the caller: a generic body by
default (no knowledge of what the sender asked for), `compose_reply` for the full-state planner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..actions import parse_action
from ..agent import CHECKS, free_slots
from ..simulation import Simulation
from ..world import Email, MeetingStatus, TaskStatus, Tone

GENERIC_BODIES = (
    "Thanks for your note. I will get back to you shortly.",
    "Noted, thank you.",
    "Received, I will look at this today.",
)
SLOTS_PER_MEETING = 3


def generic_reply(sim: Simulation, email: Email) -> str:
    return GENERIC_BODIES[0]


def apology_text(name: str, formal: bool) -> str:
    """The apology every scripted policy sends a contact owed one (state-free: the text-only
    heuristic builds it from the briefing)."""
    greeting = "Dear" if formal else "Hi"
    return f"{greeting} {name.split()[0]}, I am sorry about the change today; thank you for bearing with me."


def apology(sim: Simulation, contact_id: str) -> str:
    c = sim.world.contacts[contact_id]
    return apology_text(c.name, c.tone_preference is Tone.formal)


def delegation(task_id: str, contact_id: str) -> dict[str, Any]:
    """A delegate_task action with the scripted policies' note."""
    return {"action_type": "delegate_task", "task_id": task_id, "contact_id": contact_id, "note": "Thank you for taking this."}


def candidate_actions(
    sim: Simulation,
    reply_body: Callable[[Simulation, Email], str] = generic_reply,
    message_body: Callable[[Simulation, str], str] = apology,
) -> list[dict[str, Any]]:
    """Every candidate, valid or not (cheap to build); `valid_actions` filters them."""
    w = sim.world
    out: list[dict[str, Any]] = []
    for e in w.visible_emails():
        if e.archived:
            continue
        if not e.replied:
            out.append({"action_type": "reply_email", "email_id": e.id, "body": reply_body(sim, e)})
        out.append({"action_type": "archive_email", "email_id": e.id})
    for m in w.meetings.values():
        if m.status is MeetingStatus.cancelled or m.start <= w.clock:
            continue
        if m.movable:
            for slot in free_slots(w, m.end - m.start, m.id, count=SLOTS_PER_MEETING):
                out.append(
                    {"action_type": "reschedule_meeting", "meeting_id": m.id, "new_start": slot.isoformat(timespec="minutes")}
                )
        out.append(
            {"action_type": "cancel_meeting", "meeting_id": m.id, "reason": "A clash I cannot work around; I will rebook."}
        )
    takers = [c.id for c in w.contacts.values() if c.capacity > 0]
    for t in w.tasks.values():
        if t.status in (TaskStatus.done, TaskStatus.delegated):
            continue
        out.append({"action_type": "complete_task", "task_id": t.id})
        if not t.requires_executive:
            for cid in takers:
                out.append(delegation(t.id, cid))
    for c in w.contacts.values():
        out.append(
            {
                "action_type": "send_message",
                "contact_id": c.id,
                "body": message_body(sim, c.id),
                "channel": c.preferred_channel.value,
            }
        )
    out.append({"action_type": "do_nothing"})
    return out


def is_valid(sim: Simulation, action: dict[str, Any]) -> bool:
    """The core's meaning check, without taking a step or changing anything."""
    act = parse_action(action)
    return CHECKS[type(act)](sim.world, act) is None


def valid_actions(sim: Simulation, **bodies) -> list[dict[str, Any]]:
    return [a for a in candidate_actions(sim, **bodies) if is_valid(sim, a)]
