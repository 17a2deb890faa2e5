"""`planner`: the upper reference. Full state plus look-ahead search over the simulator itself.

At every step it forks the live simulation once per candidate action, plays the candidate, then
lets `greedy_state` finish the episode (or `depth` steps of it) in the fork, and keeps the
candidate whose fork ends best: highest grade at the end of the rollout, then highest return.
This is rollout policy improvement: `greedy_state`'s own action is always a candidate, so with
full-length rollouts the planner never ends below `greedy_state` on the objective it ranks by
(the simulation, its seeded generator included, is deterministic and fully visible to it).
It is allowed to know everything (the answer key, delegates' reliability, the generator that
decides delegation outcomes): it bounds what any agent could reach, it is not a fair agent.

Candidates (see `candidates`): greedy_state's choice; replies (built with `compose_reply`) to the
most urgent open mail; moves of double-booked meetings into their next free slots and their
cancellation; work on or delegation (to listed good fits) of the tasks due soonest; an apology to
each contact owed one; archiving low-priority mail; waiting.

`fork(sim)` copies a running simulation in ~0.1 ms (entities shallow-copied the way reset copies
them from the scenario, derived caches dropped), so a step costs the same in the fork as live.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from ..agent import free_slots
from ..simulation import Simulation
from ..state import World
from ..world import PRIORITY_RANK, MeetingStatus, Priority, TaskStatus
from .baselines import compose_reply, greedy_state
from .menu import apology, delegation, is_valid

_COPIED = ("conflicts_seen", "counters", "versions", "decay_due", "mood_start", "contact_weight")
_LISTS = ("log", "last_step_changes", "last_step_lines", "conflicts", "fired", "skipped", "arrived", "pending")
_SHARED = ("scenario", "line_cache", "seed", "episode_id", "clock", "prev_clock", "step", "last_error", "_seq")
_SCALARS = ("leaks", "missed_count", "missed_penalty")
_REBUILT = ("contacts", "emails", "meetings", "tasks", "commitments", "executive", "waiting", "unread", "contact_order", "rng")
_CLEARED = ("section_cache", "conflict_cache")


def fork_world(w: World) -> World:
    """An independent copy of a live world: stepping it never touches the original."""
    f = object.__new__(World)
    for name in _SHARED + _SCALARS:
        setattr(f, name, getattr(w, name))
    for name in _COPIED:
        setattr(f, name, dict(getattr(w, name)))
    for name in _LISTS:
        setattr(f, name, list(getattr(w, name)))
    for name in _CLEARED:
        setattr(f, name, {})
    f.contacts = {k: v.copy() for k, v in w.contacts.items()}
    f.emails = {k: v.copy() for k, v in w.emails.items()}
    f.meetings = {k: v.copy() for k, v in w.meetings.items()}
    f.tasks = {k: v.copy() for k, v in w.tasks.items()}
    f.commitments = {k: v.copy() for k, v in w.commitments.items()}
    f.executive = w.executive.copy()
    f.executive.personal_commitments = [f.commitments[c.id] for c in w.executive.personal_commitments]
    f.waiting = [f.emails[e.id] for e in w.waiting]
    f.unread = [f.emails[e.id] for e in w.unread]
    f.contact_order = [f.contacts[c.id] for c in w.contact_order]
    f.rng = random.Random()
    f.rng.setstate(w.rng.getstate())
    return f


FORKED_SLOTS = frozenset(_COPIED + _LISTS + _SHARED + _SCALARS + _REBUILT + _CLEARED)


class _Fork(Simulation):
    """A forked simulation for look-ahead: steps exactly like the original but skips rendering
    the briefing (a third of a step's cost); its observation stays the one it was forked with."""

    def _observe(self, desc, bd, error):
        return self.observation


def fork(sim: Simulation, render: bool = False) -> Simulation:
    """A copy of a running simulation (world, reward baseline, last observation). With
    render=False its steps do not render briefings (rewards, state and grades are unaffected)."""
    f = Simulation() if render else _Fork()
    f._w = fork_world(sim.world)
    f._baseline = sim._baseline
    f.observation = sim.observation
    return f


@dataclass(frozen=True)
class PlannerConfig:
    mail: int = 3  # replies considered: the most urgent open emails
    tasks: int = 3  # tasks considered: the soonest due
    screen_depth: int = 3  # every candidate is first screened by its return over this many steps
    finalists: int = 4  # greedy_state's choice plus the best screened others get full rollouts


DEFAULT = PlannerConfig()


def candidates(sim: Simulation, cfg: PlannerConfig = DEFAULT) -> list[dict[str, Any]]:
    w = sim.world
    out: list[dict[str, Any]] = [greedy_state(sim)]
    mail = [e for e in w.visible_emails() if not e.replied and not e.archived]
    mail.sort(key=lambda e: (-PRIORITY_RANK[e.priority], not w.contacts[e.sender].vip, e.received_at, e.id))
    for e in mail[: cfg.mail]:
        out.append({"action_type": "reply_email", "email_id": e.id, "body": compose_reply(sim, e)})
    low = [e for e in mail if e.priority is Priority.low]
    if low:
        out.append({"action_type": "archive_email", "email_id": low[0].id})
    clashing = {i for c in w.conflicts if c.kind != "critical_unanswered" for i in c.items}
    for mid in sorted(clashing):
        m = w.meetings.get(mid)
        if m is None or m.status is MeetingStatus.cancelled or m.start <= w.clock:
            continue
        if m.movable:
            for slot in free_slots(w, m.end - m.start, m.id, count=2):
                out.append(
                    {"action_type": "reschedule_meeting", "meeting_id": m.id, "new_start": slot.isoformat(timespec="minutes")}
                )
        if m.importance is not Priority.critical:
            out.append(
                {"action_type": "cancel_meeting", "meeting_id": m.id, "reason": "A clash I cannot work around; I will rebook."}
            )
    todo = [t for t in w.tasks.values() if t.status in (TaskStatus.todo, TaskStatus.in_progress, TaskStatus.failed)]
    todo.sort(key=lambda t: (t.deadline, -PRIORITY_RANK[t.priority], t.id))
    for t in todo[: cfg.tasks]:
        out.append({"action_type": "complete_task", "task_id": t.id})
        if not t.requires_executive and t.status is not TaskStatus.in_progress:
            for cid in t.delegable_to:
                out.append(delegation(t.id, cid))
    for c in w.contacts.values():
        if c.goodwill_owed > 0:
            body = apology(sim, c.id)
            out.append({"action_type": "send_message", "contact_id": c.id, "body": body, "channel": c.preferred_channel.value})
    out.append({"action_type": "do_nothing"})
    seen: set[str] = set()
    unique = []
    for a in out:
        key = repr(sorted(a.items()))
        if key not in seen and is_valid(sim, a):
            seen.add(key)
            unique.append(a)
    return unique


def rollout(sim: Simulation, action: dict[str, Any], depth: int | None) -> tuple[Simulation, float]:
    """Play `action` in a fork, then greedy_state for `depth` steps (None: to the end)."""
    f = fork(sim)
    total = f.step(action).reward
    steps = 0
    while not f.done and (depth is None or steps < depth):
        total += f.step(greedy_state(f)).reward
        steps += 1
    return f, total


def evaluate(sim: Simulation, action: dict[str, Any]) -> tuple[float, float]:
    """(final grade, return) of playing `action` now, then greedy_state to the end."""
    f, total = rollout(sim, action, None)
    return round(f.grade().score, 6), total


def make_planner(cfg: PlannerConfig = DEFAULT):
    def planner(sim: Simulation, rng: random.Random | None = None) -> dict[str, Any]:
        options = candidates(sim, cfg)  # options[0] is greedy_state's own choice
        if len(options) == 1:
            return options[0]
        screened = sorted(range(1, len(options)), key=lambda i: -rollout(sim, options[i], cfg.screen_depth)[1])
        finalists = [0, *screened[: cfg.finalists - 1]]
        best, best_key = None, None
        for i in finalists:
            key = evaluate(sim, options[i])
            if best_key is None or key > best_key:
                best, best_key = options[i], key
        return best

    planner.__doc__ = f"Look-ahead planner ({cfg})."
    return planner


planner = make_planner(DEFAULT)
