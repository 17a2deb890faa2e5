"""The world model: every entity of the simulated office, as pydantic v2 models.

These models are both the scenario file format (what an author writes) and the live state of an
episode (what `Simulation.state()` returns). Live-only fields (flags, outcomes, bookkeeping) have
defaults, so a scenario file only states the story.

Hot-path note: an episode does not change these models. Reset copies each entity into a live
record (`ghostexec.live`: slots with the same field names), which `ghostexec.ops` changes in place
without validation; `Simulation.state()` turns the records back into these models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, NaiveDatetime

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
# The simulated office runs on one local wall clock: times carry no time-zone offset.
LocalTime = NaiveDatetime


class StrictModel(BaseModel):
    """Base for all world models: unknown keys are errors, so typos in scenario files surface."""

    model_config = ConfigDict(extra="forbid", use_enum_values=False, validate_assignment=False)


class Priority(StrEnum):
    low = "low"
    normal = "normal"
    high = "high"
    critical = "critical"


PRIORITY_RANK = {Priority.low: 0, Priority.normal: 1, Priority.high: 2, Priority.critical: 3}


class Mood(StrEnum):
    """An ordered ladder; `MOOD_LADDER` gives the order and moves are clamped to its ends."""

    furious = "furious"
    angry = "angry"
    annoyed = "annoyed"
    neutral = "neutral"
    pleased = "pleased"
    delighted = "delighted"


MOOD_LADDER: tuple[Mood, ...] = (
    Mood.furious,
    Mood.angry,
    Mood.annoyed,
    Mood.neutral,
    Mood.pleased,
    Mood.delighted,
)
MOOD_INDEX = {m: i for i, m in enumerate(MOOD_LADDER)}
NEUTRAL_INDEX = MOOD_INDEX[Mood.neutral]


class Relationship(StrEnum):
    board = "board"
    executive = "executive"
    direct_report = "direct_report"
    peer = "peer"
    client = "client"
    family = "family"
    vendor = "vendor"
    unknown = "unknown"


class Channel(StrEnum):
    email = "email"
    slack = "slack"
    sms = "sms"
    phone = "phone"


class Tone(StrEnum):
    formal = "formal"
    neutral = "neutral"
    casual = "casual"


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    delegated = "delegated"
    done = "done"
    failed = "failed"


class MeetingStatus(StrEnum):
    scheduled = "scheduled"
    moved = "moved"
    cancelled = "cancelled"


class Outcome(StrEnum):
    """What happened when a calendar item's time came: attended, or missed (double-booked)."""

    attended = "attended"
    missed = "missed"


class ExpectationKind(StrEnum):
    """Deterministic checks a reply body is held to (see ghostexec.content)."""

    propose_time = "propose_time"
    confirm = "confirm"
    decline = "decline"
    apologize = "apologize"
    mention = "mention"
    formal_tone = "formal_tone"
    warm_tone = "warm_tone"
    no_confidential = "no_confidential"


class Expectation(StrictModel):
    """One thing a good reply must (or, for no_confidential, must not) contain."""

    kind: ExpectationKind
    label: str = Field(min_length=1, max_length=120, description="Human-readable, shown in the reward breakdown.")
    terms: tuple[str, ...] = Field(
        default=(),
        description="mention: any one of these must appear; no_confidential: none of these may appear.",
    )


class Contact(StrictModel):
    id: Id
    name: str = Field(min_length=1, max_length=80)
    role: str = Field(min_length=1, max_length=80)
    organisation: str = Field(min_length=1, max_length=80)
    relationship: Relationship
    vip: bool = False
    mood: Mood = Mood.neutral
    preferred_channel: Channel = Channel.email
    tone_preference: Tone = Tone.neutral
    capacity: int = Field(default=0, ge=0, le=10, description="Tasks this person can hold at once; 0 = cannot take work.")
    reliability: float = Field(default=0.0, ge=0.0, le=1.0, description="Chance a delegated task in their area succeeds.")
    internal: bool = Field(default=True, description="Inside the executive's organisation (confidentiality boundary).")
    mood_jitter: int = Field(default=0, ge=0, le=1, description="Seeded start-mood variation, in ladder steps.")
    # live bookkeeping
    goodwill_owed: int = Field(default=0, ge=0, description="Grievances a message can still soothe (one each).")
    email_unreachable_reason: str | None = None
    recent_messages: tuple[LocalTime, ...] = ()


class Email(StrictModel):
    id: Id
    sender: Id
    recipients: tuple[Id, ...] = ("exec",)
    subject: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=4000)
    received_at: LocalTime | None = Field(
        default=None, description="Required in the starting inbox; set to the firing time for emails that arrive by event."
    )
    priority: Priority = Priority.normal
    thread: str | None = None
    expectations: tuple[Expectation, ...] = ()
    confidential: bool = False
    # live flags
    read: bool = False
    replied: bool = False
    archived: bool = False
    replied_at: LocalTime | None = None
    reply_quality: float | None = None
    leaked: bool = False
    decay_ticks: int = Field(default=0, ge=0, description="Mood drops its sender has suffered while it waited.")


class Meeting(StrictModel):
    id: Id
    title: str = Field(min_length=1, max_length=200)
    start: LocalTime
    end: LocalTime
    attendees: tuple[Id, ...] = ()
    importance: Priority = Priority.normal
    movable: bool = True
    location: str | None = None
    status: MeetingStatus = MeetingStatus.scheduled
    outcome: Outcome | None = None


class Commitment(StrictModel):
    """A personal commitment on the executive's calendar. The agent cannot move it; work moves."""

    id: Id
    title: str = Field(min_length=1, max_length=200)
    start: LocalTime
    end: LocalTime
    with_contacts: tuple[Id, ...] = ()
    importance: Priority = Priority.high
    outcome: Outcome | None = None


class Task(StrictModel):
    id: Id
    title: str = Field(min_length=1, max_length=200)
    deadline: LocalTime
    effort_minutes: int = Field(default=20, ge=5, le=600)
    priority: Priority = Priority.normal
    status: TaskStatus = TaskStatus.todo
    assignee: Id | None = Field(default=None, description="Contact id when delegated; None = the executive.")
    dependencies: tuple[Id, ...] = ()
    delegable_to: tuple[Id, ...] = Field(default=(), description="Good fits to delegate to; others are a poor fit.")
    requires_executive: bool = Field(default=False, description="Only the executive can do it (e.g. a signature).")
    # live bookkeeping
    progress_minutes: int = 0
    completed_at: LocalTime | None = None
    completed_by: Id | None = None
    delegated_at: LocalTime | None = None
    failures: int = 0


class WorkingHours(StrictModel):
    start: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(default="18:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class Executive(StrictModel):
    name: str = Field(min_length=1, max_length=80)
    title: str = Field(min_length=1, max_length=80)
    organisation: str = Field(min_length=1, max_length=80)
    base_stress: int = Field(default=20, ge=0, le=100)
    stress: int = Field(default=0, ge=0, le=100)
    working_hours: WorkingHours = WorkingHours()
    personal_commitments: list[Commitment] = []


ConflictKind = Literal["overlap", "personal_clash", "critical_unanswered"]


class Conflict(StrictModel):
    """One active problem. Rebuilt from the live world after every step."""

    id: str
    kind: ConflictKind
    items: tuple[str, ...]
    weight: float
    detail: str
