"""Agent actions: check each against the live world, then apply it through ghostexec.ops.

`check_*` functions return an error message (field, id, why, what would be valid) or None and
never change anything. `apply_*` functions run only after a clean check. `perform` returns the
error (for an invalid step) and the reply reading (for the breakdown's expectation list).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .actions import (
    ArchiveEmail,
    CancelMeeting,
    CompleteTask,
    DelegateTask,
    DoNothing,
    ReplyEmail,
    RescheduleMeeting,
    SendMessage,
)
from .content import ReplyReading, read_reply, tone_clash
from .events import DelegationReport
from .pressure import calendar_items
from .state import World
from .world import Channel, MeetingStatus, TaskStatus

SHORT_NOTICE = timedelta(hours=2)
SPAM_WINDOW = timedelta(minutes=60)
SPAM_AFTER = 2  # this many earlier messages inside the window make the next one spam
MAX_MEETING = timedelta(hours=8)
HORIZON = timedelta(days=14)  # how far ahead (or back) a reschedule may aim
POOR_FIT_FACTOR = 0.4
OVERLOAD_FACTOR = 0.85


def _listing(ids, limit: int = 12) -> str:
    ids = list(ids)
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return ", ".join(ids[:limit]) + more if ids else "none"


def _parse_time(value: str, field: str) -> tuple[datetime | None, str | None]:
    try:
        dt = datetime.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        return None, f"{field}: '{value}' is not an ISO 8601 date-time; use e.g. '2026-04-21T15:00'"
    if dt.tzinfo is not None:
        dt = dt.replace(tzinfo=None)  # the simulated office runs on naive local time
    return dt, None


# --- email ------------------------------------------------------------------------------------
def _open_email(w: World, email_id: str, verb: str):
    email = w.emails.get(email_id)
    if email is None or email.received_at is None or email.received_at > w.clock:
        open_ids = [e.id for e in w.visible_emails() if not e.archived and not e.replied]
        return None, f"email_id: no email '{email_id}' in the inbox; emails you can {verb}: {_listing(open_ids)}"
    if email.archived:
        return None, f"email_id: '{email_id}' is already archived"
    return email, None


def check_reply(w: World, a: ReplyEmail):
    email, err = _open_email(w, a.email_id, "reply to")
    if err:
        return err
    if email.replied:
        return f"email_id: '{email.id}' was already answered at {email.replied_at:%H:%M}; one reply per email (use send_message to follow up)"
    if not a.body.strip():
        return "body: the reply is empty; write the reply text"
    return None


def apply_reply(w: World, a: ReplyEmail) -> ReplyReading:
    email = w.emails[a.email_id]
    sender = w.contacts[email.sender]
    reading = read_reply(email, a.body, sender.tone_preference)
    ops = w.ops("agent")
    ops.mark_replied(email, reading.quality, reading.leaked)
    if sender.email_unreachable_reason:
        ops.note(
            "email",
            email.id,
            f"{sender.name} will not see this reply ({sender.email_unreachable_reason}); a message on {sender.preferred_channel.value} can still reach them",
        )
        ops.owe_goodwill(sender)
    elif reading.leaked:
        ops.shift_mood(sender, -1, f"reply to {email.id} disclosed confidential material")
    elif reading.wrong_tone:
        ops.shift_mood(sender, -1, f"reply to {email.id} used the wrong tone ({sender.tone_preference.value} expected)")
    elif reading.quality >= 0.67:
        ops.shift_mood(sender, +1, f"good reply to {email.id}")
    elif reading.quality < 0.34:
        ops.shift_mood(sender, -1, f"reply to {email.id} missed what they asked for")
    return reading


def check_archive(w: World, a: ArchiveEmail):
    return _open_email(w, a.email_id, "archive")[1]


def apply_archive(w: World, a: ArchiveEmail) -> None:
    w.ops("agent").archive(w.emails[a.email_id])


# --- calendar ---------------------------------------------------------------------------------
def _meeting_for_change(w: World, meeting_id: str, verb: str):
    m = w.meetings.get(meeting_id)
    if m is None:
        if meeting_id in w.commitments:
            return (
                None,
                f"meeting_id: '{meeting_id}' is a personal commitment, which you cannot {verb}; {verb} the work meeting that clashes with it instead",
            )
        live = [x.id for x in w.meetings.values() if x.status is not MeetingStatus.cancelled and x.start > w.clock]
        return None, f"meeting_id: no meeting '{meeting_id}'; meetings you can {verb}: {_listing(live)}"
    if m.status is MeetingStatus.cancelled:
        return None, f"meeting_id: '{m.id}' is already cancelled"
    if m.start <= w.clock:
        state = "is over" if m.end <= w.clock else "has already started"
        return (
            None,
            f"meeting_id: '{m.id}' \"{m.title}\" {state} ({m.start:%H:%M}-{m.end:%H:%M}); only future meetings can change",
        )
    return m, None


def free_slots(w: World, duration: timedelta, exclude: str, count: int = 3) -> list[datetime]:
    """The next few starts (on the step grid, inside working hours) where `duration` fits."""
    busy = [(i.start, i.end) for i in calendar_items(w) if i.id != exclude]
    grid = timedelta(minutes=w.scenario.minutes_per_step)
    wh = w.executive.working_hours
    out: list[datetime] = []
    t = w.clock + grid
    t = t.replace(second=0, microsecond=0)
    limit = w.clock + timedelta(days=2)
    while t < limit and len(out) < count:
        day_start = t.replace(hour=int(wh.start[:2]), minute=int(wh.start[3:]))
        day_end = t.replace(hour=int(wh.end[:2]), minute=int(wh.end[3:]))
        if t >= day_start and t + duration <= day_end and all(not (s < t + duration and t < e) for s, e in busy):
            out.append(t)
        t += grid
    return out


def _new_span(w: World, a: RescheduleMeeting, m):
    start, err = _parse_time(a.new_start, "new_start")
    if err:
        return None, None, err
    if not (w.clock - HORIZON < start < w.clock + HORIZON):
        return None, None, f"new_start: {a.new_start} is not within {HORIZON.days} days of now ({w.clock:%Y-%m-%dT%H:%M})"
    if a.new_end is not None:
        end, err = _parse_time(a.new_end, "new_end")
        if err:
            return None, None, err
    else:
        end = start + (m.end - m.start)
    return start, end, None


def check_reschedule(w: World, a: RescheduleMeeting):
    m, err = _meeting_for_change(w, a.meeting_id, "reschedule")
    if err:
        return err
    if not m.movable:
        return (
            f"meeting_id: '{m.id}' \"{m.title}\" cannot be moved (fixed by its organiser); move what clashes with it, or cancel"
        )
    start, end, err = _new_span(w, a, m)
    if err:
        return err
    if start <= w.clock:
        return f"new_start: {start:%Y-%m-%dT%H:%M} is not in the future (it is now {w.clock:%Y-%m-%dT%H:%M})"
    if end <= start:
        return f"new_end: {end:%Y-%m-%dT%H:%M} is not after new_start {start:%Y-%m-%dT%H:%M}"
    if end - start > MAX_MEETING:
        return "new_end: a meeting cannot last more than 8 hours"
    if start == m.start and end == m.end:
        return f"new_start: '{m.id}' is already at {start:%H:%M}-{end:%H:%M}"
    clashes = [i.id for i in calendar_items(w) if i.id != m.id and i.start < end and start < i.end]
    if clashes:
        slots = ", ".join(s.strftime("%Y-%m-%dT%H:%M") for s in free_slots(w, end - start, m.id)) or "none in the next two days"
        return f"new_start: {start:%H:%M}-{end:%H:%M} clashes with {_listing(clashes)}; free slots of that length: {slots}"
    return None


def apply_reschedule(w: World, a: RescheduleMeeting) -> None:
    m = w.meetings[a.meeting_id]
    start, end, _ = _new_span(w, a, m)
    short_notice = m.start - w.clock < SHORT_NOTICE
    ops = w.ops("agent")
    ops.move_meeting(m, start, end)
    if short_notice:
        for cid in m.attendees:
            c = w.contacts[cid]
            ops.shift_mood(c, -1, f"{m.id} moved at short notice")
            ops.owe_goodwill(c)


def check_cancel(w: World, a: CancelMeeting):
    return _meeting_for_change(w, a.meeting_id, "cancel")[1]


def apply_cancel(w: World, a: CancelMeeting) -> None:
    m = w.meetings[a.meeting_id]
    reason = (a.reason or "").strip() or None
    ops = w.ops("agent")
    ops.cancel_meeting(m, reason)
    for cid in m.attendees:
        c = w.contacts[cid]
        drop = 2 if (c.vip and reason is None) else 1
        ops.shift_mood(c, -drop, f"{m.id} cancelled" + ("" if reason else " without a reason"))
        ops.owe_goodwill(c)


# --- tasks ------------------------------------------------------------------------------------
def _task(w: World, task_id: str, verb: str):
    t = w.tasks.get(task_id)
    if t is None:
        open_ids = [x.id for x in w.tasks.values() if x.status is not TaskStatus.done]
        return None, f"task_id: no task '{task_id}'; open tasks: {_listing(open_ids)}"
    if t.status is TaskStatus.done:
        who = "you" if t.completed_by == "exec" else t.completed_by
        return None, f"task_id: '{t.id}' is already done (by {who} at {t.completed_at:%H:%M}); nothing to {verb}"
    if t.status is TaskStatus.delegated:
        return None, f"task_id: '{t.id}' is delegated to {t.assignee}; wait for their report"
    unmet = [d for d in t.dependencies if w.tasks[d].status is not TaskStatus.done]
    if unmet:
        return None, f"task_id: '{t.id}' depends on unfinished task(s) {_listing(unmet)}; finish those first"
    return t, None


def check_complete(w: World, a: CompleteTask):
    return _task(w, a.task_id, "complete")[1]


def apply_complete(w: World, a: CompleteTask) -> None:
    w.ops("agent").work_on(w.tasks[a.task_id], w.scenario.minutes_per_step)


def _load(w: World, contact_id: str) -> int:
    return sum(1 for t in w.tasks.values() if t.status is TaskStatus.delegated and t.assignee == contact_id)


def check_delegate(w: World, a: DelegateTask):
    t, err = _task(w, a.task_id, "delegate")
    if err:
        return err
    if t.requires_executive:
        return f"task_id: '{t.id}' \"{t.title}\" needs the executive personally; use complete_task"
    takers = [c.id for c in w.contacts.values() if c.capacity > 0]
    c = w.contacts.get(a.contact_id)
    if c is None:
        return f"contact_id: no contact '{a.contact_id}'; people who can take work: {_listing(takers)}"
    if c.capacity == 0:
        return f"contact_id: {c.name} ({c.id}) cannot take work; people who can: {_listing(takers)}"
    load = _load(w, c.id)
    if load >= c.capacity:
        free = [x for x in takers if _load(w, x) < w.contacts[x].capacity]
        return f"contact_id: {c.name} ({c.id}) is at capacity ({load}/{c.capacity} tasks); people with room: {_listing(free)}"
    return None


def apply_delegate(w: World, a: DelegateTask) -> None:
    t, c = w.tasks[a.task_id], w.contacts[a.contact_id]
    ops = w.ops("agent")
    poor_fit = bool(t.delegable_to) and c.id not in t.delegable_to
    overloaded = _load(w, c.id) + 1 >= c.capacity
    ops.delegate(t, c)
    if poor_fit:
        ops.shift_mood(c, -1, f"{t.id} is outside their area")
        ops.owe_goodwill(c)
    remaining = max(t.effort_minutes - t.progress_minutes, w.scenario.minutes_per_step)
    delay = remaining * w.rng.uniform(1.0, 1.8) * (1.5 if overloaded else 1.0)
    grid = w.scenario.minutes_per_step
    delay_steps = max(1, -(-int(delay) // grid))
    chance = c.reliability * (POOR_FIT_FACTOR if poor_fit else 1.0) * (OVERLOAD_FACTOR if overloaded else 1.0)
    success = w.rng.random() < chance
    report = DelegationReport(id=f"report-{t.id}-{t.failures}", task_id=t.id, delegate_id=c.id, success=success)
    w.schedule(w.clock + timedelta(minutes=grid * delay_steps), report)


# --- messages ---------------------------------------------------------------------------------
def check_message(w: World, a: SendMessage):
    if a.contact_id not in w.contacts:
        return f"contact_id: no contact '{a.contact_id}'; contacts: {_listing(sorted(w.contacts), 20)}"
    if not a.body.strip():
        return "body: the message is empty; write the message text"
    return None


def apply_message(w: World, a: SendMessage) -> None:
    c = w.contacts[a.contact_id]
    channel = Channel(a.channel) if a.channel else c.preferred_channel
    ops = w.ops("agent")
    recent = [t for t in c.recent_messages if w.clock - t < SPAM_WINDOW]
    ops.note_message(c, w.clock)
    w.counters["messages"] += 1
    ops.note("message", c.id, f'message to {c.name} by {channel.value}: "{a.body.strip()[:60]}"')
    if c.goodwill_owed > 0 and channel is c.preferred_channel and not tone_clash(a.body, c.tone_preference):
        ops.use_goodwill(c)
        ops.shift_mood(c, +1, "your message smoothed things over")
    elif len(recent) >= SPAM_AFTER:
        w.counters["spam"] += 1
        ops.shift_mood(c, -1, f"{len(recent) + 1} messages within an hour")
    elif c.goodwill_owed > 0 and channel is not c.preferred_channel:
        ops.note("message", c.id, f"{c.name} prefers {c.preferred_channel.value}; the message did not land")


# --- dispatch ---------------------------------------------------------------------------------
CHECKS = {
    ReplyEmail: check_reply,
    ArchiveEmail: check_archive,
    RescheduleMeeting: check_reschedule,
    CancelMeeting: check_cancel,
    CompleteTask: check_complete,
    DelegateTask: check_delegate,
    SendMessage: check_message,
    DoNothing: lambda w, a: None,
}
APPLY = {
    ReplyEmail: apply_reply,
    ArchiveEmail: apply_archive,
    RescheduleMeeting: apply_reschedule,
    CancelMeeting: apply_cancel,
    CompleteTask: apply_complete,
    DelegateTask: apply_delegate,
    SendMessage: apply_message,
    DoNothing: lambda w, a: None,
}


def perform(w: World, action) -> tuple[str | None, ReplyReading | None]:
    """Check then apply one action. Returns (error, reply reading); on error nothing changed."""
    kind = type(action)
    error = CHECKS[kind](w, action)
    if error:
        return error, None
    result = APPLY[kind](w, action)
    return None, result if isinstance(result, ReplyReading) else None
