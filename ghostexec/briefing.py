"""The observation an agent reads: a plain-text briefing rendered from the live world.

Deterministic (same state -> same text), bounded (each section lists at most a fixed number of
lines, then names the remaining ids so nothing an agent needs is hidden), and grounded: every id
an action needs appears in the text.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from itertools import compress, count, repeat
from operator import attrgetter, is_, itemgetter
from typing import Any, NamedTuple

from .pressure import task_deadlines
from .state import World
from .world import PRIORITY_RANK, MeetingStatus, Outcome, TaskStatus

MAX_EMAILS = 18
MAX_MEETINGS = 20
MAX_CONTACTS = 16
MAX_TASKS = 14
MAX_CHANGES = 14
PREVIEW = 90
MAX_CHARS = 12_000
TASK_HORIZON = timedelta(hours=30)


_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
_HALF_DAY = timedelta(hours=12)
_END = attrgetter("end")
_ID = attrgetter("id")
_DEADLINE = attrgetter("deadline")
# everything a contact's line shows that can change, bar its delegated load
_CONTACT_SHOWN = attrgetter("id", "mood", "preferred_channel", "tone_preference", "email_unreachable_reason")
_MISSED = Outcome.missed
_FOREVER = datetime.max


def _age(now: datetime, then: datetime) -> str:
    minutes = (now - then) // _MINUTE
    return f"{minutes} min" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}"


def _more(ids: list[str]) -> str:
    return f"  ... and {len(ids)} more: {', '.join(ids)}"


def _lines(cache: dict, keys: list[tuple], build) -> list[str]:
    """The cached line of each item, by its key; `build(j)` makes item j's when its key is new. Entity
    lines are rebuilt only when what they display changes. The cache is shared by the episodes of
    one scenario, so a key must hold every field its line shows that can differ between episodes
    or steps (only the scenario's fixed text may be left out)."""
    lines = list(map(cache.get, keys))
    if None in lines:
        for j in _missing(lines):
            lines[j] = cache[keys[j]] = build(j)
    return lines


def _cached(cache: dict, key: tuple, build: Any, *args: Any) -> Any:
    """`cache[key]`, built by `build(*args)` the first time (the scenario-shared line cache)."""
    line = cache.get(key)
    if line is None:
        line = cache[key] = build(*args)
    return line


def _missing(lines: list) -> list[int]:
    """The positions of the lines not found in a cache (None)."""
    return list(compress(count(), map(is_, lines, repeat(None))))


def _email_line(e, c) -> str:
    tags = f"{c.relationship}, VIP" if c.vip else f"{c.relationship}"
    body = " ".join(e.body.split())
    preview = body[:PREVIEW] + ("..." if len(body) > PREVIEW else "")
    return (
        f'- {e.id} [{e.priority.upper()}] from {c.name} ({c.id}; {tags}) - "{e.subject}" - received {e.received_at:%a %H:%M}\n'
        f"    {preview}"
    )


def _task_line(t, w: World, overdue: bool) -> str:
    status = f"{t.status}"
    if t.status is TaskStatus.delegated:
        status += f" to {w.contacts[t.assignee].name} ({t.assignee})"
    elif t.status is TaskStatus.in_progress:
        status += f" {t.progress_minutes}/{t.effort_minutes} min"
    extra = []
    if t.dependencies:
        extra.append("after " + ", ".join(t.dependencies))
    if t.requires_executive:
        extra.append("you personally")
    elif t.delegable_to:
        extra.append("good fits: " + ", ".join(t.delegable_to))
    tail = f"; {'; '.join(extra)}" if extra else ""
    return (
        f'- {t.id} [{t.priority}] "{t.title}" - {"OVERDUE, was due" if overdue else "due"} {t.deadline:%a %H:%M} - {status}; '
        f"effort {t.effort_minutes} min{tail}"
    )


def _contact_line(c, load: int) -> str:
    bits = [
        f"{c.relationship}{', VIP' if c.vip else ''}",
        f"mood {c.mood}",
        f"prefers {c.preferred_channel}",
        f"{c.tone_preference} tone",
    ]
    if c.capacity:
        bits.append(f"takes work ({load}/{c.capacity} busy)")
    if c.email_unreachable_reason:
        bits.append(f"EMAIL NOT READ: {c.email_unreachable_reason}")
    return f"- {c.id} {c.name}, {c.role} ({c.organisation}) - {'; '.join(bits)}"


def _calendar_line(i, w: World, personal: bool, clashes: tuple) -> str:
    contacts = w.contacts
    if personal:
        who = ", ".join(contacts[c].name for c in i.with_contacts)
        flags = ["PERSONAL", f"{i.importance}"]
    else:
        who = ", ".join(contacts[c].name for c in i.attendees[:4]) + (f" +{len(i.attendees) - 4}" if len(i.attendees) > 4 else "")
        flags = [f"{i.importance}"] + ([] if i.movable else ["fixed"])
        if i.status is MeetingStatus.cancelled:
            flags.append("CANCELLED")
        elif i.status is MeetingStatus.moved:
            flags.append("moved")
    if i.outcome is Outcome.missed:
        flags.append("MISSED")
    day = "" if i.start.date() == w.clock.date() else f"{i.start:%a} "
    line = f'- {i.id} {day}{i.start:%H:%M}-{i.end:%H:%M} "{i.title}" [{", ".join(flags)}]' + (f" with {who}" if who else "")
    if clashes:
        line += f"  !! CONFLICTS WITH {', '.join(clashes)}"
    return line


def _inbox(w: World) -> str:
    contacts = w.contacts
    open_mail = [e for e in w.visible_emails() if not e.archived and not e.replied]
    open_mail.sort(key=lambda e: (-PRIORITY_RANK[e.priority], e.received_at, e.id))
    shown = open_mail[:MAX_EMAILS]
    keys = [("e", e.id, e.priority, e.received_at) for e in shown]
    lines = _lines(w.line_cache, keys, lambda j: _email_line(shown[j], contacts[shown[j].sender]))
    if w.step and w.arrived:  # mail that arrived this step (none counts as new at the start)
        arrived = set(w.arrived)
        for j, e in enumerate(shown):
            if e.id in arrived:
                lines[j] = lines[j].replace("]", "] NEW", 1)
    text = f"INBOX - {len(open_mail)} open (unanswered, not archived)"
    if lines:
        text += "\n" + "\n".join(lines)
    if len(open_mail) > MAX_EMAILS:
        text += "\n" + _more([e.id for e in open_mail[MAX_EMAILS:]])
    return text


def _calendar_order(w: World) -> list:
    """Every meeting and personal commitment by start time, cached per calendar version (starts
    and ids only change with it)."""
    version = w.versions["calendar"]
    hit = w.section_cache.get("calendar_order")
    if hit is not None and hit[0] == version:
        return hit[1]
    items = [*w.meetings.values(), *w.commitments.values()]
    items.sort(key=lambda i: (i.start, i.id))
    w.section_cache["calendar_order"] = (version, items)
    return items


def _clashes(w: World) -> dict[str, tuple[str, ...]]:
    """Each double-booked item's clashing ids, sorted; cached per conflict list."""
    conflicts = w.conflicts
    hit = w.section_cache.get("clashes")
    if hit is not None and hit[0] is conflicts:
        return hit[1]
    clash_of: dict[str, list[str]] = {}
    for cf in conflicts:
        if cf.kind != "critical_unanswered":
            a, b = cf.items
            clash_of.setdefault(a, []).append(b)
            clash_of.setdefault(b, []).append(a)
    out = {item: tuple(sorted(ids)) for item, ids in clash_of.items()}
    w.section_cache["clashes"] = (conflicts, out)
    return out


class _CalendarView(NamedTuple):
    """The calendar section's candidates for one calendar version, day and set of clashes, and
    their lines as first shown: until one of those changes only the clock moves, and it only drops
    items as they end (an ended item never comes back)."""

    key: tuple  # (calendar version, today, horizon)
    clash_of: dict[str, tuple[str, ...]]
    items: list  # what had not ended when the view was made: meetings up to the horizon,
    # personal commitments however far off, by start
    ends: list[datetime]  # their ends
    lines: dict[str, str]  # each item's line by id, filled when first shown


def _calendar(w: World) -> tuple[str, datetime]:
    now = w.clock
    clash_of = _clashes(w)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    midnight = today + _DAY
    until = now.replace(hour=23, minute=59) + _HALF_DAY  # tomorrow noon
    key = (w.versions["calendar"], today, until)
    view = w.section_cache.get("calendar_view")
    if view is None or view.key != key or view.clash_of != clash_of:
        commitments = w.commitments
        items = [i for i in _calendar_order(w) if i.end > now and (i.start <= until or i.id in commitments)]
        view = w.section_cache["calendar_view"] = _CalendarView(key, clash_of, items, list(map(_END, items)), {})
    items = list(compress(view.items, map(now.__lt__, view.ends)))  # not ended yet
    # the next item to drop off, or midnight (the horizon and the weekday prefixes follow the date)
    valid_until = min(min(map(_END, items), default=midnight), midnight)
    shown = items[:MAX_MEETINGS]
    lines = list(map(view.lines.get, map(_ID, shown)))
    if None in lines:
        cache, commitments = w.line_cache, w.commitments
        for j in _missing(lines):
            i = shown[j]
            personal = i.id in commitments
            clashes = clash_of.get(i.id, ())
            # (an item on another day than today shows its weekday)
            line_key = ("m", i.id, i.start, i.end, None if personal else i.status, i.outcome is _MISSED, clashes, today)
            lines[j] = view.lines[i.id] = _cached(cache, line_key, _calendar_line, i, w, personal, clashes)
    text = f"CALENDAR - until tomorrow noon, ended items dropped ({len(clash_of)} items double-booked)"
    if lines:
        text += "\n" + "\n".join(lines)
    if len(items) > MAX_MEETINGS:
        text += "\n" + _more([i.id for i in items[MAX_MEETINGS:]])
    return text, valid_until


def _conflict_template(w: World) -> tuple[list, str, tuple[datetime, ...]]:
    """The conflict list, the section as a `str.format` template with a `{}` where each
    unanswered email's waiting time goes (braces in the conflicts' own text escaped), and when each
    of those emails started waiting; when nothing waits, the finished text and no times. Cached
    per conflict list: `pressure.refresh` replaces the list only when the conflicts change, so
    while they stand only the ages are redone as the clock moves."""
    conflicts = w.conflicts
    lines = [f"ACTIVE CONFLICTS ({len(conflicts)})"]
    if not conflicts:
        lines.append("- none")
    waiting_since = []
    start = w.scenario.start
    for cf in conflicts:
        detail = cf.detail.replace("{", "{{").replace("}", "}}")
        if cf.kind == "critical_unanswered":
            waiting_since.append(max(w.emails[cf.items[0]].received_at, start))
            lines.append(f"- {detail}, waiting {{}}")
        else:
            lines.append(f"- {detail}")
    template, since = "\n".join(lines), tuple(waiting_since)
    if not since:
        template = template.format()
    hit = w.section_cache["conflict_template"] = (conflicts, template, since)
    return hit


_NO_TEMPLATE = (None, "", ())


def _conflicts(w: World) -> str:
    conflicts, template, since = w.section_cache.get("conflict_template", _NO_TEMPLATE)
    if conflicts is not w.conflicts:
        _, template, since = _conflict_template(w)
    if not since:
        return template
    # The ages are shared per scenario: they depend only on the clock and the waiting times.
    now = w.clock
    key = ("ages", now, since)
    ages = w.line_cache.get(key)
    if ages is None:
        ages = w.line_cache[key] = tuple([_age(now, t) for t in since])
    return template.format(*ages)


class _TaskFacts(NamedTuple):
    """What the tasks and contacts sections need that changes only with the tasks version
    (deadlines, priorities, statuses and assignees are changed through ghostexec.ops)."""

    by_deadline: list  # open tasks by (deadline, priority, id)
    deadlines: list[datetime]  # their deadlines, in that order (pressure.task_deadlines' list, shared)
    moments: list[datetime]  # when the section changes on its own: a deadline passes or nears 30 h
    open_ids: list[str]  # open tasks' ids in the scenario's order (the "later:" list)
    open_deadlines: list[datetime]  # and their deadlines
    n_done: int
    loads: list[int]  # delegated tasks held by each contact the contacts section shows
    # Each open task's line (by_deadline order) as due and as overdue, filled when first shown:
    # within one version only the clock changes the section, so a time-driven rebuild reuses them.
    due_lines: list
    overdue_lines: list


def _task_facts(w: World) -> _TaskFacts:
    version = w.versions["tasks"]
    hit = w.section_cache.get("task_facts")
    if hit is not None and hit[0] == version:
        return hit[1]
    tasks = w.tasks.values()
    open_tasks = [t for t in tasks if t.status is not TaskStatus.done]
    by_deadline = sorted(open_tasks, key=lambda t: (t.deadline, -PRIORITY_RANK[t.priority], t.id))
    deadlines = task_deadlines(w).deadlines  # the same sorted deadlines, cached per tasks version
    moments = sorted({*deadlines, *[d - TASK_HORIZON for d in deadlines]})
    delegated = [t.assignee for t in tasks if t.status is TaskStatus.delegated]
    loads = list(map(delegated.count, map(_ID, w.contact_order[:MAX_CONTACTS])))
    facts = _TaskFacts(
        by_deadline,
        deadlines,
        moments,
        list(map(_ID, open_tasks)),
        list(map(_DEADLINE, open_tasks)),
        len(tasks) - len(open_tasks),
        loads,
        [None] * len(by_deadline),
        [None] * len(by_deadline),
    )
    w.section_cache["task_facts"] = (version, facts)
    return facts


def _tasks(w: World) -> tuple[str, datetime]:
    now = w.clock
    facts = _task_facts(w)
    horizon = now + TASK_HORIZON
    deadlines = facts.deadlines
    # open tasks are sorted by deadline, so the due ones and, among them, the overdue ones lead
    n_due = bisect_right(deadlines, horizon)
    n_shown = min(n_due, MAX_TASKS)
    n_overdue = min(bisect_right(deadlines, now), n_shown)
    lines = facts.overdue_lines[:n_overdue] + facts.due_lines[n_overdue:n_shown]
    if None in lines:
        cache = w.line_cache
        for j in _missing(lines):
            t = facts.by_deadline[j]
            overdue = j < n_overdue
            key = ("t", t.id, t.status, t.progress_minutes, t.deadline, t.assignee, overdue)
            line = _cached(cache, key, _task_line, t, w, overdue)
            lines[j] = (facts.overdue_lines if overdue else facts.due_lines)[j] = line
    moments = facts.moments
    upcoming = bisect_right(moments, now)
    valid_until = moments[upcoming] if upcoming < len(moments) else _FOREVER
    text = f"TASKS - {n_due} due within 30h or overdue, {facts.n_done} done"
    if lines:
        text += "\n" + "\n".join(lines)
    if n_due > MAX_TASKS:
        text += "\n" + _more([t.id for t in facts.by_deadline[MAX_TASKS:n_due]])
    later = list(compress(facts.open_ids, map(horizon.__lt__, facts.open_deadlines)))  # deadline > horizon
    if later:
        text += f"\n- later: {', '.join(later)}"
    return text, valid_until


def _contacts(w: World) -> str:
    loads = _task_facts(w).loads
    people = w.contact_order
    shown = people[:MAX_CONTACTS]
    keys = list(zip(repeat("c"), map(_CONTACT_SHOWN, shown), loads))
    lines = _lines(w.line_cache, keys, lambda j: _contact_line(shown[j], loads[j]))
    text = "CONTACTS\n" + "\n".join(lines)
    if len(people) > MAX_CONTACTS:
        text += "\n" + _more([c.id for c in people[MAX_CONTACTS:]])
    return text


_VERSIONS = itemgetter("mail", "calendar", "tasks", "contacts")
_NEVER_BUILT = ((None,) * 4, None, ("",) * 4, datetime.min, datetime.min, datetime.min)


def _sections(w: World) -> tuple[str, str, str, str]:
    """The inbox, calendar, tasks and contacts sections. Each is rebuilt only when its inputs
    change: the versions of what it shows (bumped by ghostexec.ops on every change) and, for the
    calendar and tasks, the next moment their text would change on its own (a meeting ending, a
    deadline nearing, midnight). Most steps change none of them, so one comparison of all the
    versions and the earlier of the two moments covers the four. (render joins them with the rest
    in one go: a world keeps only these four texts, not joined copies as well.)"""
    versions = _VERSIONS(w.versions)
    # Mail that arrived this step is tagged NEW. (The list itself can stand in the key: a step
    # starts a new one, and an email added to it bumps the mail version too.)
    arrived = w.arrived if w.step else []
    now = w.clock
    old_versions, old_arrived, texts, calendar_until, tasks_until, valid_until = w.section_cache.get("sections", _NEVER_BUILT)
    if versions == old_versions and arrived == old_arrived and now < valid_until:
        return texts
    mail, calendar, tasks, contacts = versions
    old_mail, old_calendar, old_tasks, old_contacts = old_versions
    inbox_text, calendar_text, tasks_text, contacts_text = texts
    if mail != old_mail or arrived != old_arrived:
        inbox_text = _inbox(w)
    if calendar != old_calendar or now >= calendar_until:
        calendar_text, calendar_until = _calendar(w)
    if tasks != old_tasks or now >= tasks_until:
        tasks_text, tasks_until = _tasks(w)
    if contacts != old_contacts or tasks != old_tasks:  # each contact's delegated tasks are shown
        contacts_text = _contacts(w)
    texts = (inbox_text, calendar_text, tasks_text, contacts_text)
    valid_until = min(calendar_until, tasks_until)
    w.section_cache["sections"] = (versions, arrived, texts, calendar_until, tasks_until, valid_until)
    return texts


def _frame(w: World) -> tuple[str, str]:
    """The opening lines and the closing status line."""
    s = w.scenario
    now = w.clock
    ex = w.executive
    head = (
        f"=== GHOSTEXEC BRIEFING - {now:%a %d %b %Y %H:%M} - {s.title} ===\n"
        f"You are chief of staff to {ex.name}, {ex.title} at {ex.organisation}. "
        f"Step {w.step} of {s.step_budget} ({w.steps_remaining} remaining); each step takes {s.minutes_per_step} min.\n"
        f"Executive stress: {ex.stress}/100."
    )
    status = f"STATUS: stress {ex.stress}/100 | {w.steps_remaining} steps remaining" + (" | EPISODE OVER" if w.done else "")
    return head, status


def _since_last_step(w: World, last_action: str | None) -> str:
    """The agent's last action, its result and the step's changes (at most MAX_CHANGES)."""
    if last_action is None and w.step == 0:
        return "- Episode start. Nothing has happened yet."
    result = f"INVALID - {w.last_error}" if w.last_error else "OK"
    text = f"- Your action: {last_action or 'none'}\n- Result: {result}"
    changes = w.last_step_lines
    if changes:
        text += "\n- " + "\n- ".join(changes[:MAX_CHANGES])
        if len(changes) > MAX_CHANGES:
            text += f"\n- ... {len(changes) - MAX_CHANGES} more changes (full list in the step's info.changes)"
    return text


def render(w: World, *, last_action: str | None = None) -> str:
    """The whole briefing, cut at MAX_CHARS; `last_action` describes the step just taken."""
    now = w.clock
    # The opening and closing lines depend only on the clock, the step and stress (the rest is the
    # scenario's fixed text), so they are shared by every episode of the scenario like the entity lines.
    cache = w.line_cache
    key = ("h", now, w.step, w.executive.stress)
    frame = cache.get(key)
    if frame is None:
        frame = cache[key] = _frame(w)
    head, status = frame
    inbox, calendar, tasks, contacts = _sections(w)
    text = (
        f"{head}\n\nSINCE LAST STEP\n{_since_last_step(w, last_action)}\n\n{inbox}\n\n{calendar}\n\n"
        f"{_conflicts(w)}\n\n{tasks}\n\n{contacts}\n\n{status}"
    )
    if len(text) > MAX_CHARS:
        text = text[: MAX_CHARS - 40] + "\n... [briefing truncated at limit]"
    return text
