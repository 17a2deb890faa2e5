"""Scenario files: the story as data. Loading, the JSON Schema, and semantic validation.

Structure is checked by pydantic (and mirrored by `scenarios/scenario.schema.json`, generated from
these models). Meaning is checked by `semantic_errors`: dangling or duplicate ids, end before
start, events that can never fire or point at nothing, dependency cycles. Every problem is
reported with a JSON path, so an author can jump straight to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from .events import NewEmail, NewMeeting, NewTask, ScenarioEvent, event_targets
from .world import Contact, Email, Executive, Id, LocalTime, Meeting, Mood, StrictModel, Task

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
SCHEMA_FILE = SCENARIO_DIR / "scenario.schema.json"
EXEC_ID = "exec"


class Catastrophe(StrictModel):
    """A move (or outcome) so bad that it caps the episode's grade, whatever else went well."""

    kind: Literal[
        "meeting_cancelled",
        "meeting_missed",
        "commitment_missed",
        "contact_mood_at_most",
        "confidential_leak",
        "task_not_done",
    ]
    target: Id | None = Field(default=None, description="The meeting, commitment, contact or task concerned.")
    mood: Mood | None = Field(default=None, description="For contact_mood_at_most: the mood at or below which it triggers.")
    cap: float = Field(ge=0.0, le=1.0, description="Highest raw grade (0..1) the episode can keep.")
    label: str = Field(min_length=1, max_length=160)


class GradeWeights(StrictModel):
    critical_mail: float = Field(default=0.30, ge=0)
    conflicts: float = Field(default=0.25, ge=0)
    tasks: float = Field(default=0.25, ge=0)
    relationships: float = Field(default=0.20, ge=0)


class Grading(StrictModel):
    weights: GradeWeights = GradeWeights()
    key_contacts: tuple[Id, ...] = Field(default=(), description="Whose mood counts; default: every VIP.")
    catastrophes: tuple[Catastrophe, ...] = ()


class Scenario(StrictModel):
    schema_ref: str | None = Field(default=None, alias="$schema", description="Editors' schema hint; ignored.")
    id: Id
    title: str = Field(min_length=1, max_length=120)
    difficulty: Literal["easy", "medium", "hard"]
    description: str = Field(min_length=1, max_length=2000)
    start: LocalTime
    minutes_per_step: int = Field(default=20, ge=5, le=120)
    step_budget: int = Field(ge=1, le=500)
    executive: Executive
    contacts: list[Contact]
    emails: list[Email] = []
    meetings: list[Meeting] = []
    tasks: list[Task] = []
    events: list[ScenarioEvent] = []
    grading: Grading = Grading()

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.minutes_per_step * self.step_budget)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario file: where (JSON path) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ScenarioError(ValueError):
    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def _json_path(loc: tuple[Any, ...]) -> str:
    out = "$"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate structure and meaning; raise ScenarioError listing every problem found."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
            expected = err.get("ctx", {}).get("expected")
            msg = err["msg"] + (f" (expected {expected})" if expected and "expected" not in err["msg"] else "")
            problems.append(Problem(_json_path(loc), msg))
        raise ScenarioError(source, problems) from None
    problems = semantic_errors(scenario)
    if problems:
        raise ScenarioError(source, problems)
    return scenario


_UNION_TAGS = {
    "new_email",
    "new_meeting",
    "new_task",
    "move_meeting",
    "move_deadline",
    "set_channel",
    "set_tone",
    "mood_shock",
    "suppress_reply_credit",
    "restore_reply_credit",
}


def semantic_errors(s: Scenario) -> list[Problem]:
    """Everything the schema cannot say: references, ordering in time, uniqueness, reachability."""
    problems: list[Problem] = []
    add = lambda path, msg: problems.append(Problem(path, msg))  # noqa: E731

    # --- ids: unique across every kind, so an id in the briefing names exactly one thing
    seen: dict[str, str] = {}

    def claim(entity_id: str, path: str) -> None:
        if entity_id == EXEC_ID:
            add(path, f"id '{EXEC_ID}' is reserved for the executive")
        elif entity_id in seen:
            add(path, f"duplicate id '{entity_id}' (first used at {seen[entity_id]})")
        else:
            seen[entity_id] = path

    for kind, items in (
        ("contacts", s.contacts),
        ("emails", s.emails),
        ("meetings", s.meetings),
        ("tasks", s.tasks),
    ):
        for i, item in enumerate(items):
            claim(item.id, f"$.{kind}[{i}].id")
    for i, c in enumerate(s.executive.personal_commitments):
        claim(c.id, f"$.executive.personal_commitments[{i}].id")
    event_ids: dict[str, str] = {}
    for i, ev in enumerate(s.events):
        path = f"$.events[{i}].id"
        if ev.id in event_ids:
            add(path, f"duplicate event id '{ev.id}' (first used at {event_ids[ev.id]})")
        event_ids[ev.id] = path
        created = getattr(ev, "email", None) or getattr(ev, "meeting", None) or getattr(ev, "task", None)
        if created is not None:
            claim(created.id, f"$.events[{i}].{ev.kind.split('_', 1)[1]}.id")

    contacts = {c.id: c for c in s.contacts}
    meetings = {m.id for m in s.meetings} | {e.meeting.id for e in s.events if isinstance(e, NewMeeting)}
    tasks = {t.id for t in s.tasks} | {e.task.id for e in s.events if isinstance(e, NewTask)}
    existing = {"contact": set(contacts), "meeting": meetings, "task": tasks}
    all_emails = {e.id for e in s.emails} | {e.email.id for e in s.events if isinstance(e, NewEmail)}

    def need_contact(cid: str, path: str, allow_exec: bool = False) -> None:
        if allow_exec and cid == EXEC_ID:
            return
        if cid not in contacts:
            known = ", ".join(sorted(contacts)) or "none"
            add(path, f"unknown contact id '{cid}' (known contacts: {known})")

    def check_email(e: Email, path: str, initial: bool) -> None:
        need_contact(e.sender, f"{path}.sender")
        for j, r in enumerate(e.recipients):
            need_contact(r, f"{path}.recipients[{j}]", allow_exec=True)
        if initial:
            if e.received_at is None:
                add(f"{path}.received_at", "required for emails in the starting inbox")
            elif e.received_at > s.start:
                add(f"{path}.received_at", f"{e.received_at.isoformat()} is after the scenario start {s.start.isoformat()}")
        for j, x in enumerate(e.expectations):
            if x.kind.value in ("mention", "no_confidential") and not x.terms:
                add(f"{path}.expectations[{j}].terms", f"'{x.kind.value}' needs at least one term")

    def check_span(start: datetime, end: datetime, path: str) -> None:
        if end <= start:
            add(f"{path}.end", f"end {end.isoformat()} is not after start {start.isoformat()}")

    def check_meeting(m: Meeting, path: str) -> None:
        check_span(m.start, m.end, path)
        for j, a in enumerate(m.attendees):
            need_contact(a, f"{path}.attendees[{j}]")

    def check_task(t: Task, path: str) -> None:
        if t.assignee is not None:
            need_contact(t.assignee, f"{path}.assignee")
        for j, d in enumerate(t.dependencies):
            if d not in tasks:
                add(f"{path}.dependencies[{j}]", f"unknown task id '{d}'")
            elif d == t.id:
                add(f"{path}.dependencies[{j}]", "a task cannot depend on itself")
        for j, d in enumerate(t.delegable_to):
            need_contact(d, f"{path}.delegable_to[{j}]")
            if d in contacts and contacts[d].capacity == 0:
                add(f"{path}.delegable_to[{j}]", f"contact '{d}' has capacity 0 and cannot take work")

    for i, e in enumerate(s.emails):
        check_email(e, f"$.emails[{i}]", initial=True)
    for i, m in enumerate(s.meetings):
        check_meeting(m, f"$.meetings[{i}]")
    for i, c in enumerate(s.executive.personal_commitments):
        check_span(c.start, c.end, f"$.executive.personal_commitments[{i}]")
        for j, w in enumerate(c.with_contacts):
            need_contact(w, f"$.executive.personal_commitments[{i}].with_contacts[{j}]")
    for i, t in enumerate(s.tasks):
        check_task(t, f"$.tasks[{i}]")
    wh = s.executive.working_hours
    if wh.end <= wh.start:
        add("$.executive.working_hours.end", f"{wh.end} is not after {wh.start}")

    # --- dependency cycles
    deps = {t.id: t.dependencies for t in s.tasks}
    for i, t in enumerate(s.tasks):
        stack, seen_t = list(t.dependencies), set()
        while stack:
            d = stack.pop()
            if d == t.id:
                add(f"$.tasks[{i}].dependencies", f"dependency cycle through task '{t.id}'")
                break
            if d not in seen_t:
                seen_t.add(d)
                stack.extend(deps.get(d, ()))

    # --- events: when they fire, and what they point at
    for i, ev in enumerate(s.events):
        path = f"$.events[{i}]"
        if (ev.at is None) == (ev.after_step is None):
            add(path, "give exactly one of 'at' (a simulated time) or 'after_step' (a step number)")
        if ev.at is not None and not (s.start < ev.at <= s.end):
            add(
                f"{path}.at",
                f"{ev.at.isoformat()} is outside the episode ({s.start.isoformat()} .. {s.end.isoformat()}); it would never fire",
            )
        if ev.after_step is not None and ev.after_step > s.step_budget:
            add(f"{path}.after_step", f"step {ev.after_step} is beyond the step budget {s.step_budget}; it would never fire")
        for field, kind, target in event_targets(ev):
            if target not in existing[kind]:
                known = ", ".join(sorted(existing[kind])) or "none"
                add(f"{path}.{field}", f"unknown {kind} id '{target}' (known: {known})")
        for j, eid in enumerate(ev.unless_replied):
            if eid not in all_emails:
                add(f"{path}.unless_replied[{j}]", f"unknown email id '{eid}'")
        for j, tid in enumerate(ev.unless_done):
            if tid not in tasks:
                add(f"{path}.unless_done[{j}]", f"unknown task id '{tid}'")
        if isinstance(ev, NewEmail):
            check_email(ev.email, f"{path}.email", initial=False)
        elif isinstance(ev, NewMeeting):
            check_meeting(ev.meeting, f"{path}.meeting")
        elif isinstance(ev, NewTask):
            check_task(ev.task, f"{path}.task")
        new_start, new_end = getattr(ev, "new_start", None), getattr(ev, "new_end", None)
        if new_start is not None and new_end is not None and new_end <= new_start:
            add(f"{path}.new_end", f"new_end {new_end.isoformat()} is not after new_start {new_start.isoformat()}")

    # --- grading references
    for i, c in enumerate(s.grading.catastrophes):
        path = f"$.grading.catastrophes[{i}]"
        kind_to_set = {
            "meeting_cancelled": existing["meeting"],
            "meeting_missed": existing["meeting"],
            "commitment_missed": {c.id for c in s.executive.personal_commitments},
            "contact_mood_at_most": existing["contact"],
            "task_not_done": existing["task"],
        }
        if c.kind in kind_to_set:
            if c.target is None:
                add(f"{path}.target", f"'{c.kind}' needs a target id")
            elif c.target not in kind_to_set[c.kind]:
                add(f"{path}.target", f"unknown id '{c.target}' for '{c.kind}'")
        if c.kind == "contact_mood_at_most" and c.mood is None:
            add(f"{path}.mood", "'contact_mood_at_most' needs a mood")
    for j, k in enumerate(s.grading.key_contacts):
        need_contact(k, f"$.grading.key_contacts[{j}]")
    return problems


def load_scenario_file(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), [Problem("$", f"cannot read file: {exc.strerror or exc}")]) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScenarioError(
            str(path), [Problem("$", f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")]
        ) from None
    return parse_scenario(data, str(path))


def available_tasks() -> list[str]:
    """Scenario ids shipped in scenarios/, sorted."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.json") if not p.name.endswith(".schema.json"))


@lru_cache(maxsize=64)
def load_task(task_id: str) -> Scenario:
    """The shipped scenario for a task id (cached: scenarios are immutable templates)."""
    if task_id not in available_tasks():
        raise KeyError(f"unknown task_id '{task_id}'; available: {', '.join(available_tasks())}")
    scenario = load_scenario_file(SCENARIO_DIR / f"{task_id}.json")
    if scenario.id != task_id:
        raise ScenarioError(task_id, [Problem("$.id", f"file {task_id}.json declares id '{scenario.id}'")])
    return scenario


def scenario_json_schema() -> dict[str, Any]:
    schema = Scenario.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://ghostexec.dev/scenario.schema.json"
    return schema


__all__ = [
    "Catastrophe",
    "Grading",
    "Problem",
    "Scenario",
    "ScenarioError",
    "available_tasks",
    "load_scenario_file",
    "load_task",
    "parse_scenario",
    "scenario_json_schema",
]
