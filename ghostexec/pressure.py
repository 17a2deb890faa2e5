"""What is wrong right now: active conflicts, stress, and whether anything is urgent.

All three are pure functions of the live world, recomputed after every step, so they go down
the moment the agent relieves the pressure (unlike a stress level that only ever ratchets up).
"""

from __future__ import annotations

import itertools
from bisect import bisect_left
from datetime import datetime, timedelta
from typing import NamedTuple

from .state import World
from .world import PRIORITY_RANK, Conflict, MeetingStatus, Outcome, Priority, TaskStatus

OVERLAP_WEIGHT = 0.6
OVERLAP_CRITICAL_BONUS = 0.4
PERSONAL_CLASH_WEIGHT = 1.5
CRITICAL_MAIL_WEIGHT = 1.0
CRITICAL_MAIL_VIP_BONUS = 0.5
URGENT_HORIZON = timedelta(minutes=120)
B2B_HORIZON = timedelta(hours=4)


def calendar_items(w: World) -> list:
    """Work meetings and personal commitments that still hold time: not cancelled, not missed, not
    over (an attended meeting in progress still holds its slot)."""
    now = w.clock
    missed = Outcome.missed
    items = [
        m for m in w.meetings.values() if m.status is not MeetingStatus.cancelled and m.outcome is not missed and m.end > now
    ]
    items.extend(c for c in w.commitments.values() if c.outcome is not missed and c.end > now)
    items.sort(key=lambda x: (x.start, x.id))
    return items


def overlapping_pairs(items: list) -> list[tuple]:
    """Pairs whose half-open intervals overlap (back-to-back is fine), by a sweep over start time."""
    pairs = []
    for i, a in enumerate(items):
        for b in items[i + 1 :]:
            if b.start >= a.end:
                break
            pairs.append((a, b))
    return pairs


def _overlap(w: World, a, b) -> Conflict:
    commitments = w.commitments
    lo, hi = (a, b) if a.id < b.id else (b, a)
    start, end = max(a.start, b.start), min(a.end, b.end)
    span = f"{start:%H:%M}–{end:%H:%M}"
    if a.id in commitments or b.id in commitments:
        personal, work = (a, b) if a.id in commitments else (b, a)
        return Conflict.model_construct(
            id=f"clash:{lo.id}+{hi.id}",
            kind="personal_clash",
            items=(lo.id, hi.id),
            weight=PERSONAL_CLASH_WEIGHT,
            detail=f'personal "{personal.title}" ({personal.id}) clashes with work "{work.title}" ({work.id}) {span}',
        )
    critical = a.importance is Priority.critical or b.importance is Priority.critical
    return Conflict.model_construct(
        id=f"overlap:{lo.id}+{hi.id}",
        kind="overlap",
        items=(lo.id, hi.id),
        weight=OVERLAP_WEIGHT + (OVERLAP_CRITICAL_BONUS if critical else 0.0),
        detail=f'"{lo.title}" ({lo.id}) overlaps "{hi.title}" ({hi.id}) {span}',
    )


def _unanswered(w: World, e) -> Conflict:
    sender = w.contacts.get(e.sender)
    vip = sender is not None and sender.vip
    return Conflict.model_construct(
        id=f"mail:{e.id}",
        kind="critical_unanswered",
        items=(e.id,),
        weight=CRITICAL_MAIL_WEIGHT + (CRITICAL_MAIL_VIP_BONUS if vip else 0.0),
        detail=f"critical email {e.id} from {sender.name if sender else e.sender} unanswered",
    )


def build_conflicts(w: World, items: list | None = None) -> list[Conflict]:
    """Conflict objects are cached by everything they describe, so an unchanged conflict is reused."""
    out: list[Conflict] = []
    cache = w.conflict_cache
    commitments = w.commitments
    for a, b in overlapping_pairs(calendar_items(w) if items is None else items):
        if a.id in commitments and b.id in commitments:
            continue
        # Shared by every episode of the scenario: the key holds all that the conflict shows that
        # can differ between episodes (titles and ids are the scenario's fixed text).
        key = (a.id, a.start, a.end, a.importance, b.id, b.start, b.end, b.importance)
        c = cache.get(key)
        if c is None:
            c = cache[key] = _overlap(w, a, b)
        out.append(c)
    now = w.clock
    for e in w.emails.values():
        if e.priority is Priority.critical and not e.replied and e.received_at is not None and e.received_at <= now:
            key = (e.id,)
            c = cache.get(key)
            if c is None:
                c = cache[key] = _unanswered(w, e)
            out.append(c)
    out.sort(key=lambda c: c.id)
    return out


def overdue_tasks(w: World) -> list:
    """Open tasks past their deadline."""
    now = w.clock
    return [t for t in w.tasks.values() if t.status is not TaskStatus.done and t.deadline <= now]


def _join_starts(items: list) -> list[datetime]:
    """Start of every item that begins exactly when its predecessor (by start) ends, sorted."""
    return [b.start for a, b in itertools.pairwise(items) if b.start == a.end]


def back_to_back_runs(w: World, items: list | None = None) -> int:
    """Chains of meetings with no gap in the next four hours (each join counts once).

    Items are sorted by start, so the ones starting before the horizon are a prefix and a join
    counts iff its second item starts before the horizon: a bisect over the joins, which are
    worked out once per calendar list (cached by the list's identity: `refresh` builds a new
    list whenever the calendar changes)."""
    horizon = w.clock + B2B_HORIZON
    if items is None:
        items = calendar_items(w)
    hit = w.section_cache.get("joins")
    if hit is None or hit[0] is not items:
        hit = w.section_cache["joins"] = (items, _join_starts(items))
    return bisect_left(hit[1], horizon)


STRESS_PER = {"overlap": 5, "personal_clash": 8, "critical_unanswered": 4}


def _conflict_stress(w: World, conflicts: list[Conflict]) -> int:
    """5 per overlap, 8 per personal clash, 4 per unanswered critical email (cached per list)."""
    hit = w.section_cache.get("conflict_stress")
    if hit is not None and hit[0] is conflicts:
        return hit[1]
    total = sum(STRESS_PER.get(c.kind, 0) for c in conflicts)
    w.section_cache["conflict_stress"] = (conflicts, total)
    return total


def compute_stress(w: World, conflicts: list[Conflict], items: list | None = None) -> int:
    base = w.executive.base_stress
    from .reward import overdue_count  # reward imports this module; the count shares its cache

    overdue = overdue_count(w)
    missed = w.missed_count
    level = base + _conflict_stress(w, conflicts) + 4 * overdue + 2 * back_to_back_runs(w, items) + 3 * missed
    return max(0, min(100, level))


class Urgency(NamedTuple):
    """One reason why waiting now would be neglect, and the ids whose handling answers it."""

    reason: str
    emails: tuple[str, ...] = ()
    meetings: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ()


def _conflict_urgency(w: World, conflicts: list[Conflict]) -> list[tuple[datetime | None, Urgency]]:
    """Per conflict: (first start, urgency) — None for unanswered mail, urgent at any time. Cached
    per conflict list (a new list is built whenever the calendar or mail changes)."""
    hit = w.section_cache.get("urgency")
    if hit is not None and hit[0] is conflicts:
        return hit[1]
    out: list[tuple[datetime | None, Urgency]] = []
    meetings = w.meetings
    for c in conflicts:
        if c.kind == "critical_unanswered":
            out.append((None, Urgency(f"{c.items[0]} (critical mail) is unanswered", emails=(c.items[0],))))
        else:
            first = min((meetings.get(i) or w.commitments[i]).start for i in c.items)
            movable = tuple(i for i in c.items if i in meetings)
            out.append((first, Urgency(f"{c.id} starts by {first:%H:%M}", meetings=movable)))
    w.section_cache["urgency"] = (conflicts, out)
    return out


_HIGH = PRIORITY_RANK[Priority.high]


def urgencies(w: World) -> list[Urgency]:
    """What is urgent now: unanswered critical mail, a double-booking starting within
    URGENT_HORIZON, an overdue high/critical task not delegated. The answer only changes when the
    conflict list or a task changes, or the clock reaches the next boundary (a clash coming within
    the horizon, a deadline passing), so it is cached until then. Callers must not mutate it."""
    conflicts, version, now = w.conflicts, w.versions["tasks"], w.clock
    hit = w.section_cache.get("urgencies")
    if hit is not None and hit[0] is conflicts and hit[1] == version and now < hit[2]:
        return hit[3]
    soon = now + URGENT_HORIZON
    out: list[Urgency] = []
    until = datetime.max
    for first, u in _conflict_urgency(w, conflicts):
        if first is None or first <= soon:
            out.append(u)
        elif first - URGENT_HORIZON < until:
            until = first - URGENT_HORIZON  # the moment this clash comes within the horizon
    for t in w.tasks.values():
        if t.status is TaskStatus.done:
            continue
        if t.deadline > now:
            until = min(until, t.deadline)
        elif t.status is not TaskStatus.delegated and PRIORITY_RANK[t.priority] >= _HIGH:
            out.append(Urgency(f"{t.id} is overdue", tasks=(t.id,)))
    targets = (
        frozenset(i for u in out for i in u.emails),
        frozenset(i for u in out for i in u.meetings),
        frozenset(i for u in out for i in u.tasks),
    )
    w.section_cache["urgencies"] = (conflicts, version, until, out, [u.reason for u in out], targets)
    return out


def urgent_reasons(w: World) -> list[str]:
    """Why doing nothing now would be neglect (empty list: nothing is urgent). Shared with the
    urgencies cache: callers must not mutate it."""
    urgencies(w)
    return w.section_cache["urgencies"][4]


def urgent_targets(w: World) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """(emails, meetings, tasks) whose handling answers the urgency `urgent_reasons` reports."""
    urgencies(w)
    return w.section_cache["urgencies"][5]


def refresh(w: World) -> None:
    """Rebuild the conflict list and stress from the live world; remember every conflict seen.

    Conflicts depend only on the calendar and mail (whose versions ops bumps on every change), the
    missed tally, and items ending, so between those the cached list is exact. Stress also counts
    overdue tasks and the next four hours' back-to-back joins, so it is recomputed every time
    (cheaply, from the cached calendar items)."""
    now = w.clock
    v = w.versions
    key = (v["calendar"], v["mail"], w.missed_count)
    hit = w.section_cache.get("conflicts")
    if hit is not None and hit[0] == key and now < hit[1]:
        items = hit[2]
    else:
        items = calendar_items(w)
        conflicts = build_conflicts(w, items)
        old = w.conflicts
        # Conflict objects are cached, so an unchanged set rebuilds into the same objects: keep the
        # old list then, and everything cached per conflict list (urgency, stress, briefing lines)
        # stays valid. Usually the item that just ended was not double-booked.
        if len(conflicts) != len(old) or any(a is not b for a, b in zip(conflicts, old, strict=True)):
            w.conflicts = conflicts
        for c in w.conflicts:
            if c.kind != "critical_unanswered" and c.id not in w.conflicts_seen:
                w.conflicts_seen[c.id] = c.weight
        next_end = min((i.end for i in items), default=datetime.max)
        w.section_cache["conflicts"] = (key, next_end, items)
    stress = compute_stress(w, w.conflicts, items)
    if stress != w.executive.stress:
        w.executive.stress = stress
