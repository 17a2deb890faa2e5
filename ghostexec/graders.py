"""Episode grades: a bounded score from the final world state and the trajectory.

One grader per task: each scenario's `grading` block (weights, key contacts, catastrophes) is its
grader's configuration, and `GRADERS[task_id]` is the resulting function. Components, each 0..1:

- critical_mail: every critical (weight 2) and high (weight 1) email that arrived: reply quality,
  ×0.7 if answered after its sender's patience ran out; 0 if unanswered or leaked.
- conflicts: of every double-booking or personal clash seen during the episode, the share that
  ended neither missed, nor still unresolved, nor with every side cancelled (abandoned); times
  the share of meetings outside any clash that were kept (not cancelled).
- tasks: priority-weighted task value for tasks due within the episode (+12h) or high priority:
  done on time 1, late 0.5, delegated to a good fit 0.7 (poor fit 0.4), in progress ½·share, else 0.
- relationships: key contacts' final mood (absolute and relative to their start, averaged).

raw = weighted mean × conduct, where conduct = 1 − (invalid-step rate): the share of the steps
spent on valid actions (a policy that is invalid 95% of the time keeps 5% of its credit); each catastrophe that
happened caps raw; score = 0.015 + 0.97·raw, so it always lies strictly inside (0.01, 0.99).
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import BaseModel

from .dynamics import PATIENCE
from .scenario import Scenario, available_tasks, load_task
from .state import World
from .world import MOOD_INDEX, MeetingStatus, Outcome, Priority, TaskStatus

FLOOR, SPAN = 0.015, 0.97
SCOPE_SLACK_HOURS = 12
CONDUCT_WEIGHT = 1.0  # was 0.5: one real action plus 35 invalid ones kept half its credit (task_churn)


class Cap(BaseModel):
    label: str
    cap: float


class Grade(BaseModel):
    task_id: str
    score: float
    raw: float
    components: dict[str, float]
    conduct: float
    caps_applied: list[Cap]
    final: bool


def _mail(w: World) -> float:
    total = got = 0.0
    for e in w.visible_emails():
        if e.priority not in (Priority.critical, Priority.high):
            continue
        weight = 2.0 if e.priority is Priority.critical else 1.0
        total += weight
        if e.replied and not e.leaked:
            late = e.replied_at - e.received_at > PATIENCE[e.priority]
            got += weight * (e.reply_quality or 0.0) * (0.7 if late else 1.0)
    return got / total if total else 1.0


def _conflicts(w: World) -> float:
    if not w.conflicts_seen:
        return _kept(w)
    active = {c.id for c in w.conflicts}
    bad = 0.0
    for cid, weight in w.conflicts_seen.items():
        ids = cid.split(":", 1)[1].split("+")
        items = [w.meetings.get(i) or w.commitments.get(i) for i in ids]
        missed = any(i.outcome is Outcome.missed for i in items)
        # cancelling every side is abandoning the clash, not resolving it
        abandoned = all(i.id in w.meetings and i.status is MeetingStatus.cancelled for i in items)
        if missed or abandoned or cid in active:
            bad += weight
    return max(0.0, 1.0 - bad / sum(w.conflicts_seen.values())) * _kept(w)


def _kept(w: World) -> float:
    """Share of the meetings that were never part of a clash that were not cancelled: clearing a
    double-booking by wiping the calendar is not resolving it."""
    clashing = {i for cid in w.conflicts_seen for i in cid.split(":", 1)[1].split("+")}
    bystanders = [m for m in w.meetings.values() if m.id not in clashing]
    if not bystanders:
        return 1.0
    return sum(m.status is not MeetingStatus.cancelled for m in bystanders) / len(bystanders)


def _tasks(w: World) -> float:
    from datetime import timedelta

    horizon = w.scenario.end + timedelta(hours=SCOPE_SLACK_HOURS)
    weight = {Priority.low: 0.5, Priority.normal: 1.0, Priority.high: 1.5, Priority.critical: 2.5}
    total = got = 0.0
    for t in w.tasks.values():
        if t.deadline > horizon and t.priority not in (Priority.high, Priority.critical):
            continue
        wt = weight[t.priority]
        total += wt
        if t.status is TaskStatus.done:
            got += wt * (1.0 if t.completed_at <= t.deadline else 0.5)
        elif t.status is TaskStatus.delegated and t.deadline > w.clock:
            good = not t.delegable_to or t.assignee in t.delegable_to
            got += wt * (0.7 if good else 0.4)
        elif t.status is TaskStatus.in_progress and t.deadline > w.clock:
            got += wt * 0.5 * t.progress_minutes / t.effort_minutes
    return got / total if total else 1.0


def _key_contacts(w: World) -> list[str]:
    keys = list(w.scenario.grading.key_contacts) or [c.id for c in w.contacts.values() if c.vip]
    return keys or list(w.contacts)


def _relationships(w: World) -> float:
    scores = []
    for cid in _key_contacts(w):
        c = w.contacts[cid]
        now, start = MOOD_INDEX[c.mood], MOOD_INDEX[w.mood_start[cid]]
        absolute = min(1.0, max(0.0, (now - 1) / 3))
        relative = min(1.0, max(0.0, 0.5 + 0.25 * (now - start)))
        scores.append((absolute + relative) / 2)
    return sum(scores) / len(scores) if scores else 1.0


def _catastrophes(w: World) -> list[Cap]:
    hits = []
    for c in w.scenario.grading.catastrophes:
        if c.kind == "meeting_cancelled":
            hit = w.meetings[c.target].status.value == "cancelled"
        elif c.kind == "meeting_missed":
            hit = w.meetings[c.target].outcome is Outcome.missed
        elif c.kind == "commitment_missed":
            hit = w.commitments[c.target].outcome is Outcome.missed
        elif c.kind == "contact_mood_at_most":
            hit = MOOD_INDEX[w.contacts[c.target].mood] <= MOOD_INDEX[c.mood]
        elif c.kind == "confidential_leak":
            hit = any(e.leaked for e in w.emails.values())
        else:  # task_not_done
            hit = w.tasks[c.target].status is not TaskStatus.done and w.tasks[c.target].deadline <= w.clock
        if hit:
            hits.append(Cap(label=c.label, cap=c.cap))
    return hits


def grade_world(w: World) -> Grade:
    weights = w.scenario.grading.weights
    components = {
        "critical_mail": _mail(w),
        "conflicts": _conflicts(w),
        "tasks": _tasks(w),
        "relationships": _relationships(w),
    }
    pairs = [
        (weights.critical_mail, components["critical_mail"]),
        (weights.conflicts, components["conflicts"]),
        (weights.tasks, components["tasks"]),
        (weights.relationships, components["relationships"]),
    ]
    total_w = sum(p[0] for p in pairs) or 1.0
    quality = sum(wt * v for wt, v in pairs) / total_w
    conduct = 1.0 - CONDUCT_WEIGHT * (w.counters["invalid"] / w.step if w.step else 0.0)
    raw = quality * conduct
    caps = _catastrophes(w)
    for cap in caps:
        raw = min(raw, cap.cap)
    raw = min(1.0, max(0.0, raw))
    return Grade(
        task_id=w.scenario.id,
        score=round(FLOOR + SPAN * raw, 6),
        raw=raw,
        components=components,
        conduct=conduct,
        caps_applied=caps,
        final=w.done,
    )


def make_grader(scenario: Scenario) -> Callable[[World], Grade]:
    def grader(w: World) -> Grade:
        if w.scenario.id != scenario.id:
            raise ValueError(f"grader for '{scenario.id}' given an episode of '{w.scenario.id}'")
        return grade_world(w)

    grader.__name__ = f"{scenario.id}_grader"
    grader.__doc__ = f"Grade an episode of '{scenario.id}' ({scenario.difficulty}): {scenario.title}."
    return grader


def graders() -> dict[str, Callable[[World], Grade]]:
    """One grader per shipped task id."""
    return {tid: make_grader(load_task(tid)) for tid in available_tasks()}
