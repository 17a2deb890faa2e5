"""What time does to the office during one step's window (previous clock, new clock].

In order: delegation reports come in; calendar items whose time came are attended or missed
(a double-booking decided against the less important side); deadlines pass; critical and high
mail left waiting wears down its sender's mood (waiting counts from arrival or from the
scenario start, whichever is later). Every change goes through ghostexec.ops.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from .reward import MISSED_COMMITMENT, MISSED_MEETING
from .state import World
from .timeline import due, fire
from .world import PRIORITY_RANK, MeetingStatus, Outcome, Priority, TaskStatus

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
    ops.miss(item, penalty, f'{verb} {item.id} "{item.title}" — you were needed in {winner.id} "{winner.title}"')
    people = item.with_contacts if item.id in commitments else item.attendees
    for cid in people:
        c = w.contacts[cid]
        ops.shift_mood(c, -2 if (c.vip or item.id in commitments) else -1, f"you missed {item.id}")
        ops.owe_goodwill(c)


def settle_calendar(w: World) -> None:
    """Items whose start has come are attended, unless a more important overlapping item wins.
    Every double-booking still standing when its second item starts ends with exactly one side
    missed: the newcomer, or the item already under way (left early) if the newcomer wins."""
    now = w.clock
    hit = w.section_cache.get("next_start")
    if hit is not None and hit[0] == w.versions["calendar"] and now < hit[1]:
        return  # nothing undecided starts before hit[1], and the calendar has not changed
    commitments = w.commitments
    live = [m for m in w.meetings.values() if m.status is not MeetingStatus.cancelled]
    live.extend(commitments.values())
    starting = sorted((i for i in live if i.outcome is None and i.start <= now), key=lambda i: (i.start, i.id))
    if starting:
        _settle(w, live, starting)
    # Everything that has started is now decided: nothing happens before the next start.
    upcoming = min((i.start for i in live if i.outcome is None), default=datetime.max)
    w.section_cache["next_start"] = (w.versions["calendar"], upcoming)


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
    """Log each open task whose deadline fell in this step's window. The next deadline is cached
    per tasks version (any task change, a moved deadline included, bumps it), so most steps skip
    the scan."""
    now = w.clock
    hit = w.section_cache.get("next_deadline")
    if hit is not None and hit[0] == w.versions["tasks"] and now < hit[1]:
        return
    ops = None
    upcoming = datetime.max
    for t in w.tasks.values():
        if t.status is TaskStatus.done:
            continue
        if w.prev_clock < t.deadline <= now:
            ops = ops or w.ops("world")
            ops.note("deadline", t.id, f'{t.id} "{t.title}" is now overdue (was due {t.deadline:%H:%M})')
        elif now < t.deadline < upcoming:
            upcoming = t.deadline
    w.section_cache["next_deadline"] = (w.versions["tasks"], upcoming)


def wear_moods(w: World) -> None:
    """Only mail that can still wear a mood down is looked at (`w.waiting`, kept by ops.add_email),
    and each one only once its next drop is due; while none is due and no mail was added, the
    scan is skipped altogether."""
    now = w.clock
    hit = w.section_cache.get("wear_next")
    if hit is not None and hit[0] == len(w.waiting) and now < hit[1]:
        return  # nothing is due before hit[1]; new waiting mail would change the length
    start = w.scenario.start
    due_at = w.decay_due
    ops = None
    still = []
    next_check = datetime.max
    for e in w.waiting:
        if e.replied or e.decay_ticks >= MAX_DECAY_TICKS:
            continue  # answered or worn out: never looked at again
        still.append(e)
        next_drop = due_at.get(e.id)
        if next_drop is None or now >= next_drop:
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
        if next_drop < next_check:
            next_check = next_drop
    w.waiting = still
    w.section_cache["wear_next"] = (len(still), next_check)


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
