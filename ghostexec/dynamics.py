"""What time does to the office during one step's window (previous clock, new clock].

In order: delegation reports come in; calendar items whose time came are attended or missed
(a double-booking decided against the less important side); deadlines pass; critical and high
mail left waiting wears down its sender's mood (waiting counts from arrival or from the
scenario start, whichever is later). Every change goes through ghostexec.ops.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from datetime import datetime, timedelta
from operator import itemgetter

from .pressure import _BY_START, task_deadlines
from .reward import MISSED_COMMITMENT, MISSED_MEETING
from .state import World
from .timeline import due, fire
from .world import PRIORITY_RANK, MeetingStatus, Outcome, Priority

PATIENCE = {Priority.critical: timedelta(minutes=60), Priority.high: timedelta(minutes=180)}
MAX_DECAY_TICKS = 3


def _rank(item, commitments) -> tuple:
    # Higher importance wins; on a tie work wins over personal (the default failure of a busy day),
    # then whichever started first.
    return (-PRIORITY_RANK[item.importance], 1 if item.id in commitments else 0, item.start, item.id)


def _miss(w: World, ops, item, winner, early: bool) -> None:
    commitments = w.commitments
    verb = "left" if early else "missed"
    penalty = (MISSED_COMMITMENT if item.id in commitments else MISSED_MEETING)[item.importance]
    ops.miss(item, penalty, f'{verb} {item.id} "{item.title}" - you were needed in {winner.id} "{winner.title}"')
    people = item.with_contacts if item.id in commitments else item.attendees
    for cid in people:
        c = w.contacts[cid]
        ops.shift_mood(c, -2 if (c.vip or item.id in commitments) else -1, f"you missed {item.id}")
        ops.owe_goodwill(c)


def _calendar_queue(w: World) -> tuple:
    """(calendar version, live items, undecided items by start, next position) for this calendar.

    Within one calendar version the live items (not cancelled) are fixed and an undecided item only
    ever gets decided (attended or missed), so the items still to start are a queue: each step takes
    the ones whose start has come from its front. Ops bumps the version on every calendar change (a
    miss included), which rebuilds the queue."""
    version = w.versions["calendar"]
    hit = w.section_cache.get("calendar_queue")
    if hit is not None and hit[0] == version:
        return hit
    live = [m for m in w.meetings.values() if m.status is not MeetingStatus.cancelled]
    live.extend(w.commitments.values())
    undecided = sorted((i for i in live if i.outcome is None), key=_BY_START)
    hit = w.section_cache["calendar_queue"] = (version, live, undecided, [0])
    return hit


def settle_calendar(w: World) -> None:
    """Items whose start has come are attended, unless a more important overlapping item wins.
    Every double-booking still standing when its second item starts ends with exactly one side
    missed: the newcomer, or the item already under way (left early) if the newcomer wins."""
    now = w.clock
    _, live, undecided, position = _calendar_queue(w)
    first = position[0]
    end = first
    while end < len(undecided) and undecided[end].start <= now:
        end += 1
    if end == first:
        return  # nothing starts before the next item in the queue
    position[0] = end
    starting = [i for i in undecided[first:end] if i.outcome is None]
    if starting:
        _settle(w, live, starting)


def _settle(w: World, live: list, starting: list) -> None:
    commitments = w.commitments
    ops = w.ops("world")
    for x in starting:
        rivals = [
            y
            for y in live
            if y is not x
            and y.outcome is not Outcome.missed
            and y.start < x.end
            and x.start < y.end
            and not (y.id in commitments and x.id in commitments)
        ]
        if not rivals:
            ops.attend(x, Outcome.attended)
            continue
        best = min(rivals, key=lambda i: _rank(i, commitments))
        if _rank(best, commitments) < _rank(x, commitments):
            _miss(w, ops, x, best, early=False)
            continue
        ops.attend(x, Outcome.attended)
        for y in rivals:
            if y.outcome is Outcome.attended:  # under way, and x matters more: the executive leaves
                _miss(w, ops, y, x, early=True)


def pass_deadlines(w: World) -> None:
    """Log each open task whose deadline fell in this step's window (previous clock, now], in the
    order of `w.tasks`: a bisect over the tasks version's deadline order (`pressure.task_deadlines`,
    shared with the task tally) instead of a scan."""
    order = task_deadlines(w)
    lo = bisect_right(order.deadlines, w.prev_clock)
    hi = bisect_right(order.deadlines, w.clock, lo)
    if lo == hi:
        return
    ops = w.ops("world")
    for _, t in sorted(zip(order.positions[lo:hi], order.tasks[lo:hi]), key=itemgetter(0)):
        ops.note("deadline", t.id, f'{t.id} "{t.title}" is now overdue (was due {t.deadline:%H:%M})')


def _first_check(w: World, e, now: datetime) -> datetime:
    """When a waiting email is first looked at: now, unless its patience is already known."""
    return w.decay_due.get(e.id, now)


def _waiting_queue(w: World, now: datetime) -> tuple:
    """(emails of `w.waiting` already queued, heap of (next look, order, email)). Rebuilt from
    `w.waiting` and `w.decay_due` when missing (a fresh or forked world)."""
    hit = w.section_cache.get("waiting_queue")
    if hit is None:
        heap = [(_first_check(w, e, now), n, e) for n, e in enumerate(w.waiting)]
        heapq.heapify(heap)
        hit = w.section_cache["waiting_queue"] = ([len(w.waiting)], heap)
    known, heap = hit
    while known[0] < len(w.waiting):  # mail added since (ops.add_email appends to w.waiting)
        e = w.waiting[known[0]]
        heapq.heappush(heap, (_first_check(w, e, now), known[0], e))
        known[0] += 1
    return hit


def wear_moods(w: World) -> None:
    """Critical and high mail left unanswered wears its sender's mood down, one step per patience
    period, at most MAX_DECAY_TICKS times. Each waiting email (`w.waiting`, kept by ops.add_email)
    sits in a heap by the moment it next needs a look, so a step only touches the mail that is due,
    in `w.waiting` order (which is the order its changes are logged in)."""
    now = w.clock
    _, heap = _waiting_queue(w, now)
    if not heap or heap[0][0] > now:
        return
    due = []
    while heap and heap[0][0] <= now:
        due.append(heapq.heappop(heap))
    due.sort(key=itemgetter(1))
    start = w.scenario.start
    due_at = w.decay_due
    ops = None
    for _, order, e in due:
        if e.replied or e.decay_ticks >= MAX_DECAY_TICKS:
            continue  # answered or worn out: never looked at again
        if e.received_at > now:
            next_drop = e.received_at + PATIENCE[e.priority]  # not arrived yet: first drop
        else:
            # Mail that arrived before the episode starts waiting when the executive's day begins.
            patience = PATIENCE[e.priority]
            began = max(e.received_at, start)
            ticks_due = min(MAX_DECAY_TICKS, int((now - began) / patience))
            while e.decay_ticks < ticks_due:
                ops = ops or w.ops("world")
                ops.decay_tick(e)
                waited = int((now - e.received_at).total_seconds() // 60)
                ops.shift_mood(w.contacts[e.sender], -1, f"{e.id} still unanswered after {waited} min")
            next_drop = due_at[e.id] = began + patience * (e.decay_ticks + 1)
        heapq.heappush(heap, (next_drop, order, e))


def advance(w: World) -> None:
    """Move the clock one step and apply everything the agent's choices set in motion."""
    w.prev_clock = w.clock
    w.clock = w.clock + timedelta(minutes=w.scenario.minutes_per_step)
    for ev in due(w, exogenous=False):
        fire(w, ev)
    settle_calendar(w)
    pass_deadlines(w)
    wear_moods(w)


def fire_timeline(w: World) -> bool:
    """Fire the scenario's own events that are due; True if any fired."""
    events = due(w, exogenous=True)
    for ev in events:
        fire(w, ev)
    return bool(events)
