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

from dataclasses import dataclass
from datetime import datetime

from .actions import CancelMeeting, CompleteTask, DelegateTask, ReplyEmail, RescheduleMeeting
from .content import ReplyReading
from .pressure import urgent_reasons, urgent_targets
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
    "conflict": "Δ conflicts, missed obligations, leaks",
    "task": "Δ task progress and overdue work",
    "relationship": "Δ weighted moods",
    "shaping": "Δ(−stress/500), bounded by ±0.2",
}
ZERO = {
    name: RewardComponent(name=name, weight=wt, raw=0.0, value=0.0, detail=DETAILS[name])
    for name, wt in (("conflict", W_CONFLICT), ("task", W_TASK), ("relationship", W_RELATIONSHIP), ("shaping", 1.0))
}


def _made(name: str, weight: float, raw: float, detail: str) -> RewardComponent:
    """A component from floats and a str the core computed itself, built without re-validation
    like the step's other results (tests/test_core_results.py re-validates them)."""
    return build(RewardComponent, name=name, weight=weight, raw=raw, value=weight * raw, detail=detail)


def _component(name: str, weight: float, raw: float) -> RewardComponent:
    if raw == 0.0:
        return ZERO[name]
    return _made(name, weight, raw, DETAILS[name])


KEY_RELATIONSHIPS = {Relationship.board, Relationship.client, Relationship.family, Relationship.executive}


def contact_weight(c) -> float:
    return 3.0 if c.vip else 2.0 if c.relationship in KEY_RELATIONSHIPS else 1.0


def task_value(t, now) -> float:
    if t.status is TaskStatus.done:
        return 1.0 if t.completed_at <= t.deadline else 0.6
    base = 0.4 if t.status is TaskStatus.delegated else 0.5 * t.progress_minutes / t.effort_minutes
    return base - (0.5 if t.deadline <= now else 0.0)


@dataclass(frozen=True)
class Potentials:
    conflict: float
    task: float
    relationship: float
    shaping: float


def _task_potential(w: World) -> float:
    """Σ weight × value. Cached until a task changes (ops bumps the version) or a deadline passes."""
    now = w.clock
    hit = w.section_cache.get("phi_task")
    version = w.versions["tasks"]
    if hit is not None and hit[0] == version and now < hit[1]:
        return hit[2]
    total, next_deadline, overdue = 0.0, datetime.max, 0
    for t in w.tasks.values():
        total += TASK_WEIGHT[t.priority] * task_value(t, now)
        if t.status is not TaskStatus.done:
            if t.deadline <= now:
                overdue += 1
            elif t.deadline < next_deadline:
                next_deadline = t.deadline
    w.section_cache["phi_task"] = (version, next_deadline, total, overdue)
    return total


def overdue_count(w: World) -> int:
    """Open tasks past their deadline (shares the task potential's cache)."""
    _task_potential(w)
    return w.section_cache["phi_task"][3]


def _relationship_potential(w: World) -> float:
    hit = w.section_cache.get("phi_rel")
    version = w.versions["contacts"]
    if hit is not None and hit[0] == version:
        return hit[1]
    cw = w.contact_weight
    total = sum(cw[cid] * (MOOD_INDEX[c.mood] - NEUTRAL_INDEX) for cid, c in w.contacts.items()) / 3.0
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
    # missed items and leaks are tallied by ghostexec.ops as they happen (they never un-happen)
    conflict = -sum(c.weight for c in w.conflicts) - w.missed_penalty - cancelled_penalty(w) - LEAK_WEIGHT * w.leaks
    return Potentials(conflict, _task_potential(w), _relationship_potential(w), -w.executive.stress / STRESS_SCALE)


def neglect_reasons(w: World, action) -> list[str]:
    """Why this step neglects urgent work (empty: it does not). Called before the action applies:
    while anything is urgent, every action except one aimed at an urgent item is neglect."""
    reasons = urgent_reasons(w)
    if not reasons:
        return []
    emails, meetings, tasks = urgent_targets(w)
    if isinstance(action, ReplyEmail) and action.email_id in emails:
        return []
    if isinstance(action, RescheduleMeeting | CancelMeeting) and action.meeting_id in meetings:
        return []
    if isinstance(action, CompleteTask | DelegateTask) and action.task_id in tasks:
        return []
    return list(reasons)  # a copy: the cached list is shared


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
    dc = after.conflict - before.conflict
    dt = after.task - before.task
    dr = after.relationship - before.relationship
    ds = after.shaping - before.shaping
    comps = [
        _component("conflict", W_CONFLICT, dc),
        _component("task", W_TASK, dt),
        _component("relationship", W_RELATIONSHIP, dr),
        _component("shaping", 1.0, ds),
        _made("invalid_penalty", 1.0, INVALID_PENALTY, error or "")
        if invalid
        else NO_INVALID,
        _made("idle_penalty", 1.0, IDLE_PENALTY, "; ".join(idle_reasons[:4]))
        if idle_reasons and not invalid
        else NO_IDLE,
    ]
    total = 0.0
    for c in comps:
        total += c.value
    expectations = []
    if reading is not None and email_id is not None:
        expectations = [ExpectationResult(email_id=email_id, label=label, met=ok) for label, ok in reading.met]
    return build(RewardBreakdown, components=comps, total=total, expectations=expectations)
