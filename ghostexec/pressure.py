"""What is wrong right now: active conflicts, stress, and whether anything is urgent.

All three are pure functions of the live world, brought up to date after every step, so they go
down the moment the agent relieves the pressure (unlike a stress level that only ever ratchets up).
Each is cached in `w.section_cache` with everything it depends on: the versions ghostexec.ops
bumps on every change, and the next moment the clock alone would change it.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import datetime, timedelta
from itertools import chain, compress, repeat
from operator import attrgetter, eq, itemgetter
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

# Keys and fields read in C (sort keys, min/sum over a list) rather than by Python lambdas.
_BY_START = attrgetter("start", "id")
_BY_ID = attrgetter("id")
_START = attrgetter("start")
_END = attrgetter("end")
_ITEMS = attrgetter("items")
_KIND = attrgetter("kind")


def calendar_items(w: World) -> list:
    """Work meetings and personal commitments that still hold time: not cancelled, not missed, not
    over (an attended meeting in progress still holds its slot), sorted by (start, id)."""
    now = w.clock
    missed = Outcome.missed
    items = [
        m for m in w.meetings.values() if m.status is not MeetingStatus.cancelled and m.outcome is not missed and m.end > now
    ]
    items.extend(c for c in w.commitments.values() if c.outcome is not missed and c.end > now)
    items.sort(key=_BY_START)
    return items


def overlapping_pairs(items: list) -> list[tuple]:
    """Pairs whose half-open intervals overlap (back-to-back is fine), by a sweep over start time."""
    pairs = []
    for i, a in enumerate(items, 1):
        end = a.end
        for b in items[i:]:
            if b.start >= end:
                break
            pairs.append((a, b))
    return pairs


def _overlap(w: World, a, b) -> Conflict:
    commitments = w.commitments
    lo, hi = (a, b) if a.id < b.id else (b, a)
    start, end = max(a.start, b.start), min(a.end, b.end)
    span = f"{start:%H:%M}-{end:%H:%M}"
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


def _mail_conflicts(w: World) -> list[Conflict]:
    """Unanswered critical mail, cached per mail version: mail is only ever received through ops
    (which bumps the version and stamps it with the current time), so no received_at is ahead of
    the clock and the list changes only with the version."""
    version = w.versions["mail"]
    hit = w.section_cache.get("mail_conflicts")
    if hit is not None and hit[0] == version:
        return hit[1]
    out: list[Conflict] = []
    cache = w.conflict_cache
    now = w.clock
    for e in w.emails.values():
        if e.priority is Priority.critical and not e.replied and e.received_at is not None and e.received_at <= now:
            key = (e.id,)
            c = cache.get(key)
            if c is None:
                c = cache[key] = _unanswered(w, e)
            out.append(c)
    w.section_cache["mail_conflicts"] = (version, out)
    return out


def build_conflicts(w: World, items: list) -> list[Conflict]:
    """Conflict objects are cached by everything they describe, so an unchanged conflict is reused."""
    out: list[Conflict] = []
    cache = w.conflict_cache
    commitments = w.commitments
    for a, b in overlapping_pairs(items):
        if a.id in commitments and b.id in commitments:
            continue
        # Shared by every episode of the scenario: the key holds all that the conflict shows that
        # can differ between episodes (titles and ids are the scenario's fixed text).
        key = (a.id, a.start, a.end, a.importance, b.id, b.start, b.end, b.importance)
        c = cache.get(key)
        if c is None:
            c = cache[key] = _overlap(w, a, b)
        out.append(c)
    out += _mail_conflicts(w)
    out.sort(key=_BY_ID)
    return out


def overdue_tasks(w: World) -> list:
    """Open tasks past their deadline."""
    now = w.clock
    return [t for t in w.tasks.values() if t.status is not TaskStatus.done and t.deadline <= now]


class TaskDeadlines(NamedTuple):
    """One tasks version's open tasks in deadline order (ties by task order). Ops bumps the version
    on every task change (status, moved deadline, new task), so within a version the only thing
    that changes is how many of them the clock has passed: a prefix of this order."""

    version: int
    deadlines: list[datetime]  # sorted
    positions: list[int]  # each task's position in `w.tasks`, in the same order
    tasks: list  # the tasks themselves, in the same order
    urgent_deadlines: list[datetime]  # the high/critical, not delegated ones (urgent once overdue)
    urgent_rows: list[tuple[int, str, str]]  # (position in `w.tasks`, id, reason), in that order


class TaskTally(NamedTuple):
    """Open tasks against the clock, for one tasks version until the next deadline passes."""

    version: int
    next_deadline: datetime  # the earliest deadline of an open task still ahead (datetime.max: none)
    overdue: int  # open tasks past their deadline: the first `overdue` of the version's deadline order
    urgent: frozenset[str]  # of those, the high/critical ones not delegated: urgent work
    urgent_reasons: tuple[str, ...]  # why, one per urgent task (in task order)
    order: TaskDeadlines  # the version's deadline order it was counted from


_HIGH = PRIORITY_RANK[Priority.high]
_FIRST = itemgetter(0)
_SECOND = itemgetter(1)
_THIRD = itemgetter(2)
_ROW_ID = _SECOND  # an urgent row is (position, id, reason)
_ROW_REASON = _THIRD


def task_deadlines(w: World) -> TaskDeadlines:
    """The live tasks version's deadline order, cached per version."""
    version = w.versions["tasks"]
    hit = w.section_cache.get("task_deadlines")
    if hit is not None and hit.version == version:
        return hit
    done, delegated = TaskStatus.done, TaskStatus.delegated
    rows = sorted((t.deadline, n, t) for n, t in enumerate(w.tasks.values()) if t.status is not done)
    urgent = [r for r in rows if r[2].status is not delegated and PRIORITY_RANK[r[2].priority] >= _HIGH]
    hit = w.section_cache["task_deadlines"] = TaskDeadlines(
        version,
        list(map(_FIRST, rows)),
        list(map(_SECOND, rows)),
        list(map(_THIRD, rows)),
        list(map(_FIRST, urgent)),
        [(n, t.id, f"{t.id} is overdue") for _, n, t in urgent],
    )
    return hit


def task_tally(w: World) -> TaskTally:
    """The tally for the live world, shared by stress, urgency and the reward's task potential
    (which caches by the tally's identity). A passing deadline costs two bisects over the
    version's deadline order (taken from the previous tally while the version holds), not a pass
    over the tasks."""
    hit = w.section_cache.get("task_tally")
    version = w.versions["tasks"]
    now = w.clock
    if hit is not None and hit.version == version and now < hit.next_deadline:
        return hit
    order = task_deadlines(w)
    deadlines = order.deadlines
    overdue = bisect_right(deadlines, now)
    next_deadline = deadlines[overdue] if overdue < len(deadlines) else datetime.max
    urgent = sorted(order.urgent_rows[: bisect_right(order.urgent_deadlines, now)])  # back to task order
    tally = TaskTally(version, next_deadline, overdue, frozenset(map(_ROW_ID, urgent)), tuple(map(_ROW_REASON, urgent)), order)
    w.section_cache["task_tally"] = tally
    return tally


def _join_starts(items: list) -> list[datetime]:
    """Start of every item that begins exactly when its predecessor (by start) ends, sorted."""
    starts = list(map(_START, items[1:]))
    return list(compress(starts, map(eq, starts, map(_END, items))))  # starts[k] == items[k].end


STRESS_PER = {"overlap": 5, "personal_clash": 8, "critical_unanswered": 4}


def _list_facts(conflicts: list[Conflict]) -> tuple[frozenset[str], int]:
    """(every id the conflicts name, the conflicts' stress: 5 per overlap, 8 per personal clash, 4
    per unanswered critical email) for one conflict list, in C. The ids include unanswered mail's:
    a superset of the calendar items in a clash is enough to tell that an ended item was in none."""
    named = frozenset(chain.from_iterable(map(_ITEMS, conflicts)))
    return named, sum(map(STRESS_PER.get, map(_KIND, conflicts), repeat(0)))


def _stress(w: World, entry: _ConflictEntry) -> tuple[int, datetime, TaskTally]:
    """(stress, the first moment the clock alone would change it, the task tally it counted) for
    the live world, given the calendar's back-to-back joins and the conflicts' stress (from the
    `_refresh_conflicts` entry).

    Stress adds overdue tasks (which change when the next deadline passes) and the back-to-back
    chains of the next four hours: a join counts once its start is before now + B2B_HORIZON, so
    the next one counts from one clock tick (timedelta.resolution) after its start − B2B_HORIZON."""
    now = w.clock
    tally = task_tally(w)
    joins = entry.joins
    b2b = bisect_left(joins, now + B2B_HORIZON)
    until = tally.next_deadline
    if b2b < len(joins):
        until = min(until, joins[b2b] - B2B_HORIZON + timedelta.resolution)
    level = w.executive.base_stress + entry.stress + 4 * tally.overdue + 2 * b2b + 3 * w.missed_count
    return max(0, min(100, level)), until, tally


class UrgentWork(NamedTuple):
    """What is urgent now (`reasons`: empty when nothing is) and the ids whose handling answers it."""

    reasons: list[str]
    emails: frozenset[str]
    meetings: frozenset[str]
    tasks: frozenset[str]


def _conflict_urgency(w: World, conflicts: list[Conflict]) -> list[tuple[datetime | None, str, tuple[str, ...]]]:
    """Per conflict: (first start, reason, ids to act on). The start is None for unanswered mail
    (urgent at any time; the id is the email's); a clash's ids are its movable meetings. Cached
    per conflict list (`_refresh_conflicts` replaces the list only when the conflicts change)."""
    hit = w.section_cache.get("urgency")
    if hit is not None and hit[0] is conflicts:
        return hit[1]
    out: list[tuple[datetime | None, str, tuple[str, ...]]] = []
    meetings, commitments = w.meetings, w.commitments
    for c in conflicts:
        if c.kind == "critical_unanswered":
            out.append((None, f"{c.items[0]} (critical mail) is unanswered", c.items))
        else:
            a, b = c.items  # a calendar conflict is a pair of meetings or a meeting and a commitment
            first = min((meetings.get(a) or commitments[a]).start, (meetings.get(b) or commitments[b]).start)
            movable = tuple(filter(meetings.__contains__, c.items))
            out.append((first, f"{c.id} starts by {first:%H:%M}", movable))
    w.section_cache["urgency"] = (conflicts, out)
    return out


def _urgent_conflicts(w: World, conflicts: list[Conflict], now: datetime) -> tuple:
    """The conflicts' share of urgent work: (until, reasons, email ids, meeting ids), where until
    is the moment the next clash comes within URGENT_HORIZON (datetime.max: none). Cached per
    conflict list until then, so a passing deadline does not walk the conflicts again."""
    hit = w.section_cache.get("urgent_conflicts")
    if hit is not None and hit[0] is conflicts and now < hit[1][0]:
        return hit[1]
    soon = now + URGENT_HORIZON
    until = datetime.max
    reasons: list[str] = []
    emails: list[str] = []
    meetings: list[str] = []
    for first, reason, ids in _conflict_urgency(w, conflicts):
        if first is None:
            reasons.append(reason)
            emails += ids
        elif first <= soon:
            reasons.append(reason)
            meetings += ids
        elif first - URGENT_HORIZON < until:
            until = first - URGENT_HORIZON  # the moment this clash comes within the horizon
    part = (until, reasons, frozenset(emails), frozenset(meetings))
    w.section_cache["urgent_conflicts"] = (conflicts, part)
    return part


def urgent_work(w: World) -> UrgentWork:
    """What is urgent now: unanswered critical mail, a double-booking starting within
    URGENT_HORIZON, an overdue high/critical task not delegated. The answer only changes when the
    conflict list or a task changes, or the clock reaches the next boundary (a clash coming within
    the horizon, a deadline passing), so it is cached until then; the conflicts' share and the
    tasks' share (the task tally) are cached apart, each until its own boundary, and joined here.
    Callers must not mutate it."""
    conflicts, version, now = w.conflicts, w.versions["tasks"], w.clock
    hit = w.section_cache.get("urgent")
    if hit is not None and hit[0] is conflicts and hit[1] == version and now < hit[2]:
        return hit[3]
    tally = task_tally(w)
    until, reasons, emails, meetings = _urgent_conflicts(w, conflicts, now)
    work = UrgentWork(reasons + list(tally.urgent_reasons), emails, meetings, tally.urgent)
    w.section_cache["urgent"] = (conflicts, version, min(until, tally.next_deadline), work)
    return work


class _ConflictEntry(NamedTuple):
    """`_refresh_conflicts`' cache entry: exact for `key` until the clock reaches `until`."""

    key: tuple  # (calendar version, mail version, missed tally)
    until: datetime  # the next end of a live calendar item
    items: list  # the live calendar items (not cancelled, not ended)
    joins: list[datetime]  # their back-to-back joins (`_join_starts`)
    named: frozenset[str]  # every id `conflicts` names (`_list_facts`)
    stress: int  # `conflicts`' stress (`_list_facts`)
    conflicts: list[Conflict]  # the conflict list `named` and `stress` describe


def _refresh_conflicts(w: World) -> _ConflictEntry:
    """Bring `w.conflicts` up to date; returns the cache entry (`_ConflictEntry`).

    Conflicts depend only on the calendar and mail (whose versions ops bumps on every change), the
    missed tally, and items ending, so between those the cached list is exact. When only the clock
    has passed an item's end, the items and conflicts are the cached ones minus what ended (a
    pair overlaps or not whatever else is on the calendar), so they are filtered, not rebuilt, and
    only if a conflict names an ended item (usually none does). The list's facts (`_list_facts`) are
    carried over while the list is the same object."""
    now = w.clock
    v = w.versions
    key = (v["calendar"], v["mail"], w.missed_count)
    hit = w.section_cache.get("conflicts")
    old = w.conflicts
    if hit is not None and hit.key == key:
        if now < hit.until:
            return hit
        items = list(compress(hit.items, map(now.__lt__, map(_END, hit.items))))  # end > now, tested in C
        ended = set(map(_BY_ID, hit.items)).difference(map(_BY_ID, items))
        if not ended.isdisjoint(hit.named):
            w.conflicts = [c for c in old if c.kind == "critical_unanswered" or ended.isdisjoint(c.items)]
    else:
        items = calendar_items(w)
        conflicts = build_conflicts(w, items)
        # Conflict objects are cached, so an unchanged set rebuilds into the same objects: keep the
        # old list then, and everything cached per conflict list (urgency, stress, briefing lines)
        # stays valid: many calendar and mail changes touch nothing double-booked.
        if len(conflicts) != len(old) or any(a is not b for a, b in zip(conflicts, old, strict=True)):
            w.conflicts = conflicts
        seen = w.conflicts_seen
        for c in w.conflicts:
            if c.kind != "critical_unanswered" and c.id not in seen:
                seen[c.id] = c.weight
    conflicts = w.conflicts
    named, stress = (hit.named, hit.stress) if hit is not None and hit.conflicts is conflicts else _list_facts(conflicts)
    next_end = min(map(_END, items), default=datetime.max)
    hit = w.section_cache["conflicts"] = _ConflictEntry(key, next_end, items, _join_starts(items), named, stress, conflicts)
    return hit


def refresh(w: World) -> None:
    """Rebuild the conflict list and stress from the live world; remember every conflict seen.

    Both are exact until the calendar, mail, missed tally or tasks change (the key) or the clock
    reaches the first moment either could change by itself (an item ending, a deadline passing,
    a back-to-back join coming within four hours): until then a step only checks the key. The
    cache entry (key, until, task tally) is the refresh stamp (see `refresh_stamp`)."""
    now = w.clock
    v = w.versions
    key = (v["calendar"], v["mail"], w.missed_count, v["tasks"])
    hit = w.section_cache.get("pressure")
    if hit is not None and hit[0] == key and now < hit[1]:
        return
    entry = _refresh_conflicts(w)
    stress, until, tally = _stress(w, entry)
    if stress != w.executive.stress:
        w.executive.stress = stress
    w.section_cache["pressure"] = (key, min(until, entry.until), tally)


def refresh_stamp(w: World) -> tuple:
    """(key, until, task tally) as of the last `refresh`: an object replaced whenever `refresh`
    may have changed anything: the conflicts, stress, the task tally, or what they are computed
    from (the calendar, mail and tasks versions, the missed tally; mail covers leaks, which only a
    logged reply adds). Caches of values that depend on nothing else (the reward's potentials)
    key on its identity. A world whose caches were cleared (a planner's fork) is refreshed first:
    that recomputes the same conflicts and stress."""
    stamp = w.section_cache.get("pressure")
    if stamp is None:
        refresh(w)
        stamp = w.section_cache["pressure"]
    return stamp
