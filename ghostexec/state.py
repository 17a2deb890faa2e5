"""The live episode: a mutable World built from a scenario, and its exported snapshot.

`World` is a plain container. Its entities are live records (ghostexec.live): slotted copies of the
cached scenario's pydantic entities, with the same field names, changed in place through
ghostexec.ops. Copying shares the field values, which is safe because every collection field on
an entity is an immutable tuple.

`WorldState` is what `Simulation.state()` returns: the whole visible world as one pydantic model.
Future timeline events are deliberately not in it (agents can read state over OpenEnv's /ws), but
they are part of `state_hash()`, which covers everything that decides the future.
"""

from __future__ import annotations

import hashlib
import json
import random
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from .events import AnyEvent
from .live import LiveRecord, live
from .ops import Change, Ops
from .scenario import Scenario
from .world import MOOD_INDEX, MOOD_LADDER, Commitment, Conflict, Contact, Email, Executive, Meeting, Task

_SHARED_CACHES: dict[int, tuple[Scenario, dict[str, dict]]] = {}
LINE_CACHE_MAX = 50_000


def shared_cache_for(scenario: Scenario, kind: str) -> dict:
    """A cache shared by every episode of one scenario object: briefing lines ("lines") and
    conflict objects ("conflicts") depend only on the scenario's static text plus the state in
    their key, so episodes (and the 64 sessions of a server) need not rebuild them. Bounded:
    cleared when it grows too big."""
    entry = _SHARED_CACHES.get(id(scenario))
    if entry is None or entry[0] is not scenario:
        if len(_SHARED_CACHES) >= 64:
            _SHARED_CACHES.clear()
        entry = _SHARED_CACHES[id(scenario)] = (scenario, {})
    cache = entry[1].get(kind)
    if cache is None or len(cache) > LINE_CACHE_MAX:
        cache = entry[1][kind] = {}
    return cache


def line_cache_for(scenario: Scenario) -> dict:
    return shared_cache_for(scenario, "lines")


class PendingEvent:
    """A timeline entry with its resolved firing time (jitter applied) and a tie-breaking order."""

    __slots__ = ("event", "fire_at", "order")

    def __init__(self, fire_at: datetime, order: int, event: AnyEvent):
        self.fire_at = fire_at
        self.order = order
        self.event = event


class World:
    __slots__ = (
        "_seq",
        "arrived",
        "clock",
        "commitments",
        "conflict_cache",
        "conflicts",
        "conflicts_seen",
        "contact_order",
        "contact_weight",
        "contacts",
        "counters",
        "decay_due",
        "emails",
        "episode_id",
        "executive",
        "fired",
        "last_error",
        "last_step_changes",
        "last_step_lines",
        "leaks",
        "line_cache",
        "log",
        "meetings",
        "missed_count",
        "missed_penalty",
        "mood_start",
        "pending",
        "prev_clock",
        "rng",
        "scenario",
        "section_cache",
        "seed",
        "skipped",
        "step",
        "tasks",
        "unread",
        "versions",
        "waiting",
    )

    def __init__(self, scenario: Scenario, seed: int, episode_id: str):
        self.scenario = scenario
        self.seed = seed
        self.episode_id = episode_id
        self.rng = random.Random(seed)
        self.clock: datetime = scenario.start
        self.prev_clock: datetime = scenario.start
        self.step = 0
        self.contacts: dict[str, Contact] = {c.id: live(c) for c in scenario.contacts}
        self.emails: dict[str, Email] = {e.id: live(e) for e in scenario.emails}
        self.meetings: dict[str, Meeting] = {m.id: live(m) for m in scenario.meetings}
        self.tasks: dict[str, Task] = {t.id: live(t) for t in scenario.tasks}
        self.executive: Executive = live(scenario.executive)
        self.commitments: dict[str, Commitment] = {c.id: live(c) for c in scenario.executive.personal_commitments}
        self.executive.personal_commitments = list(self.commitments.values())
        self.log: list[Change] = []
        self.last_step_changes: list[Change] = []
        self.last_step_lines: list[str] = []
        self.last_error: str | None = None
        self.conflicts: list[Conflict] = []
        self.conflicts_seen: dict[str, float] = {}
        self.fired: list[str] = []
        self.skipped: list[str] = []  # conditional events that did not fire (unless_replied / unless_done)
        # Counters of steps taken. Input rejected before a step (bad shape) is not counted here:
        # transports reject it at different layers, and the world must not depend on where.
        self.counters = {"invalid": 0, "idle_urgent": 0, "messages": 0, "spam": 0}
        self._seq = 0
        # Render and reward caches: derived data only, never part of the state or its hash.
        self.line_cache: dict[tuple, Any] = line_cache_for(scenario)  # lines, (head, status), ages
        self.conflict_cache: dict[tuple, Conflict] = shared_cache_for(scenario, "conflicts")
        self.versions = {"mail": 0, "calendar": 0, "tasks": 0, "contacts": 0}
        self.section_cache: dict[str, tuple] = {}
        self.arrived: list[str] = []
        # Running tallies kept by ghostexec.ops (derivable from the entities; kept for speed)
        self.missed_penalty = 0.0
        self.missed_count = 0
        self.leaks = 0
        # critical/high mail in arrival order, answered or not: dynamics.wear_moods queues each by
        # its next look and drops what is answered or worn out (append-only, via ops.add_email)
        self.waiting = [e for e in self.emails.values() if e.priority in ("critical", "high")]
        self.unread = [e for e in self.emails.values() if not e.read]
        self.decay_due: dict[str, datetime] = {}  # when each waiting email next wears its sender down
        self.contact_order = sorted(self.contacts.values(), key=lambda c: (not c.vip, c.relationship != "board", c.id))
        # Seeded variation: start moods of contacts that declare jitter, then event timing jitter.
        for c in self.contacts.values():
            if c.mood_jitter:
                shift = self.rng.randint(-c.mood_jitter, c.mood_jitter)
                c.mood = MOOD_LADDER[min(max(MOOD_INDEX[c.mood] + shift, 0), len(MOOD_LADDER) - 1)]
        self.mood_start = {cid: c.mood for cid, c in self.contacts.items()}
        from .reward import contact_weight

        self.contact_weight = {cid: contact_weight(c) for cid, c in self.contacts.items()}
        self.pending: list[PendingEvent] = []
        step_delta = timedelta(minutes=scenario.minutes_per_step)
        for ev in scenario.events:
            fire_at = ev.at if ev.at is not None else scenario.start + step_delta * ev.after_step
            if ev.jitter_steps:
                fire_at += step_delta * self.rng.randint(0, ev.jitter_steps)
            self._seq += 1
            self.pending.append(PendingEvent(fire_at, self._seq, ev))
        self.pending.sort(key=lambda p: (p.fire_at, p.order))

    def ops(self, actor: str) -> Ops:
        return Ops(self, actor)

    def schedule(self, fire_at: datetime, event: AnyEvent) -> None:
        self._seq += 1
        self.pending.append(PendingEvent(fire_at, self._seq, event))
        self.pending.sort(key=lambda p: (p.fire_at, p.order))

    @property
    def steps_remaining(self) -> int:
        return self.scenario.step_budget - self.step

    @property
    def done(self) -> bool:
        return self.step >= self.scenario.step_budget

    def visible_emails(self) -> list[Email]:
        return [e for e in self.emails.values() if e.received_at is not None and e.received_at <= self.clock]


class LogEntry(BaseModel):
    time: datetime
    actor: str
    kind: str
    target: str
    text: str


class WorldState(BaseModel):
    """Everything an observer may know about the episode right now."""

    task_id: str
    episode_id: str
    seed: int
    step: int
    step_budget: int
    steps_remaining: int
    minutes_per_step: int
    start: datetime
    clock: datetime
    done: bool
    executive: Executive
    contacts: list[Contact]
    emails: list[Email]
    meetings: list[Meeting]
    tasks: list[Task]
    conflicts: list[Conflict]
    conflicts_seen: dict[str, float]
    events_fired: list[str]
    counters: dict[str, int]
    log: list[LogEntry]


def snapshot(w: World) -> WorldState:
    return WorldState(
        task_id=w.scenario.id,
        episode_id=w.episode_id,
        seed=w.seed,
        step=w.step,
        step_budget=w.scenario.step_budget,
        steps_remaining=w.steps_remaining,
        minutes_per_step=w.scenario.minutes_per_step,
        start=w.scenario.start,
        clock=w.clock,
        done=w.done,
        executive=w.executive.to_model(),
        contacts=list(map(LiveRecord.to_model, w.contacts.values())),
        emails=list(map(LiveRecord.to_model, w.visible_emails())),
        meetings=list(map(LiveRecord.to_model, w.meetings.values())),
        tasks=list(map(LiveRecord.to_model, w.tasks.values())),
        conflicts=w.conflicts,
        conflicts_seen=w.conflicts_seen,
        events_fired=w.fired,
        counters=w.counters,
        log=[LogEntry(**c._asdict()) for c in w.log],
    )


def state_hash(w: World) -> str:
    """Digest of the visible state plus what decides the future (pending events, RNG state).
    The episode id is excluded: the same scenario, seed and actions give the same hash."""
    data: dict[str, Any] = snapshot(w).model_dump(mode="json", exclude={"episode_id"})
    data["_pending"] = [[p.fire_at.isoformat(), p.event.model_dump(mode="json")] for p in w.pending]
    data["_skipped"] = w.skipped
    data["_rng"] = hashlib.sha256(repr(w.rng.getstate()).encode()).hexdigest()
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
