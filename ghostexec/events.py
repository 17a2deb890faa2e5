"""Scheduled world events: the scenario timeline, plus delegation reports created at run time.

An event fires at a simulated time (`at`) or after a given step (`after_step`), optionally shifted
by a seeded `jitter_steps`. Firing goes through `ghostexec.ops` exactly like an agent action, so
every change an event makes is logged with the same record type and shows up in the briefing.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from .world import Channel, Email, Id, LocalTime, Meeting, StrictModel, Task, Tone


class EventBase(StrictModel):
    id: Id
    at: LocalTime | None = Field(default=None, description="Fire at this simulated time (ISO 8601).")
    after_step: int | None = Field(default=None, ge=1, description="Fire during this step's time advance.")
    jitter_steps: int = Field(default=0, ge=0, le=6, description="Seeded shift of up to this many steps later.")
    note: str | None = Field(default=None, max_length=300, description="What the executive is told in the briefing.")
    unless_replied: tuple[Id, ...] = Field(default=(), description="Skip the event if any of these emails has been answered.")
    unless_done: tuple[Id, ...] = Field(default=(), description="Skip the event if any of these tasks is done.")


class NewEmail(EventBase):
    kind: Literal["new_email"] = "new_email"
    email: Email


class NewMeeting(EventBase):
    kind: Literal["new_meeting"] = "new_meeting"
    meeting: Meeting


class NewTask(EventBase):
    kind: Literal["new_task"] = "new_task"
    task: Task


class MoveMeeting(EventBase):
    """Someone else moves a meeting (it may create a new clash)."""

    kind: Literal["move_meeting"] = "move_meeting"
    meeting_id: Id
    new_start: LocalTime
    new_end: LocalTime | None = None
    by: Id | None = None


class MoveDeadline(EventBase):
    kind: Literal["move_deadline"] = "move_deadline"
    task_id: Id
    new_deadline: LocalTime


class SetChannel(EventBase):
    kind: Literal["set_channel"] = "set_channel"
    contact_id: Id
    channel: Channel


class SetTone(EventBase):
    kind: Literal["set_tone"] = "set_tone"
    contact_id: Id
    tone: Tone


class MoodShock(EventBase):
    """Something outside the executive's control upsets (or pleases) a contact."""

    kind: Literal["mood_shock"] = "mood_shock"
    contact_id: Id
    delta: int = Field(ge=-3, le=3)
    reason: str = Field(min_length=1, max_length=200)


class SuppressReplyCredit(EventBase):
    """Email replies stop reaching a contact (travel, an offsite); other channels still work."""

    kind: Literal["suppress_reply_credit"] = "suppress_reply_credit"
    contact_id: Id
    reason: str = Field(min_length=1, max_length=200)


class RestoreReplyCredit(EventBase):
    kind: Literal["restore_reply_credit"] = "restore_reply_credit"
    contact_id: Id


class DelegationReport(EventBase):
    """Created at run time when a task is delegated; the outcome is drawn then, from the episode RNG."""

    kind: Literal["delegation_report"] = "delegation_report"
    task_id: Id
    delegate_id: Id
    success: bool


ScenarioEvent = Annotated[
    NewEmail
    | NewMeeting
    | NewTask
    | MoveMeeting
    | MoveDeadline
    | SetChannel
    | SetTone
    | MoodShock
    | SuppressReplyCredit
    | RestoreReplyCredit,
    Field(discriminator="kind"),
]

AnyEvent = Union[
    NewEmail,
    NewMeeting,
    NewTask,
    MoveMeeting,
    MoveDeadline,
    SetChannel,
    SetTone,
    MoodShock,
    SuppressReplyCredit,
    RestoreReplyCredit,
    DelegationReport,
]


def event_targets(event: AnyEvent) -> list[tuple[str, str, str]]:
    """(field, kind of entity, id) for each existing entity an event refers to; used by the validator."""
    out: list[tuple[str, str, str]] = []
    for field, kind in (("meeting_id", "meeting"), ("task_id", "task"), ("contact_id", "contact"), ("by", "contact")):
        value = getattr(event, field, None)
        if value is not None:
            out.append((field, kind, value))
    return out
