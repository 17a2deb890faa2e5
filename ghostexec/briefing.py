"""The observation an agent reads: a plain-text briefing rendered from the live world.

Deterministic (same state → same text), bounded (each section lists at most a fixed number of
lines, then names the remaining ids so nothing an agent needs is hidden), and grounded: every id
an action needs appears in the text.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .pressure import overdue_tasks
from .state import World
from .world import PRIORITY_RANK, MeetingStatus, Outcome, Relationship, TaskStatus

MAX_EMAILS = 18
MAX_MEETINGS = 20
MAX_CONTACTS = 16
MAX_TASKS = 14
MAX_CHANGES = 14
PREVIEW = 90
MAX_CHARS = 12_000
TASK_HORIZON = timedelta(hours=30)


def _ago(now: datetime, then: datetime) -> str:
    minutes = int((now - then).total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min ago"
    return f"{minutes // 60}h{minutes % 60:02d} ago"


def _until(now: datetime, then: datetime) -> str:
    minutes = int((then - now).total_seconds() // 60)
    if minutes < 0:
        m = -minutes
        return f"overdue by {m // 60}h{m % 60:02d}" if m >= 60 else f"overdue by {m} min"
    return f"in {minutes // 60}h{minutes % 60:02d}" if minutes >= 60 else f"in {minutes} min"


def _more(ids: list[str]) -> str:
    return f"  … and {len(ids)} more: {', '.join(ids)}"


def render(w: World, *, last_action: str | None = None) -> str:
    s = w.scenario
    now = w.clock
    ex = w.executive
    contacts = w.contacts
    out: list[str] = []
    add = out.append
    add(f"=== GHOSTEXEC BRIEFING — {now:%a %d %b %Y %H:%M} — {s.title} ===")
    add(
        f"You are chief of staff to {ex.name}, {ex.title} at {ex.organisation}. "
        f"Step {w.step} of {s.step_budget} ({w.steps_remaining} remaining); each step takes {s.minutes_per_step} min."
    )
    add(f"Executive stress: {ex.stress}/100.")

    # --- since last step
    add("")
    add("SINCE LAST STEP")
    if last_action is None and w.step == 0:
        add("- Episode start. Nothing has happened yet.")
    else:
        add(f"- Your action: {last_action or 'none'}")
        if w.last_error:
            add(f"- Result: INVALID — {w.last_error}")
        else:
            add("- Result: OK")
        changes = w.last_step_changes
        shown = [c for c in changes if not (c.actor == "agent" and c.kind == "email" and c.text.startswith("replied"))]
        for c in shown[:MAX_CHANGES]:
            add(f"- {c.render()}")
        if len(shown) > MAX_CHANGES:
            add(f"- … {len(shown) - MAX_CHANGES} more changes")

    # --- inbox
    open_mail = [e for e in w.visible_emails() if not e.archived and not e.replied]
    open_mail.sort(key=lambda e: (-PRIORITY_RANK[e.priority], e.received_at, e.id))
    add("")
    add(f"INBOX — {len(open_mail)} open (unanswered, not archived)")
    for e in open_mail[:MAX_EMAILS]:
        c = contacts[e.sender]
        tags = [c.relationship.value] + (["VIP"] if c.vip else [])
        new = " NEW" if w.step > 0 and e.received_at > w.prev_clock else ""
        preview = " ".join(e.body.split())[:PREVIEW]
        add(
            f"- {e.id} [{e.priority.value.upper()}]{new} from {c.name} ({c.id}; {', '.join(tags)}) — \"{e.subject}\" — "
            f"{_ago(now, e.received_at)}"
        )
        add(f"    {preview}{'…' if len(e.body) > PREVIEW else ''}")
    if len(open_mail) > MAX_EMAILS:
        add(_more([e.id for e in open_mail[MAX_EMAILS:]]))

    # --- calendar
    conflict_of: dict[str, list[str]] = {}
    for cf in w.conflicts:
        if cf.kind != "critical_unanswered":
            a, b = cf.items
            conflict_of.setdefault(a, []).append(b)
            conflict_of.setdefault(b, []).append(a)
    day_end = now.replace(hour=23, minute=59)
    items = [m for m in w.meetings.values() if m.end > now - timedelta(hours=1) and m.start <= day_end + timedelta(hours=12)]
    items += [c for c in w.commitments.values() if c.end > now - timedelta(hours=1)]
    items.sort(key=lambda i: (i.start, i.id))
    add("")
    add(f"CALENDAR — from {now:%a %H:%M} ({sum(1 for k, v in conflict_of.items() if v)} items double-booked)")
    for i in items[:MAX_MEETINGS]:
        personal = i.id in w.commitments
        if personal:
            who = ", ".join(contacts[c].name for c in i.with_contacts)
            flags = ["PERSONAL", i.importance.value]
        else:
            who = ", ".join(contacts[c].name for c in i.attendees[:4]) + (f" +{len(i.attendees) - 4}" if len(i.attendees) > 4 else "")
            flags = [i.importance.value] + ([] if i.movable else ["fixed"])
            if i.status is MeetingStatus.cancelled:
                flags.append("CANCELLED")
            elif i.status is MeetingStatus.moved:
                flags.append("moved")
        if i.outcome is Outcome.missed:
            flags.append("MISSED")
        elif i.start <= now < i.end and i.outcome is not None:
            flags.append("in progress")
        elif i.end <= now:
            flags.append("over")
        day = "" if i.start.date() == now.date() else f"{i.start:%a} "
        line = f"- {i.id} {day}{i.start:%H:%M}–{i.end:%H:%M} \"{i.title}\" [{', '.join(flags)}]" + (f" with {who}" if who else "")
        if conflict_of.get(i.id):
            line += f"  ⚠ CONFLICTS WITH {', '.join(sorted(conflict_of[i.id]))}"
        add(line)
    if len(items) > MAX_MEETINGS:
        add(_more([i.id for i in items[MAX_MEETINGS:]]))

    # --- conflicts
    add("")
    add(f"ACTIVE CONFLICTS ({len(w.conflicts)})")
    if not w.conflicts:
        add("- none")
    for cf in w.conflicts:
        add(f"- {cf.detail}")

    # --- tasks
    horizon = now + TASK_HORIZON
    overdue = {t.id for t in overdue_tasks(w)}
    tasks = [t for t in w.tasks.values() if t.status is not TaskStatus.done and (t.deadline <= horizon or t.id in overdue)]
    tasks.sort(key=lambda t: (t.deadline, -PRIORITY_RANK[t.priority], t.id))
    done = [t for t in w.tasks.values() if t.status is TaskStatus.done]
    later = [t.id for t in w.tasks.values() if t.status is not TaskStatus.done and t not in tasks]
    add("")
    add(f"TASKS — {len(tasks)} due within 30h or overdue, {len(done)} done")
    for t in tasks[:MAX_TASKS]:
        status = t.status.value + (f" to {contacts[t.assignee].name} ({t.assignee})" if t.status is TaskStatus.delegated else "")
        if t.status is TaskStatus.in_progress:
            status += f" {t.progress_minutes}/{t.effort_minutes} min"
        tag = "OVERDUE" if t.id in overdue else "due"
        extra = []
        if t.dependencies:
            extra.append("after " + ", ".join(t.dependencies))
        if t.requires_executive:
            extra.append("you personally")
        elif t.delegable_to:
            extra.append("good fits: " + ", ".join(t.delegable_to))
        add(
            f"- {t.id} [{t.priority.value}] \"{t.title}\" — {tag} {t.deadline:%a %H:%M} ({_until(now, t.deadline)}) — {status}; "
            f"effort {t.effort_minutes} min" + (f"; {'; '.join(extra)}" if extra else "")
        )
    if len(tasks) > MAX_TASKS:
        add(_more([t.id for t in tasks[MAX_TASKS:]]))
    if later:
        add(f"- later: {', '.join(later)}")

    # --- contacts
    people = sorted(contacts.values(), key=lambda c: (not c.vip, c.relationship is not Relationship.board, c.id))
    add("")
    add("CONTACTS")
    for c in people[:MAX_CONTACTS]:
        bits = [f"{c.relationship.value}{', VIP' if c.vip else ''}", f"mood {c.mood.value}", f"prefers {c.preferred_channel.value}", f"{c.tone_preference.value} tone"]
        if c.capacity:
            load = sum(1 for t in w.tasks.values() if t.status is TaskStatus.delegated and t.assignee == c.id)
            bits.append(f"takes work ({load}/{c.capacity} busy)")
        if c.email_unreachable_reason:
            bits.append(f"EMAIL NOT READ: {c.email_unreachable_reason}")
        add(f"- {c.id} {c.name}, {c.role} ({c.organisation}) — {'; '.join(bits)}")
    if len(people) > MAX_CONTACTS:
        add(_more([c.id for c in people[MAX_CONTACTS:]]))

    add("")
    add(f"STATUS: stress {ex.stress}/100 · {w.steps_remaining} steps remaining" + (" · EPISODE OVER" if w.done else ""))
    text = "\n".join(out)
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 40] + "\n… [briefing truncated at limit]"
    return text
