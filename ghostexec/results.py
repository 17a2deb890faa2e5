"""What a step returns: the observation, the reward breakdown and the step result.

These are the public result types every transport serialises. The breakdown's components always
appear in the same order and always add up to the reward (the total is computed as their sum).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_FIELDS: dict[type, tuple[frozenset[str], set[str]]] = {}


def build(cls: type[BaseModel], **values: Any) -> Any:
    """An instance of `cls` from values the core built itself, every field given, without
    validation. Pydantic's `model_construct` does the same but walks the fields in Python (a few
    µs per call, on every step); this sets the instance dict directly, as copy.copy would.
    tests/test_core_results.py re-validates what the core builds this way.

    Every instance built here shares one fields-set per class instead of a new set each: with
    every field set it is already complete, so nothing pydantic does to it can change it (an
    assignment adds a name it holds; copies take their own copy). A step builds several models,
    and a serving process keeps each world's last ones: one set each was an allocation per model
    per step and a cold deallocation one step of that world later."""
    hit = _FIELDS.get(cls)
    if hit is None:
        hit = _FIELDS[cls] = (frozenset(cls.model_fields), set(cls.model_fields))
    fields, fields_set = hit
    if values.keys() != fields:  # a missing or unknown field is a core bug
        missing, extra = fields - values.keys(), values.keys() - fields
        raise TypeError(f"{cls.__name__}: missing {sorted(missing)}, unknown {sorted(extra)}")
    return assemble(cls, values, fields_set)


# The slots every pydantic instance has besides its field dict, set through their descriptors:
# the same effect as object.__setattr__ on each, without looking the setter up on every call.
_SET_FIELDS_SET = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_SET_EXTRA = BaseModel.__dict__["__pydantic_extra__"].__set__
_SET_PRIVATE = BaseModel.__dict__["__pydantic_private__"].__set__
_SET_DICT = object.__setattr__
_NEW = object.__new__


def assemble(cls: type[BaseModel], values: dict[str, Any], fields_set: set[str]) -> Any:
    """The unchecked core of `build`: `values` must hold every field of `cls`, already valid (e.g.
    taken from another instance that was validated). `fields_set` is what `model_fields_set`
    will report."""
    new = _NEW(cls)
    _SET_DICT(new, "__dict__", values)
    _SET_FIELDS_SET(new, fields_set)
    _SET_EXTRA(new, None)
    _SET_PRIVATE(new, None)
    return new


COMPONENT_NAMES = ("conflict", "task", "relationship", "shaping", "invalid_penalty", "idle_penalty")


class RewardComponent(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    weight: float = Field(description="Multiplier applied to raw (1.0 for shaping and penalties).")
    raw: float = Field(description="Unweighted change in this channel's potential (or the penalty).")
    value: float = Field(description="weight * raw: this component's share of the reward.")
    detail: str = ""


class ExpectationResult(BaseModel):
    model_config = ConfigDict(frozen=True)
    email_id: str
    label: str
    met: bool


class RewardBreakdown(BaseModel):
    components: list[RewardComponent]
    total: float
    expectations: list[ExpectationResult] = []

    def as_dict(self) -> dict[str, float]:
        return {c.name: c.value for c in self.components}


class Observation(BaseModel):
    """What the agent sees after reset or a step. `briefing` is the whole observation for an LLM;
    the other fields repeat key facts in typed form for harnesses."""

    task_id: str
    episode_id: str
    briefing: str
    step: int = Field(description="Steps taken so far (0 after reset).")
    steps_remaining: int
    time: str = Field(description="Simulated time, ISO 8601.")
    stress: int
    step_ok: bool = True
    error: str | None = None
    reward: float = 0.0
    breakdown: RewardBreakdown | None = None
    done: bool = False


class StepResult(BaseModel):
    observation: Observation
    reward: float
    breakdown: RewardBreakdown | None
    done: bool
    info: dict[str, Any] = Field(
        default_factory=dict,
        description="changes (what the step changed), events (ids fired), rejected (shape error: no step taken), grade (when done).",
    )
