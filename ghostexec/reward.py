"""Dense, decomposed, non-farmable step reward.

Each channel is the change in a *potential*: a function of the world state alone.

    conflict      Φc = −(active conflict weights) − (missed obligations) − (cancelled meetings, by the
                        same weights as missed ones) − 3·(confidential leaks)
    task          Φt = Σ priority weight × task value (done on time 1, late 0.6, delegated 0.4,
                        in progress ½·share done, failed 0; −0.5 while overdue and not done)
    relationship  Φr = Σ contact weight × (mood − neutral) / 3   (VIP 3, board/client/family/exec 2, else 1)
    shaping       Φs = −stress / 500                                (so |shaping| ≤ 0.2)

    reward = 0.35·ΔΦc + 0.30·ΔΦt + 0.35·ΔΦr + ΔΦs + invalid_penalty + idle_penalty

Why potentials: any sequence of actions that brings the world back to the same state earns
exactly the penalties it paid (≤ 0), re-doing a finished thing changes nothing so earns nothing,
and the episode return telescopes to (final quality − initial quality − penalties).
Penalties: an invalid step pays −0.30. A step that leaves urgent work waiting (unanswered
critical mail, a double-booking starting within 2 h, an overdue high/critical task) pays −0.10
when it is spent waiting *or on anything else*: busywork (archiving, messaging, a normal reply)
is neglect too. Only an action aimed at one of the urgent items (replying to that email, moving
or cancelling one of those meetings, working on or delegating that task) is exempt, and an
invalid step pays only the invalid penalty. So a policy cannot dodge the neglect charge by
keeping busy (tests/test_signal_quality.py checks exploit policies against doing nothing).
The step's "after" is taken once the clock-driven dynamics have run (deadlines passing, moods
wearing down, delegation reports) but before the scenario's own events fire: a shock from outside
is neither charged nor paid, while repairing it is paid, once.
"""

from __future__ import annotations

from functools import reduce
from operator import add, attrgetter, mul
from typing import NamedTuple

from .actions import CancelMeeting, CompleteTask, DelegateTask, ReplyEmail, RescheduleMeeting
from .content import ReplyReading
from .pressure import TaskDeadlines, TaskTally, refresh_stamp, urgent_work
from .results import ExpectationResult, RewardBreakdown, RewardComponent, build
from .state import World
from .world import MOOD_INDEX, NEUTRAL_INDEX, MeetingStatus, Priority, Relationship, TaskStatus

W_CONFLICT, W_TASK, W_RELATIONSHIP = 0.35, 0.30, 0.35
INVALID_PENALTY = -0.30
IDLE_PENALTY = -0.10
STRESS_SCALE = 500.0
LEAK_WEIGHT = 3.0

TASK_WEIGHT = {Priority.low: 0.5, Priority.normal: 1.0, Priority.high: 1.5, Priority.critical: 2.5}
MISSED_MEETING = {Priority.low: 1.0, Priority.normal: 1.5, Priority.high: 2.0, Priority.critical: 3.0}
# A cancelled meeting did not happen: it costs what missing it would. Telling people (a reason)
# is paid in the relationship channel instead (VIPs drop 1, not 2). At 0.5, cancelling the whole
# calendar of dinner_disaster out-earned doing nothing (tests/test_signal_quality.py).
CANCELLED_FRACTION = 1.0
MISSED_COMMITMENT = {Priority.low: 2.0, Priority.normal: 3.0, Priority.high: 4.0, Priority.critical: 6.0}
# Components are frozen, so the common zero-valued ones are shared instead of rebuilt each step.
NO_INVALID = RewardComponent(name="invalid_penalty", weight=1.0, raw=0.0, value=0.0, detail="")
NO_IDLE = RewardComponent(name="idle_penalty", weight=1.0, raw=0.0, value=0.0, detail="")
DETAILS = {
    "conflict": "change in conflicts, missed obligations, leaks",
    "task": "change in task progress and overdue work",
    "relationship": "change in weighted moods",
    "shaping": "change in -stress/500, bounded by +/-0.2",
}
ZERO = {
    name: RewardComponent(name=name, weight=wt, raw=0.0, value=0.0, detail=DETAILS[name])
    for name, wt in (("conflict", W_CONFLICT), ("task", W_TASK), ("relationship", W_RELATIONSHIP), ("shaping", 1.0))
}
ZERO_CHANNELS = ZERO_CONFLICT, ZERO_TASK, ZERO_RELATIONSHIP, ZERO_SHAPING = tuple(ZERO.values())
# Idle components by detail text (frozen, so shared like the zeros): the same urgent reasons are
# usually charged step after step. The key is the component's only input.
_IDLE: dict[str, RewardComponent] = {}
_SHARED_LIMIT = 4096  # entries per table of shared components (a full table starts over)


def _made(name: str, weight: float, raw: float, detail: str) -> RewardComponent:
    """A component from floats and a str the core computed itself, built without re-validation
    like the step's other results (tests/test_core_results.py re-validates them)."""
    return build(RewardComponent, name=name, weight=weight, raw=raw, value=weight * raw, detail=detail)


# Channel components by raw change, one table per channel (frozen, so shared like the zeros): a
# potential takes few distinct values, so the same changes recur step after step and across
# episodes (a deadline passing, one mood step, a point of stress). The raw change is the
# component's only input (its value is weight × raw, its detail the channel's).
_CHANNELS: dict[str, dict[float, RewardComponent]] = {name: {} for name in ZERO}


def _shared(table: dict, key, name: str, weight: float, raw: float, detail: str) -> RewardComponent:
    """The component stored under `key` (its only input), made and stored on first use."""
    c = table.get(key)
    if c is None:
        if len(table) >= _SHARED_LIMIT:
            table.clear()
        c = table[key] = _made(name, weight, raw, detail)
    return c


def _channel(table: dict[float, RewardComponent], name: str, weight: float, raw: float) -> RewardComponent:
    """The channel's component for this raw change, shared (see _CHANNELS)."""
    return _shared(table, raw, name, weight, raw, DETAILS[name])


_CONFLICTS, _TASKS, _RELATIONSHIPS, _SHAPINGS = _CHANNELS.values()


def _idle_component(detail: str) -> RewardComponent:
    """The neglect penalty with this detail, shared (see _IDLE)."""
    return _shared(_IDLE, detail, "idle_penalty", 1.0, IDLE_PENALTY, detail)


KEY_RELATIONSHIPS = {Relationship.board, Relationship.client, Relationship.family, Relationship.executive}


def contact_weight(c) -> float:
    return 3.0 if c.vip else 2.0 if c.relationship in KEY_RELATIONSHIPS else 1.0


class Potentials(NamedTuple):
    """The four channels' potentials in one world state (see the module docstring)."""

    conflict: float
    task: float
    relationship: float
    shaping: float


def _task_terms(w: World, order: TaskDeadlines) -> tuple:
    """(the tasks version's deadline order, each task's term with no deadline passed, in task
    order, and per open task in that deadline order: its position and its term once overdue).
    Within a version only the clock changes a term, from the first to the second."""
    hit = w.section_cache.get("task_terms")
    if hit is not None and hit[0] is order:
        return hit
    done, delegated = TaskStatus.done, TaskStatus.delegated
    terms, late = [], {}
    for n, t in enumerate(w.tasks.values()):
        weight = TASK_WEIGHT[t.priority]
        if t.status is done:
            terms.append(weight * (1.0 if t.completed_at <= t.deadline else 0.6))
        else:
            value = 0.4 if t.status is delegated else 0.5 * t.progress_minutes / t.effort_minutes
            terms.append(weight * value)
            value -= 0.5
            late[n] = weight * value
    hit = w.section_cache["task_terms"] = (order, terms, [(n, late[n]) for n in order.positions])
    return hit


def _task_potential(w: World, tally: TaskTally) -> float:
    """Σ weight × value (done on time 1, late 0.6; delegated 0.4, else ½·share done, −0.5 while
    overdue). Values change only when a task does (ops bumps the version) or a deadline passes,
    exactly when `task_tally` starts a new tally: cached per (current) tally. The terms are kept
    per version and a passing deadline swaps in the overdue terms of the tasks it passed (the
    tally's first `overdue` in deadline order); the sum adds them in task order from 0.0, in C."""
    hit = w.section_cache.get("phi_task")
    if hit is not None and hit[0] is tally:
        return hit[1]
    _, base, late = _task_terms(w, tally.order)
    current = w.section_cache.get("task_terms_now")  # (version's terms, overdue count, terms now)
    if current is not None and current[0] is base and current[1] <= tally.overdue:
        terms, passed = current[2], current[1]
    else:
        terms, passed = base.copy(), 0
    for n, term in late[passed : tally.overdue]:
        terms[n] = term
    w.section_cache["task_terms_now"] = (base, tally.overdue, terms)
    total = reduce(add, terms, 0.0)
    w.section_cache["phi_task"] = (tally, total)
    return total


# How far each mood sits from neutral (an int, so the weighted sum below is exact).
MOOD_OFFSET = {mood: index - NEUTRAL_INDEX for mood, index in MOOD_INDEX.items()}
_MOOD = attrgetter("mood")
_WEIGHT = attrgetter("weight")


def _relationship_potential(w: World) -> float:
    """Σ contact weight × mood offset / 3, cached per contacts version. A mood changes on about
    one step in three, so the sum runs as a C-level map over the contacts (in dict order, as a
    generator would: the same float)."""
    hit = w.section_cache.get("phi_rel")
    version = w.versions["contacts"]
    if hit is not None and hit[0] == version:
        return hit[1]
    contacts = w.contacts
    weights = map(w.contact_weight.__getitem__, contacts)
    offsets = map(MOOD_OFFSET.__getitem__, map(_MOOD, contacts.values()))
    total = sum(map(mul, weights, offsets)) / 3.0
    w.section_cache["phi_rel"] = (version, total)
    return total


def cancelled_penalty(w: World) -> float:
    """Σ over cancelled meetings of their missed weight: dropping an obligation on purpose is never
    free (else cancelling a whole day would beat living it). Cancelling the loser of a clash that
    would otherwise be missed costs the same miss, earlier and with kinder moods."""
    version = w.versions["calendar"]
    hit = w.section_cache.get("phi_cancel")
    if hit is not None and hit[0] == version:
        return hit[1]
    total = sum(MISSED_MEETING[m.importance] for m in w.meetings.values() if m.status is MeetingStatus.cancelled)
    total *= CANCELLED_FRACTION
    w.section_cache["phi_cancel"] = (version, total)
    return total


def potentials(w: World) -> Potentials:
    """The live world's potentials, after `pressure.refresh` (they read its conflicts and stress).
    Besides the contacts version, all they read is covered by the refresh stamp (conflicts,
    stress, the task tally, the calendar version for cancellations, the missed and leak tallies),
    so they are cached by the two."""
    stamp = refresh_stamp(w)
    version = w.versions["contacts"]
    hit = w.section_cache.get("potentials")
    if hit is not None and hit[0] is stamp and hit[1] == version:
        return hit[2]
    # missed items and leaks are tallied by ghostexec.ops as they happen (they never un-happen)
    conflict = -sum(map(_WEIGHT, w.conflicts)) - w.missed_penalty - cancelled_penalty(w) - LEAK_WEIGHT * w.leaks
    phi = Potentials(conflict, _task_potential(w, stamp[2]), _relationship_potential(w), -w.executive.stress / STRESS_SCALE)
    w.section_cache["potentials"] = (stamp, version, phi)
    return phi


# The actions that can answer urgent work, by type (no subclasses): the action's target field and
# the `UrgentWork` field holding the urgent ids of that kind.
_AIMED_AT = {
    ReplyEmail: ("email_id", "emails"),
    RescheduleMeeting: ("meeting_id", "meetings"),
    CancelMeeting: ("meeting_id", "meetings"),
    CompleteTask: ("task_id", "tasks"),
    DelegateTask: ("task_id", "tasks"),
}


def neglect_reasons(w: World, action) -> list[str]:
    """Why this step neglects urgent work (empty: it does not). Called before the action applies:
    while anything is urgent, every action except one aimed at an urgent item is neglect."""
    urgent = urgent_work(w)
    if not urgent.reasons:
        return []
    aim = _AIMED_AT.get(type(action))
    if aim is not None and getattr(action, aim[0]) in getattr(urgent, aim[1]):
        return []
    return list(urgent.reasons)  # a copy: the cached list is shared


def breakdown(
    before: Potentials,
    after: Potentials,
    *,
    invalid: bool,
    idle_reasons: list[str],
    reading: ReplyReading | None,
    email_id: str | None,
    error: str | None,
) -> RewardBreakdown:
    """The step's reward, channel by channel. A channel whose potential did not move gets its
    shared zero component (most channels on most steps), one that moved a shared component for
    its change (see _CHANNELS)."""
    # The total adds the components' values left to right from 0.0, in component order.
    if after == before:  # no potential moved (most steps)
        conflict, task, relationship, shaping = ZERO_CHANNELS
        total = 0.0
    else:
        c0, t0, r0, s0 = before
        c1, t1, r1, s1 = after
        dc, dt, dr, ds = c1 - c0, t1 - t0, r1 - r0, s1 - s0
        conflict = ZERO_CONFLICT if dc == 0.0 else _channel(_CONFLICTS, "conflict", W_CONFLICT, dc)
        task = ZERO_TASK if dt == 0.0 else _channel(_TASKS, "task", W_TASK, dt)
        relationship = ZERO_RELATIONSHIP if dr == 0.0 else _channel(_RELATIONSHIPS, "relationship", W_RELATIONSHIP, dr)
        shaping = ZERO_SHAPING if ds == 0.0 else _channel(_SHAPINGS, "shaping", 1.0, ds)
        total = 0.0 + conflict.value + task.value + relationship.value + shaping.value
    if invalid:
        invalid_c, idle_c = _made("invalid_penalty", 1.0, INVALID_PENALTY, error or ""), NO_IDLE
    elif idle_reasons:
        invalid_c, idle_c = NO_INVALID, _idle_component("; ".join(idle_reasons[:4]))
    else:
        invalid_c, idle_c = NO_INVALID, NO_IDLE
    total = total + invalid_c.value + idle_c.value
    comps = [conflict, task, relationship, shaping, invalid_c, idle_c]
    expectations = []
    if reading is not None and email_id is not None:
        expectations = [ExpectationResult(email_id=email_id, label=label, met=ok) for label, ok in reading.met]
    return build(RewardBreakdown, components=comps, total=total, expectations=expectations)
