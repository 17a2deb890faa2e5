"""The eight agent actions: the one definition every transport derives its schema from.

Wire contract (OpenEnv JSON, MCP tool arguments, trajectories): a JSON object whose `action_type`
picks the model below. Field names are public and stable.

Two layers of checking, on purpose:
- *Shape* (this module): unknown action_type, missing or wrong-typed fields, extra keys. A shape
  error is rejected before the step: no time passes (HTTP 4xx, MCP invalid-arguments, in-process
  a result with `rejected=True`).
- *Meaning* (ghostexec.validation): unknown or stale ids, empty bodies, malformed or past datetimes,
  clashes, unfit delegates. A meaning error is an invalid step: time passes, a penalty is paid,
  the world is otherwise unchanged. That is why `body` accepts an empty string and `new_start`
  is a string here: those are judged against the live world, identically on every transport.

Each model's docstring is its tool description; `TOOL_HINTS` carries MCP annotations.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

BODY_MAX = 4000


class _ActionBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    title: ClassVar[str]
    destructive: ClassVar[bool] = False
    idempotent: ClassVar[bool] = False


class ReplyEmail(_ActionBase):
    """Reply to an email in the inbox (one reply per email). Use for anything that needs an answer,
    most of all critical mail from VIPs. The body is read: meet what the sender asked for (propose a
    time, confirm a deliverable, apologise...), match their tone (formal with the board), and never
    put confidential material in a reply to someone outside the company. A good reply lifts the
    sender's mood and clears an 'unanswered critical' conflict; a poor or wrong-tone one lowers it.
    Costs one step of simulated time."""

    title: ClassVar[str] = "Reply to an email"
    action_type: Literal["reply_email"] = "reply_email"
    email_id: str = Field(description="Id of the email to answer, as shown in the INBOX section (e.g. 'e01').")
    body: str = Field(max_length=BODY_MAX, description="The full reply text.")


class ArchiveEmail(_ActionBase):
    """Archive an email to clear it from the inbox. Right for noise (newsletters, FYIs); wrong for
    mail that still needs an answer: archiving does not answer it, and its sender keeps waiting.
    Costs one step of simulated time."""

    title: ClassVar[str] = "Archive an email"
    destructive: ClassVar[bool] = True
    action_type: Literal["archive_email"] = "archive_email"
    email_id: str = Field(description="Id of the email to archive (e.g. 'e07').")


class RescheduleMeeting(_ActionBase):
    """Move a movable meeting to a new time to clear a double-booking or make room. The new slot
    must be in the future and must not clash with the executive's other meetings or personal
    commitments. Attendees dislike short-notice moves (under 2 hours). Duration is kept unless
    new_end is given. Costs one step of simulated time."""

    title: ClassVar[str] = "Reschedule a meeting"
    action_type: Literal["reschedule_meeting"] = "reschedule_meeting"
    meeting_id: str = Field(description="Id of the meeting, as shown in the CALENDAR section (e.g. 'm03').")
    new_start: str = Field(description="New start, ISO 8601 local time, e.g. '2026-04-21T15:00'.")
    new_end: str | None = Field(default=None, description="Optional new end (ISO 8601); default keeps the duration.")


class CancelMeeting(_ActionBase):
    """Cancel a meeting outright. Frees the slot for good but upsets every attendee (more so without
    a reason); cancelling something critical (a board meeting) is a grave mistake. Prefer
    reschedule_meeting when the meeting still matters. Costs one step of simulated time."""

    title: ClassVar[str] = "Cancel a meeting"
    destructive: ClassVar[bool] = True
    action_type: Literal["cancel_meeting"] = "cancel_meeting"
    meeting_id: str = Field(description="Id of the meeting to cancel (e.g. 'm05').")
    reason: str | None = Field(default=None, max_length=500, description="Why; attendees take it better with one.")


class CompleteTask(_ActionBase):
    """Have the executive work on a task personally for this step. Tasks longer than one step need
    several calls; the task is done when its effort is covered. Its dependencies must be done first.
    Costs one step of simulated time."""

    title: ClassVar[str] = "Work on / complete a task"
    action_type: Literal["complete_task"] = "complete_task"
    task_id: str = Field(description="Id of the task, as shown in the TASKS section (e.g. 't02').")


class DelegateTask(_ActionBase):
    """Hand a task to someone who can take work (capacity > 0). They report back later, done or
    failed, depending on their reliability, load and fit; the briefing lists good fits per task.
    Delegating to a poor fit risks failure and annoys them. Tasks only the executive can do cannot
    be delegated. Costs one step of simulated time."""

    title: ClassVar[str] = "Delegate a task"
    action_type: Literal["delegate_task"] = "delegate_task"
    task_id: str = Field(description="Id of the task to hand off (e.g. 't04').")
    contact_id: str = Field(description="Id of the contact who takes it, from the CONTACTS section (e.g. 'c05').")
    note: str | None = Field(default=None, max_length=1000, description="Optional instructions for the delegate.")


class SendMessage(_ActionBase):
    """Send a direct message to a contact (email, slack, sms or phone). Useful to apologise for a
    change you made, or to reach someone whose email is not getting through. It soothes at most
    one grievance per message and only on the contact's preferred channel; messages with nothing to
    address are noise, and several in a short time annoy. Costs one step of simulated time."""

    title: ClassVar[str] = "Send a message"
    action_type: Literal["send_message"] = "send_message"
    contact_id: str = Field(description="Id of the contact (e.g. 'c02').")
    body: str = Field(max_length=BODY_MAX, description="The message text.")
    channel: Literal["email", "slack", "sms", "phone"] | None = Field(
        default=None, description="Channel; default is the contact's preferred channel."
    )


class DoNothing(_ActionBase):
    """Let one step of time pass without acting. Fine when nothing is urgent; penalised while urgent
    work waits (unanswered critical mail, an imminent double-booking, overdue tasks)."""

    title: ClassVar[str] = "Do nothing"
    idempotent: ClassVar[bool] = False
    action_type: Literal["do_nothing"] = "do_nothing"


ACTION_MODELS: tuple[type[_ActionBase], ...] = (
    ReplyEmail,
    ArchiveEmail,
    RescheduleMeeting,
    CancelMeeting,
    CompleteTask,
    DelegateTask,
    SendMessage,
    DoNothing,
)
ACTION_TYPES: tuple[str, ...] = tuple(m.model_fields["action_type"].default for m in ACTION_MODELS)
MODEL_BY_TYPE: dict[str, type[_ActionBase]] = dict(zip(ACTION_TYPES, ACTION_MODELS))

Action = Annotated[
    ReplyEmail | ArchiveEmail | RescheduleMeeting | CancelMeeting | CompleteTask | DelegateTask | SendMessage | DoNothing,
    Field(discriminator="action_type"),
]
ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(Action)


class ActionShapeError(ValueError):
    """The input is not an action at all (wrong shape); carries pydantic-style field errors."""

    def __init__(self, message: str, errors: list[dict[str, Any]]):
        super().__init__(message)
        self.errors = errors


def parse_action(raw: Any) -> _ActionBase:
    """Turn a model or a plain dict into an action model, or raise ActionShapeError saying which
    field is wrong and what is allowed."""
    if isinstance(raw, ACTION_MODELS):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump(exclude_none=True)
    if not isinstance(raw, dict):
        raise ActionShapeError(
            f"an action must be a JSON object with 'action_type' (one of {', '.join(ACTION_TYPES)}); got {type(raw).__name__}",
            [],
        )
    kind = raw.get("action_type")
    if kind not in MODEL_BY_TYPE:
        shown = "missing" if kind is None else repr(kind)
        raise ActionShapeError(
            f"action_type {shown} is not one of: {', '.join(ACTION_TYPES)}",
            [{"loc": ["action_type"], "msg": "unknown action_type", "input": kind}],
        )
    try:
        return MODEL_BY_TYPE[kind].model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        parts = []
        for err in errors:
            field = ".".join(str(p) for p in err["loc"]) or "(action)"
            parts.append(f"{field}: {err['msg']}")
        model = MODEL_BY_TYPE[kind]
        fields = ", ".join(
            f"{name}{'' if info.is_required() else '?'}" for name, info in model.model_fields.items() if name != "action_type"
        )
        raise ActionShapeError(f"{kind}: {'; '.join(parts)} (fields: {fields or 'none'})", errors) from None


def action_json_schema() -> dict[str, Any]:
    """JSON Schema of the discriminated union (what /schema and tool schemas are derived from)."""
    return ACTION_ADAPTER.json_schema()


def tool_input_schema(model: type[_ActionBase]) -> dict[str, Any]:
    """Input schema for one action as an MCP tool: the model's fields minus the discriminator."""
    schema = model.model_json_schema()
    schema["properties"].pop("action_type", None)
    if "required" in schema:
        schema["required"] = [r for r in schema["required"] if r != "action_type"]
        if not schema["required"]:
            del schema["required"]
    schema.pop("title", None)
    return schema


__all__ = [
    "ACTION_ADAPTER",
    "ACTION_MODELS",
    "ACTION_TYPES",
    "MODEL_BY_TYPE",
    "Action",
    "ActionShapeError",
    "ArchiveEmail",
    "CancelMeeting",
    "CompleteTask",
    "DelegateTask",
    "DoNothing",
    "ReplyEmail",
    "RescheduleMeeting",
    "SendMessage",
    "action_json_schema",
    "parse_action",
    "tool_input_schema",
]
