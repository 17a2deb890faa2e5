"""`heuristic_text`: a greedy chief of staff that reads only what an external agent reads.

It parses `sim.observation` (the briefing text plus the typed fields beside it: time, step,
error) and touches nothing else on the simulation: no world, no state, no answer key. A test runs it
against a proxy exposing only `observation`. What it cannot know, it guesses from the text:

- replies are composed from the visible subject and preview (apologise when the mail reports a
  problem, propose a time when it asks to talk, confirm when it asks for a decision or approval,
  name the subject), in the tone the CONTACTS section lists;
- free slots are computed from the CALENDAR section (today and tomorrow morning are listed) inside
  assumed working hours (08:00-18:00);
- delegation picks the first listed good fit with room ("takes work (n/m busy)");
- apologies go to people the previous step's changes show were hurt by a cancellation, a
  short-notice move, a missed meeting or an ill-fitting delegation.

Order of business: critical mail, double-bookings starting within 3 h, tasks due within 3 h, high
mail, remaining double-bookings, apologies, tasks due within 30 h, normal mail, archive low mail.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .menu import apology_text, delegation

RANK = {"low": 0, "normal": 1, "high": 2, "critical": 3}
WORK_START, WORK_END = 8, 18
SOON = timedelta(hours=3)
SHORT_NOTICE = timedelta(hours=2)

EMAIL_RE = re.compile(r'^- (\S+) \[(CRITICAL|HIGH|NORMAL|LOW)\](?: NEW)? from (.+?) \((\S+?);[^)]*\) - "(.*)" - received')
CAL_RE = re.compile(r'^- (\S+) (?:(Mon|Tue|Wed|Thu|Fri|Sat|Sun) )?(\d\d):(\d\d)-(\d\d):(\d\d) "(.*)" \[([^\]]*)\]')
TASK_RE = re.compile(r'^- (\S+) \[(\w+)\] "(.*)" - (OVERDUE, was due|due) \w{3} (\d\d):(\d\d) - (.*)$')
CONTACT_RE = re.compile(r"^- (\S+) (.+?), .*? - (.*)$")
LOAD_RE = re.compile(r"takes work \((\d+)/(\d+) busy\)")
DROP_RE = re.compile(r"\] (.+?): \w+ -> \w+ \((.*)\)$")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

PROBLEM = (
    "offline",
    "delay",
    "late",
    "still",
    "waiting",
    "problem",
    "issue",
    "down",
    "missed",
    "again",
    "disappoint",
    "concern",
    "urgent",
    "outage",
    "failed",
    "escalat",
)
TALK = ("call", "meet", "time", "when", "slot", "schedule", "catch up", "discuss", "talk", "available", "agenda", "review")
DECIDE = ("approv", "confirm", "sign", "decision", "decide", "need", "still good", "can you", "could you", "please", "?", "ok")
HURT = ("cancelled", "short notice", "missed", "outside their area", "shock")


@dataclass
class Mail:
    id: str
    priority: str
    sender_name: str
    sender: str
    subject: str
    preview: str = ""


@dataclass
class Item:
    id: str
    start: datetime
    end: datetime
    importance: str
    personal: bool
    fixed: bool
    clashes: list[str] = field(default_factory=list)


@dataclass
class TaskLine:
    id: str
    priority: str
    deadline: datetime
    overdue: bool
    status: str
    you: bool
    fits: list[str]
    after: list[str]


@dataclass
class Person:
    id: str
    name: str
    tone: str
    channel: str
    load: int = 0
    capacity: int = 0


@dataclass
class Briefing:
    now: datetime
    mail: list[Mail]
    calendar: list[Item]
    tasks: list[TaskLine]
    people: dict[str, Person]
    changes: list[str]


def _sections(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        head = line.split(" ", 1)[0]
        if head in ("SINCE", "INBOX", "CALENDAR", "ACTIVE", "TASKS", "CONTACTS", "STATUS:") and not line.startswith("-"):
            current = head
            out[current] = []
        elif current and line.strip():
            out[current].append(line)
    return out


def _day(now: datetime, weekday: str | None) -> datetime:
    if weekday is None:
        return now
    delta = (WEEKDAYS.index(weekday) - now.weekday()) % 7
    return now + timedelta(days=delta)


def parse(observation) -> Briefing:
    now = datetime.fromisoformat(observation.time)
    sec = _sections(observation.briefing)
    mail: list[Mail] = []
    for line in sec.get("INBOX", []):
        m = EMAIL_RE.match(line)
        if m:
            mail.append(Mail(m[1], m[2].lower(), m[3], m[4], m[5]))
        elif line.startswith("    ") and mail:
            mail[-1].preview = line.strip()
    calendar: list[Item] = []
    for line in sec.get("CALENDAR", []):
        m = CAL_RE.match(line)
        if not m:
            continue
        day = _day(now, m[2])
        start = day.replace(hour=int(m[3]), minute=int(m[4]), second=0, microsecond=0)
        end = day.replace(hour=int(m[5]), minute=int(m[6]), second=0, microsecond=0)
        if end <= start:
            end += timedelta(days=1)
        flags = [f.strip() for f in m[8].split(",")]
        if "CANCELLED" in flags:
            continue
        clashes = line.split("!! CONFLICTS WITH ", 1)[1].split(", ") if "!! CONFLICTS WITH" in line else []
        importance = next((f for f in flags if f in RANK), "normal")
        calendar.append(Item(m[1], start, end, importance, "PERSONAL" in flags, "fixed" in flags, [c.strip() for c in clashes]))
    tasks: list[TaskLine] = []
    for line in sec.get("TASKS", []):
        m = TASK_RE.match(line)
        if not m:
            continue
        overdue = m[4].startswith("OVERDUE")
        deadline = now.replace(hour=int(m[5]), minute=int(m[6]), second=0, microsecond=0)
        if not overdue and deadline <= now:
            deadline += timedelta(days=1)
        rest = m[7]
        status = rest.split(";", 1)[0].split(" ", 1)[0]
        fits = rest.split("good fits: ", 1)[1].split("; ")[0].split(", ") if "good fits: " in rest else []
        after = rest.split("after ", 1)[1].split("; ")[0].split(", ") if "; after " in rest else []
        tasks.append(TaskLine(m[1], m[2], deadline, overdue, status, "you personally" in rest, fits, after))
    people: dict[str, Person] = {}
    for line in sec.get("CONTACTS", []):
        m = CONTACT_RE.match(line)
        if not m:
            continue
        bits = m[3]
        tone = "formal" if "formal tone" in bits else "casual" if "casual tone" in bits else "neutral"
        channel = bits.split("prefers ", 1)[1].split(";", 1)[0] if "prefers " in bits else "email"
        load = LOAD_RE.search(bits)
        people[m[1]] = Person(m[1], m[2], tone, channel, int(load[1]) if load else 0, int(load[2]) if load else 0)
    return Briefing(now, mail, calendar, tasks, people, sec.get("SINCE", []))


# --- writing ------------------------------------------------------------------------------------
def _has(text: str, words) -> bool:
    return any(w in text for w in words)


def compose(b: Briefing, mail: Mail) -> str:
    """A reply built only from what the briefing shows of the email and its sender."""
    person = b.people.get(mail.sender)
    tone = person.tone if person else "neutral"
    first = mail.sender_name.split()[0]
    text = f"{mail.subject} {mail.preview}".lower()
    lines = [f"Dear {first}," if tone == "formal" else f"Hi {first},"]
    lines.append(f"Thank you for your note about {mail.subject.rstrip('?!. ')}.")
    if _has(text, PROBLEM):
        lines.append("I am sorry for the trouble this has caused; it has my full attention.")
    if _has(text, TALK):
        lines.append("Could we speak tomorrow at 10:30, or Thursday at 3pm if that suits you better?")
    if _has(text, DECIDE):
        lines.append("I confirm: approved from my side, and I will send the details over today.")
    lines.append("Kind regards," if tone == "formal" else "Thanks,")
    return "\n".join(lines)


# --- deciding -----------------------------------------------------------------------------------
def _free_slot(b: Briefing, item: Item) -> datetime | None:
    duration = item.end - item.start
    busy = [(i.start, i.end) for i in b.calendar if i.id != item.id]
    t = b.now.replace(second=0, microsecond=0) + SHORT_NOTICE
    t += timedelta(minutes=(-t.minute) % 20)
    limit = b.now + timedelta(days=1)
    while t < limit:
        day_end = t.replace(hour=WORK_END, minute=0)
        if t.hour >= WORK_START and t + duration <= day_end and all(not (s < t + duration and t < e) for s, e in busy):
            return t
        t += timedelta(minutes=20)
    return None


def _fix_conflict(b: Briefing, horizon: timedelta | None) -> dict[str, Any] | None:
    items = {i.id: i for i in b.calendar}
    clashing = [i for i in b.calendar if i.clashes]
    clashing.sort(key=lambda i: (i.start, i.id))
    for i in clashing:
        pair = [i] + [items[c] for c in i.clashes if c in items]
        first = min(p.start for p in pair)
        if horizon is not None and first - b.now > horizon:
            continue
        movable = [p for p in pair if not p.personal and not p.fixed and p.start > b.now]
        movable.sort(key=lambda p: (RANK[p.importance], -p.start.timestamp(), p.id))
        for p in movable:
            slot = _free_slot(b, p)
            if slot is not None:
                return {"action_type": "reschedule_meeting", "meeting_id": p.id, "new_start": slot.isoformat(timespec="minutes")}
        cancellable = [p for p in pair if not p.personal and p.start > b.now and p.importance != "critical"]
        if cancellable:
            lower = min(cancellable, key=lambda p: (RANK[p.importance], p.id))
            return {
                "action_type": "cancel_meeting",
                "meeting_id": lower.id,
                "reason": "A clash I cannot move around today; I will rebook.",
            }
    return None


def _task_action(b: Briefing, horizon: timedelta) -> dict[str, Any] | None:
    open_ids = {t.id for t in b.tasks}
    todo = [t for t in b.tasks if t.status in ("todo", "in_progress", "failed") and t.deadline <= b.now + horizon]
    todo = [t for t in todo if not any(d in open_ids for d in t.after)]
    todo.sort(key=lambda t: (t.deadline, -RANK.get(t.priority, 1), t.id))
    for t in todo:
        if not t.you and t.status == "todo":
            fits = [b.people[c] for c in t.fits if c in b.people and b.people[c].load < b.people[c].capacity]
            if fits:
                return delegation(t.id, fits[0].id)
        return {"action_type": "complete_task", "task_id": t.id}
    return None


def _apology(b: Briefing) -> dict[str, Any] | None:
    by_name = {p.name: p for p in b.people.values()}
    for line in b.changes:
        m = DROP_RE.search(line)
        if m and m[1] in by_name and _has(m[2], HURT):
            p = by_name[m[1]]
            body = apology_text(p.name, p.tone == "formal")
            return {"action_type": "send_message", "contact_id": p.id, "body": body, "channel": p.channel}
    return None


def _reply(b: Briefing, priorities: set[str]) -> dict[str, Any] | None:
    for m in b.mail:
        if m.priority in priorities:
            return {"action_type": "reply_email", "email_id": m.id, "body": compose(b, m)}
    return None


def decide(observation) -> dict[str, Any]:
    b = parse(observation)
    for step in (
        lambda: _reply(b, {"critical"}),
        lambda: _fix_conflict(b, SOON),
        lambda: _task_action(b, SOON),
        lambda: _reply(b, {"high"}),
        lambda: _fix_conflict(b, None),
        lambda: _apology(b),
        lambda: _task_action(b, timedelta(hours=30)),
        lambda: _reply(b, {"normal"}),
    ):
        act = step()
        if act:
            return act
    low = [m for m in b.mail if m.priority == "low"]
    if low:
        return {"action_type": "archive_email", "email_id": low[0].id}
    return {"action_type": "do_nothing"}


def heuristic_text(sim, rng: random.Random | None = None) -> dict[str, Any]:
    """Reads `sim.observation` only (see the module docstring)."""
    return decide(sim.observation)
