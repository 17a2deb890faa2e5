"""The one code path that changes the world, and the log of every change.

Agent actions (ghostexec.agent), scheduled events (ghostexec.timeline) and the clock-driven
dynamics (ghostexec.dynamics) all mutate the world only through these functions. Each call
appends a `Change` naming who did it (`agent`, `world`, or a contact id) and what happened, so
the briefing's "since last step" section and the trajectory log read the same for every source.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from .world import MOOD_INDEX, MOOD_LADDER, Contact

if TYPE_CHECKING:
    from .state import World


class Change(NamedTuple):
    time: datetime
    actor: str
    kind: str
    target: str
    text: str

    def render(self) -> str:
        who = "you" if self.actor == "agent" else self.actor
        t = self.time  # (hour/minute fields, not strftime: this runs for every change line)
        return f"{t.hour:02d}:{t.minute:02d} [{who}] {self.text}"


# Which briefing section each kind of change can alter (briefing caches sections by version).
SECTION_OF = {
    "mood": "contacts",
    "preference": "contacts",
    "reachability": "contacts",
    "email": "mail",
    "meeting": "calendar",
    "calendar": "calendar",
    "task": "tasks",
}


class Ops:
    """Mutation primitives bound to one world and one actor. Create with `world.ops(actor)`."""

    __slots__ = ("actor", "w")

    def __init__(self, world: World, actor: str):
        self.w = world
        self.actor = actor

    def log(self, kind: str, target: str, text: str) -> None:
        """Record a change and bump the version of the briefing section it can alter."""
        w = self.w
        w.log.append(Change(w.clock, self.actor, kind, target, text))
        section = SECTION_OF.get(kind)
        if section is not None:
            w.versions[section] += 1

    def note(self, kind: str, target: str, text: str) -> None:
        """Record a fact that changes nothing else (an event's announcement, a message sent, a
        clamped mood): no version bump, so every cache keyed on a version stays valid."""
        w = self.w
        w.log.append(Change(w.clock, self.actor, kind, target, text))

    def attend(self, item, outcome) -> None:
        """An item whose time came without trouble (not logged, not shown: nothing went wrong)."""
        item.outcome = outcome

    # --- contacts -------------------------------------------------------------------------
    def shift_mood(self, contact: Contact, delta: int, why: str) -> int:
        """Move a mood along the ladder, clamped at its ends; returns the steps actually moved."""
        if delta == 0:
            return 0
        old = MOOD_INDEX[contact.mood]
        new = min(max(old + delta, 0), len(MOOD_LADDER) - 1)
        if new == old:  # clamped: logged (the agent sees it landed), but the contact is unchanged
            self.note("mood", contact.id, f"{contact.name} stays {contact.mood} ({why})")
            return 0
        contact.mood = MOOD_LADDER[new]
        self.log("mood", contact.id, f"{contact.name}: {MOOD_LADDER[old]} -> {contact.mood} ({why})")
        return new - old

    def owe_goodwill(self, contact: Contact, n: int = 1) -> None:
        """Record a grievance a later message can soothe (each grievance once)."""
        contact.goodwill_owed += n

    def use_goodwill(self, contact: Contact) -> None:
        contact.goodwill_owed -= 1

    def note_message(self, contact: Contact, at: datetime) -> None:
        contact.recent_messages = (*contact.recent_messages[-4:], at)

    def set_channel(self, contact: Contact, channel) -> None:
        old = contact.preferred_channel
        contact.preferred_channel = channel
        self.log("preference", contact.id, f"{contact.name} now prefers {channel.value} (was {old.value})")

    def set_tone(self, contact: Contact, tone) -> None:
        old = contact.tone_preference
        contact.tone_preference = tone
        self.log("preference", contact.id, f"{contact.name} now expects a {tone.value} tone (was {old.value})")

    def set_unreachable(self, contact: Contact, reason: str | None) -> None:
        contact.email_unreachable_reason = reason
        if reason:
            self.log("reachability", contact.id, f"{contact.name}: email replies will not reach them - {reason}")
        else:
            self.log("reachability", contact.id, f"{contact.name} reads email again")

    # --- emails ---------------------------------------------------------------------------
    def add_email(self, email) -> None:
        self.w.emails[email.id] = email
        self.w.arrived.append(email.id)
        self.w.unread.append(email)
        if email.priority in ("critical", "high"):
            self.w.waiting.append(email)
        sender = self.w.contacts.get(email.sender)
        name = sender.name if sender else email.sender
        self.log("email", email.id, f'new {email.priority.value} email {email.id} from {name}: "{email.subject}"')

    def mark_replied(self, email, quality: float, leaked: bool) -> None:
        email.replied = True
        email.read = True
        email.replied_at = self.w.clock
        email.reply_quality = quality
        email.leaked = leaked
        self.w.leaks += int(leaked)
        self.log(
            "email", email.id, f"replied to {email.id} (reply quality {quality:.2f}{', CONFIDENTIAL LEAK' if leaked else ''})"
        )

    def archive(self, email) -> None:
        email.archived = True
        email.read = True
        waiting = (
            "" if email.replied or email.priority.value in ("low", "normal") else " - still unanswered, sender keeps waiting"
        )
        self.log("email", email.id, f"archived {email.id}{waiting}")

    def decay_tick(self, email) -> None:
        email.decay_ticks += 1

    # --- calendar -------------------------------------------------------------------------
    def add_meeting(self, meeting) -> None:
        self.w.meetings[meeting.id] = meeting
        self.log("meeting", meeting.id, f'new meeting {meeting.id} "{meeting.title}" {meeting.start:%H:%M}-{meeting.end:%H:%M}')

    def move_meeting(self, meeting, start: datetime, end: datetime, by: str | None = None) -> None:
        from .world import MeetingStatus

        old = meeting.start
        meeting.start, meeting.end = start, end
        meeting.status = MeetingStatus.moved
        who = f" by {by}" if by else ""
        self.log(
            "meeting", meeting.id, f'{meeting.id} "{meeting.title}" moved{who}: {old:%a %H:%M} -> {start:%a %H:%M}-{end:%H:%M}'
        )

    def cancel_meeting(self, meeting, reason: str | None) -> None:
        from .world import MeetingStatus

        meeting.status = MeetingStatus.cancelled
        self.log(
            "meeting",
            meeting.id,
            f'cancelled {meeting.id} "{meeting.title}"' + (f" ({reason})" if reason else " (no reason given)"),
        )

    def miss(self, item, penalty: float, text: str) -> None:
        """A calendar item the executive could not attend; `penalty` joins the conflict potential."""
        from .world import Outcome

        item.outcome = Outcome.missed
        self.w.missed_penalty += penalty
        self.w.missed_count += 1
        self.log("calendar", item.id, text)

    # --- tasks ----------------------------------------------------------------------------
    def add_task(self, task) -> None:
        self.w.tasks[task.id] = task
        self.log("task", task.id, f'new task {task.id} "{task.title}" due {task.deadline:%a %H:%M}')

    def work_on(self, task, minutes: int) -> None:
        from .world import TaskStatus

        task.progress_minutes = min(task.effort_minutes, task.progress_minutes + minutes)
        if task.progress_minutes >= task.effort_minutes:
            task.status = TaskStatus.done
            task.completed_at = self.w.clock
            task.completed_by = "exec"
            late = " (late)" if self.w.clock > task.deadline else ""
            self.log("task", task.id, f'completed {task.id} "{task.title}"{late}')
        else:
            task.status = TaskStatus.in_progress
            self.log("task", task.id, f"worked on {task.id}: {task.progress_minutes}/{task.effort_minutes} min done")

    def delegate(self, task, contact: Contact) -> None:
        from .world import TaskStatus

        task.status = TaskStatus.delegated
        task.assignee = contact.id
        task.delegated_at = self.w.clock
        self.log("task", task.id, f"delegated {task.id} to {contact.name} ({contact.id})")

    def finish_delegated(self, task, contact_id: str, success: bool) -> None:
        from .world import TaskStatus

        name = self.w.contacts[contact_id].name if contact_id in self.w.contacts else contact_id
        if success:
            task.status = TaskStatus.done
            task.completed_at = self.w.clock
            task.completed_by = contact_id
            late = " (after the deadline)" if self.w.clock > task.deadline else ""
            self.log("task", task.id, f'{name} reports {task.id} "{task.title}" done{late}')
        else:
            task.status = TaskStatus.failed
            task.assignee = None
            task.failures += 1
            self.log("task", task.id, f'{name} could not finish {task.id} "{task.title}"; it is back with you')

    def move_deadline(self, task, deadline: datetime) -> None:
        old = task.deadline
        task.deadline = deadline
        direction = "earlier" if deadline < old else "later"
        self.log("task", task.id, f"deadline of {task.id} moved {direction}: {old:%a %H:%M} -> {deadline:%a %H:%M}")
