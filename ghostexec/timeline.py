"""Firing scheduled events. Each event applies through ghostexec.ops as the actor 'world' (or the
person who caused it), exactly like an agent action, and is recorded in the log and in `fired`.
"""

from __future__ import annotations

from .events import (
    AnyEvent,
    DelegationReport,
    MoodShock,
    MoveDeadline,
    MoveMeeting,
    NewEmail,
    NewMeeting,
    NewTask,
    RestoreReplyCredit,
    SetChannel,
    SetTone,
    SuppressReplyCredit,
)
from .live import live
from .state import World
from .world import MeetingStatus, TaskStatus


def superseded(w: World, ev: AnyEvent) -> bool:
    """A conditional event whose reason has gone: the mail it chases was answered, or the task done."""
    for eid in ev.unless_replied:
        e = w.emails.get(eid)
        if e is not None and e.replied:
            return True
    for tid in ev.unless_done:
        t = w.tasks.get(tid)
        if t is not None and t.status is TaskStatus.done:
            return True
    return False


def fire(w: World, ev: AnyEvent) -> None:
    if superseded(w, ev):
        w.skipped.append(ev.id)
        return
    actor = getattr(ev, "by", None) or ("" if not isinstance(ev, DelegationReport) else ev.delegate_id) or "world"
    ops = w.ops(actor)
    if ev.note:
        ops.note("event", ev.id, ev.note)
    if isinstance(ev, NewEmail):
        email = live(ev.email)
        email.received_at = w.clock
        ops.add_email(email)
    elif isinstance(ev, NewMeeting):
        ops.add_meeting(live(ev.meeting))
    elif isinstance(ev, NewTask):
        ops.add_task(live(ev.task))
    elif isinstance(ev, MoveMeeting):
        m = w.meetings[ev.meeting_id]
        if m.status is MeetingStatus.cancelled or m.start <= w.clock:
            ops.note(
                "event",
                ev.id,
                f"{m.id} was due to move, but it is {'cancelled' if m.status is MeetingStatus.cancelled else 'already under way'}",
            )
        else:
            end = ev.new_end or ev.new_start + (m.end - m.start)
            ops.move_meeting(m, ev.new_start, end, by=w.contacts[ev.by].name if ev.by else None)
    elif isinstance(ev, MoveDeadline):
        t = w.tasks[ev.task_id]
        if t.status is not TaskStatus.done:
            ops.move_deadline(t, ev.new_deadline)
    elif isinstance(ev, SetChannel):
        ops.set_channel(w.contacts[ev.contact_id], ev.channel)
    elif isinstance(ev, SetTone):
        ops.set_tone(w.contacts[ev.contact_id], ev.tone)
    elif isinstance(ev, MoodShock):
        c = w.contacts[ev.contact_id]
        moved = ops.shift_mood(c, ev.delta, ev.reason)
        if moved < 0:
            ops.owe_goodwill(c)
    elif isinstance(ev, SuppressReplyCredit):
        ops.set_unreachable(w.contacts[ev.contact_id], ev.reason)
    elif isinstance(ev, RestoreReplyCredit):
        ops.set_unreachable(w.contacts[ev.contact_id], None)
    elif isinstance(ev, DelegationReport):
        t = w.tasks[ev.task_id]
        if t.status is TaskStatus.delegated and t.assignee == ev.delegate_id:
            ops.finish_delegated(t, ev.delegate_id, ev.success)
    w.fired.append(ev.id)


def due(w: World, *, exogenous: bool) -> list[AnyEvent]:
    """Pop the events due by now: delegation reports (consequences of the agent's choices) when
    exogenous is False, scenario timeline events when True."""
    now = w.clock
    if not w.pending or w.pending[0].fire_at > now:  # pending is sorted by firing time
        return []
    out, keep = [], []
    for p in w.pending:
        if p.fire_at <= now and isinstance(p.event, DelegationReport) != exogenous:
            out.append(p.event)
        else:
            keep.append(p)
    if out:
        w.pending = keep
    return out
