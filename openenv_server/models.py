"""Wire types for the OpenEnv transport, derived from the core's models (never hand-written).

- `GhostexecAction` is an OpenEnv `Action` (extra="forbid", has `metadata`). It is the base of one
  subclass per core action model (`ReplyEmailAction(GhostexecAction, ghostexec.actions.ReplyEmail)`,
  ...), so every field, description and limit comes from `ghostexec.actions`. OpenEnv deserialises
  actions with `action_cls.model_validate(data)`; on the base class that call dispatches on
  `action_type` through a discriminated union, so shape errors surface as pydantic
  `ValidationError`s (HTTP 422, WS `VALIDATION_ERROR`) and `/schema` shows the union with exactly
  the fields each action type requires.
- `GhostexecObservation` is the core `Observation` plus OpenEnv's base fields: everything a client
  needs travels in typed fields, because openenv-core 0.3.0 drops `Observation.metadata`.
- `GhostexecState` is what the `state` message (and GET /episodes/{id}) returns: episode info plus
  the whole world as the core dumps it.

Clients may import this module without pulling in the server (it needs only pydantic, openenv's
types and `ghostexec.actions` / `ghostexec.results`).
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Union

from openenv.core.env_server.types import Action as _OpenEnvAction
from openenv.core.env_server.types import Observation as _OpenEnvObservation
from openenv.core.env_server.types import State as _OpenEnvState
from pydantic import BaseModel, Field, TypeAdapter

from ghostexec import actions as _core_actions
from ghostexec.results import Observation as _CoreObservation
from ghostexec.results import assemble


class GhostexecAction(_OpenEnvAction):
    """Base of the eight Ghostexec actions on the OpenEnv wire.

    `GhostexecAction.model_validate({...})` returns the concrete subclass chosen by `action_type`
    (e.g. `ReplyEmailAction`), or raises `pydantic.ValidationError`. Construct concrete actions
    directly, e.g. `ReplyEmailAction(email_id="e01", body="...")`, or use `GhostexecAction.of(...)`.
    """

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any):  # type: ignore[override]
        if cls is GhostexecAction:
            return ACTION_ADAPTER.validate_python(obj, *args, **kwargs)
        return super().model_validate(obj, *args, **kwargs)

    @classmethod
    def model_validate_json(cls, json_data: Any, *args: Any, **kwargs: Any):  # type: ignore[override]
        if cls is GhostexecAction:
            return ACTION_ADAPTER.validate_json(json_data, *args, **kwargs)
        return super().model_validate_json(json_data, *args, **kwargs)

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
        if cls is GhostexecAction:
            return copy.deepcopy(_UNION_SCHEMA)
        return super().model_json_schema(*args, **kwargs)

    @classmethod
    def of(cls, action_type: str, **fields: Any) -> GhostexecAction:
        """`GhostexecAction.of("reply_email", email_id="e01", body="...")`."""
        return ACTION_ADAPTER.validate_python({"action_type": action_type, **fields})

    def to_core(self) -> _core_actions._ActionBase:
        """The equivalent core action model (no `metadata`); already validated, so no re-validation."""
        core_cls = _CORE_BY_WIRE[type(self)]
        mine = self.__dict__
        values = {name: mine[name] for name in _CORE_FIELDS[core_cls]}
        return assemble(core_cls, values, self.__pydantic_fields_set__ - {"metadata"})


def _wire_class(core_model: type[BaseModel]) -> type[GhostexecAction]:
    name = core_model.__name__ + "Action"
    return type(name, (GhostexecAction, core_model), {"__doc__": core_model.__doc__, "__module__": __name__})


WIRE_ACTION_MODELS: tuple[type[GhostexecAction], ...] = tuple(_wire_class(m) for m in _core_actions.ACTION_MODELS)
_CORE_BY_WIRE: dict[type, type[_core_actions._ActionBase]] = dict(zip(WIRE_ACTION_MODELS, _core_actions.ACTION_MODELS))
_CORE_FIELDS: dict[type, tuple[str, ...]] = {m: tuple(m.model_fields) for m in _core_actions.ACTION_MODELS}
WIRE_BY_TYPE: dict[str, type[GhostexecAction]] = dict(zip(_core_actions.ACTION_TYPES, WIRE_ACTION_MODELS))

(
    ReplyEmailAction,
    ArchiveEmailAction,
    RescheduleMeetingAction,
    CancelMeetingAction,
    CompleteTaskAction,
    DelegateTaskAction,
    SendMessageAction,
    DoNothingAction,
) = WIRE_ACTION_MODELS

WireAction = Annotated[Union[tuple(WIRE_ACTION_MODELS)], Field(discriminator="action_type")]
ACTION_ADAPTER: TypeAdapter[Any] = TypeAdapter(WireAction)


def _build_union_schema() -> dict[str, Any]:
    schema = ACTION_ADAPTER.json_schema()
    # `action_type` has a default on each model (so `ReplyEmailAction(...)` needs no tag), but on the
    # wire it is what picks the model: mark it required in every variant.
    for variant in schema.get("$defs", {}).values():
        props = variant.get("properties", {})
        if "action_type" in props:
            variant["required"] = ["action_type", *[r for r in variant.get("required", []) if r != "action_type"]]
    schema["title"] = "GhostexecAction"
    schema["description"] = (
        "One of the eight Ghostexec actions, chosen by `action_type`. Shape errors (unknown action_type, "
        "missing, wrong-typed or extra fields) are rejected before the step; meaning errors (unknown ids, "
        "empty bodies, bad datetimes) are a normal step with step_ok=false."
    )
    return schema


_UNION_SCHEMA = _build_union_schema()


class GhostexecObservation(_OpenEnvObservation, _CoreObservation):
    """The core observation on the OpenEnv wire (briefing, step_ok/error, breakdown, steps_remaining,
    done, ...), plus `grade` once the episode is done. OpenEnv moves `reward` and `done` to the top
    level of the message; `GhostexecEnv` puts them back."""

    reward: float | None = Field(default=None, description="Reward of the last step (0.0 after reset).")
    grade: dict[str, Any] | None = Field(default=None, description="Final grade (score, components, caps) once done.")


class GhostexecState(_OpenEnvState):
    """Episode info plus the simulated world as an agent may see it (`Simulation.public_state()`)."""

    task_id: str | None = None
    done: bool = False
    state_hash: str | None = Field(default=None, description="Stable digest of the world; equal worlds, equal hashes.")
    grade: dict[str, Any] | None = Field(default=None, description="Grade so far (final once done).")
    world: dict[str, Any] | None = Field(default=None, description="The whole world: emails, meetings, contacts, tasks, clock...")


__all__ = [
    "ACTION_ADAPTER",
    "WIRE_ACTION_MODELS",
    "WIRE_BY_TYPE",
    "ArchiveEmailAction",
    "CancelMeetingAction",
    "CompleteTaskAction",
    "DelegateTaskAction",
    "DoNothingAction",
    "GhostexecAction",
    "GhostexecObservation",
    "GhostexecState",
    "ReplyEmailAction",
    "RescheduleMeetingAction",
    "SendMessageAction",
]
